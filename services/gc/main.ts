// The Global Controller process: `tsx services/gc/main.ts` (environment in docs/services.md).
import { describeConfigError, parseEnvironment } from '../../adapters/config/env.ts';
import { onTerminationSignal } from '../../adapters/http/shutdown.ts';
import { gcEnvironment } from './config.ts';
import { startGc } from './server.ts';

const env = parseEnvironment(gcEnvironment, process.env);
if (!env.ok) {
  console.error(describeConfigError('gc-service', env.error));
  process.exit(2);
}
const gc = await startGc(env.value);
onTerminationSignal(() => gc.close(), gc.logger);
