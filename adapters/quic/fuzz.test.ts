/**
 * Hostile bytes at the media port: random packets (fast-check, fixed seed) and captured real
 * packets mutated by a seeded mutator, some re-addressed to a live connection's id, thrown at
 * the port while a legitimate client keeps echoing datagrams.
 */
import dgram from 'node:dgram';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { deterministicRandom, type RandomSource } from '../../core/random.ts';
import { connectQuic, type QuicClientConnection } from './client.ts';
import type { QuicMediaTransport } from './server.ts';
import { patternedDatagram, startRecordingServer, waitFor } from './testing.ts';

const FUZZ_PACKETS = 12_000;

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function bound(type: 'udp4' = 'udp4'): Promise<dgram.Socket> {
  const socket = dgram.createSocket(type);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return socket;
}

/**
 * A UDP relay between one client and the server that records what the client sends: real
 * Initial, Handshake and 1-RTT packets to mutate.
 */
async function capturingRelay(serverPort: number): Promise<{ port: number; captured: Buffer[] }> {
  const front = await bound();
  const back = await bound();
  const captured: Buffer[] = [];
  let clientAddress: { port: number; host: string } | null = null;
  front.on('message', (packet, rinfo) => {
    clientAddress = { port: rinfo.port, host: rinfo.address };
    captured.push(Buffer.from(packet));
    back.send(packet, serverPort, '127.0.0.1');
  });
  back.on('message', (packet) => {
    if (clientAddress) front.send(packet, clientAddress.port, clientAddress.host);
  });
  return { port: front.address().port, captured };
}

/** One mutation of a captured packet, chosen and applied with `random`. */
function mutate(packet: Buffer, random: RandomSource, liveDcid: Uint8Array): Buffer {
  const out = Buffer.from(packet);
  const pick = Math.floor(random.next() * 6);
  const at = (): number => Math.floor(random.next() * out.length);
  switch (pick) {
    case 0: // flip a few bits
      for (let i = 0; i < 1 + Math.floor(random.next() * 4); i++) out[at()]! ^= 1 << (i % 8);
      return out;
    case 1: // truncate
      return out.subarray(0, Math.floor(random.next() * out.length));
    case 2: // overwrite a run with random bytes
      {
        const start = at();
        out.set(random.bytes(Math.min(32, out.length - start)), start);
      }
      return out;
    case 3: {
      // address it to the live connection (short header), then flip a byte after the id
      if ((out[0]! & 0x80) === 0 && out.length > 22) {
        out.set(liveDcid, 1);
        out[22 + Math.floor(random.next() * (out.length - 22))]! ^= 0x55;
      } else {
        out[0] = 0x40 | (out[0]! & 0x3f);
        out.set(liveDcid.subarray(0, Math.min(20, out.length - 1)), 1);
      }
      return out;
    }
    case 4: {
      // the live id with random bytes after it
      const junk = Buffer.from(random.bytes(21 + Math.floor(random.next() * 1300)));
      junk[0] = 0x40 | (junk[0]! & 0x3f);
      junk.set(liveDcid, 1);
      return junk;
    }
    default: // exact replay
      return out;
  }
}

