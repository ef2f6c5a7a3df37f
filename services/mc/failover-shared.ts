// Test support shared by the failover tests: a meeting's members as clients that join through
// GC, publish, count what they receive and reconnect wherever GC sends them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { MediaClient, type WebSocketConstructor } from '../../client/media/index.ts';
import type { E2eeMember } from '../../client/e2ee/index.ts';
import type { JoinResponse, ServerMessage } from '../generated/darktower/mc/v1/signaling.ts';
import { http, json } from '../shared/testing.ts';
import type { FailoverPlatform } from './failover-testing.ts';
import { SignalingClient } from './testing.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export async function createMeeting(platform: FailoverPlatform, token: string): Promise<string> {
  const created = await http(
    `${platform.gc.url}/v1/meetings`,
    json({ title: 'Failover' }, bearer(token)),
  );
  if (created.status !== 201) throw new Error(`meeting not created: ${created.status}`);
  return created.body.meeting_id as string;
}

/** The controller GC names for the meeting now, if any. */
export async function controllerOf(
  platform: FailoverPlatform,
  token: string,
  meeting: string,
): Promise<{ id: string; url: string } | undefined> {
  const lookup = await http(`${platform.gc.url}/v1/meetings/${meeting}`, {
    headers: bearer(token),
  });
  const controller = lookup.body.meeting_controller as { id: string; url: string } | null;
  return controller ?? undefined;
}

/**
 * One member: its signaling, its media session, the frames it received (sender, time), and with
 * `e2ee` its side of the meeting's MLS group (kept across reconnects: a member already in the
 * group joins again without a key package, so it stays in it).
 */
export class Member {
  signaling: SignalingClient | undefined;
  media: MediaClient | undefined;
  response: JoinResponse | undefined;
  controller: string | undefined;
  readonly received: { from: string; sequence: number; at: number }[] = [];
  private sequence = 0;
  private sender: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    readonly token: string,
    readonly meeting: string,
    private readonly platform: FailoverPlatform,
    readonly e2ee?: E2eeMember,
  ) {}

  get participant(): string {
    return this.response?.participantId ?? '';
  }

  /**
   * Looks the meeting up at GC and joins the controller it names, again and again (every
   * 200 ms) until a join is answered with a join response or `timeoutMs` has passed; a
   * controller named `avoid` is not tried. Connects media to the handler named, unless the
   * media session it has is on that handler already.
   */
  async join(timeoutMs: number, avoid?: string): Promise<JoinResponse> {
    const deadline = performance.now() + timeoutMs;
    const attempts: string[] = [];
    while (performance.now() < deadline) {
      const controller = await controllerOf(this.platform, this.token, this.meeting).catch(
        () => undefined,
      );
      if (controller === undefined || controller.id === avoid) {
        await sleep(200);
        continue;
      }
      let client: SignalingClient | undefined;
      try {
        client = await SignalingClient.open(controller.url);
        const connection = client;
        const e2ee = this.e2ee;
        if (e2ee !== undefined) {
          // Every MLS message of this connection, in order; the replies go back on it.
          connection.onMessage = (message) =>
            void e2ee.handle(message).then((replies) => {
              for (const reply of replies) connection.send(reply);
            });
        }
        client.send({
          join: {
            accessToken: this.token,
            meetingId: this.meeting,
            layout: 'grid',
            region: '',
            keyPackage:
              e2ee !== undefined && e2ee.epoch === undefined ? e2ee.keyPackage : Buffer.alloc(0),
          },
        });
        const answer = await client.next(
          (m: ServerMessage) => m.joinResponse ?? m.error ?? m.joinRejected,
          Math.max(100, deadline - performance.now()),
        );
        if ('participantId' in answer) {
          this.signaling = client;
          this.controller = controller.id;
          this.response = answer;
          await this.connectMedia(answer);
          return answer;
        }
        attempts.push(JSON.stringify(answer));
        client.socket.terminate();
      } catch (error) {
        attempts.push(String(error));
        client?.socket.terminate();
      }
      await sleep(200);
    }
    throw new Error(`${this.name} did not join in time: ${attempts.slice(-3).join('; ')}`);
  }

  private async connectMedia(answer: JoinResponse): Promise<void> {
    const handler = answer.mediaHandler;
    if (this.media !== undefined && this.mediaHandler === handler?.id) {
      this.signaling?.send({ mediaConnected: { handler: handler?.id ?? '' } });
      return;
    }
    this.media?.close();
    const { client, outcome } = await MediaClient.connect({
      url: handler?.websocketUrl ?? '',
      token: answer.connectionToken,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    if (outcome.kind !== 'accepted' || client === undefined)
      throw new Error(`${this.name}: media refused: ${JSON.stringify(outcome)}`);
    this.media = client;
    this.mediaHandler = handler?.id;
    client.onDatagram = (_header, payload) => {
      const [from, sequence] = Buffer.from(payload).toString('utf8').split(':');
      this.received.push({ from: from ?? '', sequence: Number(sequence), at: performance.now() });
    };
    this.signaling?.send({ mediaConnected: { handler: handler?.id ?? '' } });
  }

  private mediaHandler: string | undefined;

  /** Publishes its camera every 20 ms, frames `name:sequence`. */
  startPublishing(): void {
    this.sender = setInterval(() => {
      const media = this.media;
      if (media === undefined) return;
      this.sequence++;
      const camera = media.publisher(this.meeting, this.participant, 'camera');
      for (const d of camera.datagrams(Buffer.from(`${this.name}:${this.sequence}`)))
        media.sendDatagram(d);
    }, 20);
  }

  /** The first frame from `from` received at or after `since` (performance.now()). */
  firstFrom(from: string, since: number): number | undefined {
    return this.received.find((r) => r.from === from && r.at >= since)?.at;
  }

  /** Leaves the meeting (the controller closes its signaling after this). */
  leave(): void {
    if (this.sender !== undefined) clearInterval(this.sender);
    this.signaling?.send({ leave: {} });
    this.media?.close();
  }

  close(): void {
    if (this.sender !== undefined) clearInterval(this.sender);
    this.signaling?.socket.terminate();
    this.media?.close();
  }
}

/** Writes `figures` to reports/`name`.json (the directory is git-ignored) and prints them. */
export function writeReport(name: string, figures: Record<string, unknown>): void {
  const dir = fileURLToPath(new URL('../../reports/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const body = JSON.stringify({ measuredAt: new Date().toISOString(), ...figures }, null, 2);
  writeFileSync(`${dir}${name}.json`, `${body}\n`);
  console.log(`reports/${name}.json\n${body}`);
}

/** Reads one counter of a Prometheus text page: the sum of the samples matching `line`. */
export async function metricValue(metricsUrl: string, prefix: string): Promise<number> {
  const page = await fetch(`${metricsUrl.replace(/\/$/, '')}/metrics`).then((r) => r.text());
  let total = 0;
  for (const line of page.split('\n'))
    if (line.startsWith(prefix)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}
