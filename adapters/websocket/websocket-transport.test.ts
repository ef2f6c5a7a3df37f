// The WebSocket transport on its own: connections that answer pings stay, silent ones are cut.
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { MediaConnection, MediaTransportEvents } from '../../ports/media-transport.ts';
import { WebSocketMediaTransport, type WebSocketTransportDrop } from './websocket-transport.ts';

let transport: WebSocketMediaTransport | undefined;
afterEach(async () => {
  await transport?.stop();
  transport = undefined;
});

function recordingEvents() {
  const closed: { id: number; code: number }[] = [];
  const opened: MediaConnection[] = [];
  const events: MediaTransportEvents = {
    opened: (c) => opened.push(c),
    datagram: () => undefined,
    control: () => undefined,
    closed: (c, code) => closed.push({ id: c.id, code }),
  };
  return { events, opened, closed };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('WebSocketMediaTransport keepalive', () => {
  it('keeps a connection that answers pings and cuts one that does not', async () => {
    const drops: WebSocketTransportDrop[] = [];
    transport = new WebSocketMediaTransport({
      host: '127.0.0.1',
      port: 0,
      keepaliveMs: 100,
      onDrop: (reason) => drops.push(reason),
    });
    const { events, opened, closed } = recordingEvents();
    const { port } = await transport.start(events);

    const polite = new WebSocket(`ws://127.0.0.1:${port}/v1/media`);
    await new Promise((resolve) => polite.once('open', resolve));
    // A raw TCP peer that upgrades and then never reads or answers anything.
    const silent = connect(port, '127.0.0.1');
    silent.on('error', () => undefined);
    await new Promise((resolve) => silent.once('connect', resolve));
    silent.write(
      'GET /v1/media HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await wait(50);
    expect(opened).toHaveLength(2);
    await wait(400);
    expect(closed).toHaveLength(1);
    expect(closed[0]?.id).toBe(opened[1]?.id);
    expect(drops).toEqual(['keepalive-timeout']);
    expect(polite.readyState).toBe(WebSocket.OPEN);
    expect(transport.connectionCount).toBe(1);
    polite.close();
    silent.destroy();
  });
});
