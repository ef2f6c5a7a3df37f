// The command-line client: `npm run client -- join --meeting <id|create> [--publish] [--duration 10s]`.
// A thin shell over the client library (client/meeting): log in at AC, create or look up the
// meeting at GC, join at its Meeting Controller, connect media to the handler it names, publish
// synthetic SFrame-shaped frames and print what arrives. See docs/services.md ("Join a meeting
// from the command line").
import { Command, InvalidArgumentError } from 'commander';
import { WebSocket } from 'ws';
import type { WebSocketConstructor } from './media/index.ts';
import { sframePayload } from './media/index.ts';
import { ClientError, createMeeting, JoinError, login, MeetingSession } from './meeting/index.ts';
import { parseDuration, syntheticFrameBytes } from './cli-options.ts';

interface JoinCommandOptions {
  readonly meeting: string;
  readonly publish: boolean;
  readonly duration: number;
  readonly ac: string;
  readonly gc: string;
  readonly user: string;
  readonly title: string;
  readonly layout: string;
  readonly fps: number;
  readonly frameBytes: number;
  readonly json: boolean;
}

const duration = (text: string): number => {
  const ms = parseDuration(text);
  if (ms === undefined) throw new InvalidArgumentError('expected e.g. 10s, 500ms or 2m');
  return ms;
};
const positiveInt = (max: number) => (text: string) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(`expected a whole number from 1 to ${max}`);
  }
  return value;
};

/** Prints one event: a JSON line with `--json`, else a readable line. */
function printer(json: boolean) {
  return (event: string, fields: Record<string, unknown>, text: string) => {
    if (json) console.log(JSON.stringify({ event, ...fields }));
    else console.log(text);
  };
}

