// Development only: prints a connection token for a handler of `npm run stack`, signed by the
// stack's development controller (services/mh/dev-controller.ts).
//   npx tsx services/mh/dev-token.ts --meeting m-1 --participant alice --handler mh-1
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { signConnectionToken } from '../../adapters/jwt/connection-tokens.ts';
import { handlerId, meetingId, participantId } from '../../core/ids.ts';
import { DEV_CONTROLLER_ISSUER, devControllerKey } from './dev-controller.ts';

const options = new Command()
  .requiredOption('--meeting <id>')
  .requiredOption('--participant <id>')
  .requiredOption('--handler <id>', 'the handler that accepts it (mh-1 or mh-2 in the stack)')
  .option('--lifetime-ms <ms>', 'token lifetime', '60000')
  .parse()
  .opts<{ meeting: string; participant: string; handler: string; lifetimeMs: string }>();

const stateDir = process.env.STACK_STATE_DIR ?? join(homedir(), '.dark-tower');
const now = Date.now();
const token = await signConnectionToken(
  {
    meeting: meetingId(options.meeting),
    participant: participantId(options.participant),
    handler: handlerId(options.handler),
    issuedAtMs: now,
    expiresAtMs: now + Number(options.lifetimeMs),
  },
  DEV_CONTROLLER_ISSUER,
  await devControllerKey(stateDir),
);
console.log(token);
