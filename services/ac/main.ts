// The Auth Controller process: `tsx services/ac/main.ts` (environment in docs/services.md).
import { describeConfigError, parseEnvironment } from '../../adapters/config/env.ts';
import { onTerminationSignal } from '../../adapters/http/shutdown.ts';
import { acEnvironment } from './config.ts';
import { startAc } from './server.ts';

const env = parseEnvironment(acEnvironment, process.env);
if (!env.ok) {
  console.error(describeConfigError('ac-service', env.error));
  process.exit(2);
}
const ac = await startAc(env.value);
onTerminationSignal(() => ac.close(), ac.logger);