async function join(options: JoinCommandOptions): Promise<number> {
  const print = printer(options.json);
  const password =
    process.env.DARK_TOWER_PASSWORD ?? process.env.STACK_DEMO_PASSWORD ?? 'demo-password';
  const token = await login(options.ac, { username: options.user, password });
  print('login', { user: options.user }, `logged in at ${options.ac} as ${options.user}`);

  let meetingId = options.meeting;
  if (options.meeting === 'create') {
    const created = await createMeeting(options.gc, token.accessToken, options.title);
    meetingId = created.meetingId;
    print(
      'meeting',
      { meeting_id: meetingId, created: true, controller: created.controller?.id ?? null },
      `meeting ${meetingId} created (controller ${created.controller?.id ?? 'not placed yet'});` +
        ` others join with --meeting ${meetingId}`,
    );
  }

  const session = await MeetingSession.join({
    gcUrl: options.gc,
    token: token.accessToken,
    meetingId,
    layout: options.layout,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
  const startedAt = performance.now();
  print(
    'joined',
    {
      meeting_id: meetingId,
      participant_id: session.participantId,
      controller: session.meeting.controller?.id,
      handler: session.handler.id,
      participants: session.participants,
    },
    `joined ${meetingId} as ${session.participantId} via ${session.meeting.controller?.id}; ` +
      `media on ${session.handler.id} (${session.handler.websocketUrl})`,
  );

  const received = new Map<string, { frames: number; bytes: number; firstMs: number }>();
  let unknownFrames = 0;
  session.onFrame = (publisher, header, payload) => {
    if (publisher === undefined) {
      if (header.endOfFrame) unknownFrames++;
      return;
    }
    let counts = received.get(publisher);
    if (counts === undefined) {
      counts = { frames: 0, bytes: 0, firstMs: performance.now() - startedAt };
      received.set(publisher, counts);
      print(
        'first-frame',
        { publisher, after_ms: Math.round(counts.firstMs) },
        `first frame from ${publisher} ${Math.round(counts.firstMs)} ms after joining`,
      );
    }
    counts.bytes += payload.length;
    if (header.endOfFrame) counts.frames++;
  };
  const showParticipants = (participants: readonly string[]) =>
    print('participants', { participants }, `participants: ${participants.join(', ')}`);
  showParticipants(session.participants);
  session.onParticipants = showParticipants;
  session.onLayout = (layout) => print('layout', { layout }, `layout: ${layout}`);
  let epochShown: number | undefined;
  session.onKeyEpoch = (epoch) => {
    if (epoch === epochShown) return;
    epochShown = epoch;
    print('key-epoch', { epoch }, `media key epoch ${epoch}`);
  };
  session.onMove = (handler) =>
    print('move', { handler: handler.id }, `media moved to ${handler.id}`);

  let closedBy: string | undefined;
  const ended = new Promise<void>((resolve) => {
    session.onClosed = (code, reason) => {
      closedBy = `${code} ${reason}`;
      print('closed', { code, reason }, `the controller closed the session: ${code} ${reason}`);
      resolve();
    };
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    setTimeout(resolve, options.duration).unref();
  });

  // Synthetic SFrame frames: header (kid 0 until MLS keys are wired in, counter per frame) and
  // random bytes standing for the ciphertext and its tag. Handlers never decrypt them.
  let sent = 0;
  const camera = session.publisher('camera');
  const publishing = options.publish
    ? setInterval(() => {
        const ciphertext = new Uint8Array(syntheticFrameBytes(sent, options.frameBytes));
        crypto.getRandomValues(ciphertext);
        camera.publish(sframePayload(0n, BigInt(sent), ciphertext), {
          keyframe: sent % 30 === 0,
          captureTimeUs: Math.round(performance.timeOrigin * 1000 + performance.now() * 1000),
        });
        sent++;
      }, 1000 / options.fps)
    : undefined;

  await ended;
  if (publishing !== undefined) clearInterval(publishing);
  if (closedBy === undefined) await session.leave();
  const seconds = (performance.now() - startedAt) / 1000;
  const summary = {
    meeting_id: meetingId,
    participant_id: session.participantId,
    seconds: Math.round(seconds * 10) / 10,
    frames_sent: sent,
    frames_received: Object.fromEntries([...received].map(([p, c]) => [p, c.frames])),
    bytes_received: Object.fromEntries([...received].map(([p, c]) => [p, c.bytes])),
    frames_from_unknown_publishers: unknownFrames,
  };
  const lines = [...received].map(
    ([publisher, c]) =>
      `  ${publisher}: ${c.frames} frames (${(c.frames / seconds).toFixed(1)}/s), ${c.bytes} bytes`,
  );
  print(
    'summary',
    summary,
    [
      `left after ${summary.seconds} s: sent ${sent} frames; received`,
      ...(lines.length > 0 ? lines : ['  nothing']),
    ].join('\n'),
  );
  return 0;
}

const program = new Command()
  .name('npm run client --')
  .description('Dark Tower command-line client');
program
  .command('join')
  .description('join a meeting (or create one) and print what arrives')
  .requiredOption('--meeting <id>', 'a meeting id, or "create" for a new meeting')
  .option('--publish', 'publish synthetic SFrame-shaped camera frames', false)
  .option('--duration <time>', 'how long to stay, e.g. 10s, 500ms, 2m', duration, 10_000)
  .option('--ac <url>', 'Auth Controller', process.env.DARK_TOWER_AC_URL ?? 'http://127.0.0.1:8082')
  .option(
    '--gc <url>',
    'Global Controller',
    process.env.DARK_TOWER_GC_URL ?? 'http://127.0.0.1:8080',
  )
  .option(
    '--user <name>',
    'username (password from DARK_TOWER_PASSWORD, else the stack demo password)',
    process.env.DARK_TOWER_USER ?? 'demo',
  )
  .option('--title <text>', 'title of a created meeting', 'Command-line meeting')
  .option('--layout <name>', 'grid, gridRxC or speaker', 'grid')
  .option('--fps <n>', 'frames per second published', positiveInt(120), 30)
  .option(
    '--frame-bytes <n>',
    'ciphertext bytes of a frame (keyframes 4x)',
    positiveInt(60_000),
    1_000,
  )
  .option('--json', 'print one JSON object per line', false)
  .action(async (options: JoinCommandOptions) => {
    try {
      process.exitCode = await join(options);
    } catch (error) {
      if (error instanceof ClientError || error instanceof JoinError) {
        console.error(`error (${error.kind}): ${error.message}`);
      } else {
        console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      }
      process.exitCode = 1;
    }
    // Open sockets or timers left by a failure must not keep the process alive.
    setTimeout(() => process.exit(), 100).unref();
  });

await program.parseAsync();
