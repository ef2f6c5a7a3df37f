// The Media Handler process: `tsx services/mh/main.ts` (environment in docs/services.md).
// SIGTERM drains: no new sessions, open ones continue for MH_DRAIN_GRACE_MS, then it stops.
import { describeConfigError, parseEnvironment } from '../../adapters/config/env.ts';
import { onTerminationSignal } from '../../adapters/http/shutdown.ts';
import { mhEnvironment } from './config.ts';
import { startMh } from './server.ts';

const env = parseEnvironment(mhEnvironment, process.env);
if (!env.ok) {
  console.error(describeConfigError('mh-service', env.error));
  process.exit(2);
}
const mh = await startMh(env.value);
onTerminationSignal(() => mh.drainAndClose(), mh.logger);
