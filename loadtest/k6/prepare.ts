// Prepares a k6 run against a handler of `npm run stack` (loadtest/k6/mh-media.ts): a meeting
// of N publishers and M subscribers, every publisher's camera delivered to every subscriber;
// installs the routes over the handler's route API and prints, as JSON, the ingress URL and
// each participant's role, connection token (signed by the stack's development controller,
// valid 9 minutes, single use) and header template.
//
//   MH_ROUTE_TOKEN=<AC service token with service.write.mh> \
//     npx tsx loadtest/k6/prepare.ts --publishers 4 --subscribers 8 > /tmp/mh-k6.json
import { randomUUID } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { signConnectionToken } from '../../adapters/jwt/connection-tokens.ts';
import { handlerId, meetingId, participantId } from '../../core/ids.ts';
import { MediaKind, type Leg } from '../../services/generated/darktower/mh/v1/route.ts';
import { DEV_CONTROLLER_ISSUER, devControllerKey } from '../../services/mh/dev-controller.ts';
import { connectMh } from '../../services/mh/grpc-client.ts';
import { headerTemplate } from './templates.ts';

const options = new Command()
  .option('--handler <id>', 'handler id', 'mh-1')
  .option('--grpc <host:port>', 'its route API', '127.0.0.1:50053')
  .option('--url <ws-url>', 'its WebSocket ingress', 'ws://127.0.0.1:4434/v1/media')
  .option('--publishers <n>', 'publishing participants (k6 VUs)', '4')
  .option(
    '--subscribers <n>',
    'subscribing participants (k6 VUs), each receiving every camera',
    '8',
  )
  .parse()
  .opts<{ handler: string; grpc: string; url: string; publishers: string; subscribers: string }>();

const routeToken = process.env.MH_ROUTE_TOKEN;
if (!routeToken) {
  console.error('set MH_ROUTE_TOKEN to an AC service token with scope service.write.mh');
  process.exit(2);
}
const publisherCount = Number(options.publishers);
const subscriberCount = Number(options.subscribers);
for (const [name, value] of [
  ['--publishers', publisherCount],
  ['--subscribers', subscriberCount],
] as const) {
  if (!Number.isInteger(value) || value < 1 || value > 500) {
    console.error(`${name}: a whole number from 1 to 500`);
    process.exit(2);
  }
}
const meeting = `k6-${randomUUID().slice(0, 8)}`;
const publishers = Array.from({ length: publisherCount }, (_, i) => `pub-${i + 1}`);
const subscribers = Array.from({ length: subscriberCount }, (_, i) => `sub-${i + 1}`);
const kind = MediaKind.MEDIA_KIND_CAMERA;
const legs: Leg[] = publishers.flatMap((publisher) => [
  { publish: { publisher, kind, handler: options.handler } },
  ...subscribers.map((subscriber) => ({
    deliver: { publisher, kind, handler: options.handler, subscriber },
  })),
]);
const route = connectMh(options.grpc, routeToken);
const ack = await route.applyRouteCommand({
  id: `${meeting}-routes`,
  meeting,
  controller: DEV_CONTROLLER_ISSUER,
  add: legs,
  remove: [],
});
route.close();
console.error(`routes installed: ${ack.changed} legs changed, ${ack.ignored} ignored`);

const key = await devControllerKey(process.env.STACK_STATE_DIR ?? join(homedir(), '.dark-tower'));
const now = Date.now();
const roles = [
  ...publishers.map((participant) => ({ participant, role: 'publisher' as const })),
  ...subscribers.map((participant) => ({ participant, role: 'subscriber' as const })),
];
const participants = await Promise.all(
  roles.map(async ({ participant, role }) => ({
    participant,
    role,
    token: await signConnectionToken(
      {
        meeting: meetingId(meeting),
        participant: participantId(participant),
        handler: handlerId(options.handler),
        issuedAtMs: now,
        expiresAtMs: now + 9 * 60_000,
      },
      DEV_CONTROLLER_ISSUER,
      key,
    ),
    template: headerTemplate(meeting, participant, 'camera').hex,
  })),
);
console.log(JSON.stringify({ url: options.url, meeting, participants }, null, 2));