describe('QUIC media port under hostile packets', () => {
  it(`drops and counts ${FUZZ_PACKETS} random and mutated packets while a client goes on`, async () => {
    const started = await startRecordingServer();
    const transport: QuicMediaTransport = started.transport;
    cleanups.push(() => transport.stop());
    const hash = transport.certificateSha256;

    // Packets to mutate: a client's real traffic through a recording relay.
    const relay = await capturingRelay(started.port);
    const captive = await connectQuic('127.0.0.1', relay.port, { serverCertificateHash: hash });
    captive.sendControl(Buffer.from('hello'));
    for (let i = 0; i < 20; i++) captive.sendDatagram(patternedDatagram(i, 1_200));
    await waitFor(() => started.record.datagrams >= 20, 'captured traffic');
    captive.close(0, 'captured');
    await captive.closed;
    expect(relay.captured.length).toBeGreaterThan(10);

    const legit: QuicClientConnection = await connectQuic('127.0.0.1', started.port, {
      serverCertificateHash: hash,
    });
    cleanups.push(() => legit.close(0, 'done'));
    const liveDcid = legit.conn.destinationId();
    expect(liveDcid.length).toBe(20);
    let legitClosed = false;
    const echoed = new Map<number, Buffer>();
    legit.events = {
      datagram: (bytes) => {
        const copy = Buffer.from(bytes);
        echoed.set(copy.readUInt32BE(0), copy);
      },
      closed: () => {
        legitClosed = true;
      },
    };

    const fuzzer = await bound();
    const random = deterministicRandom(20261205);
    const randomPackets = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 1_400 }), {
      numRuns: FUZZ_PACKETS / 2,
      seed: 42,
    });
    const packets: Buffer[] = [];
    for (let i = 0; i < FUZZ_PACKETS; i++) {
      if (i % 2 === 0) {
        packets.push(Buffer.from(randomPackets[i / 2]!));
      } else {
        const source = relay.captured[Math.floor(random.next() * relay.captured.length)]!;
        packets.push(mutate(source, random, liveDcid));
      }
    }

    // The legitimate client echoes datagrams the whole time the fuzzer sends.
    let sent = 0;
    let fuzzed = 0;
    const target = 2_000;
    const deadline = performance.now() + 20_000;
    while ((echoed.size < target || fuzzed < packets.length) && performance.now() < deadline) {
      for (let i = 0; i < 20 && fuzzed < packets.length; i++, fuzzed++) {
        fuzzer.send(packets[fuzzed]!, started.port, '127.0.0.1');
      }
      while (sent < target && sent - echoed.size < 32) {
        if (legit.sendDatagram(patternedDatagram(sent, 1_200, 7)) !== null) break;
        sent++;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    // Paced so that the kernel drops none: every hostile packet reached the transport, so a
    // legitimate datagram lost would be the transport's doing, not the socket buffer's.
    await waitFor(
      () => transport.counters().packetsReceived >= packets.length + target,
      `fuzz packets received: ${JSON.stringify(transport.counters())} echoed ${echoed.size} fuzzed ${fuzzed}`,
    );

    expect(legitClosed).toBe(false);
    expect(echoed.size).toBe(target);
    for (const [index, bytes] of echoed) {
      expect(bytes.equals(patternedDatagram(index, 1_200, 7))).toBe(true);
    }
    const counters = transport.counters();
    expect(counters.handlerErrors).toBe(0);
    const dropped = Object.values(counters.dropped).reduce((a, b) => a + b, 0);
    // Most hostile packets are dropped at the port; the rest reach a connection, which
    // discards what does not decrypt.
    expect(dropped).toBeGreaterThan(FUZZ_PACKETS / 2);
    expect(counters.dropped['unknown-connection']).toBeGreaterThan(0);
    expect(counters.dropped['unparsable-header']).toBeGreaterThan(0);
    expect(counters.dropped['truncated-short-header']).toBeGreaterThan(0);
    expect(counters.dropped['empty']).toBeGreaterThan(0);
    expect(counters.dropped['rejected-initial']).toBeGreaterThan(0);
    expect(counters.dropped['discarded-by-connection']).toBeGreaterThan(0);
    // No hostile packet opened a connection: only the captive client and the legitimate one
    // ever did. (A replayed valid Initial starts a handshake that goes nowhere and ends at the
    // idle timeout, as in any QUIC server without address validation.)
    expect(started.record.opened).toHaveLength(2);
    expect(counters.connectionsOpened).toBe(2);

    // And the port still takes new connections.
    const late = await connectQuic('127.0.0.1', started.port, { serverCertificateHash: hash });
    cleanups.push(() => late.close(0, 'done'));
    expect(late.established).toBe(true);
  });
});
