// The Meeting Controller process: `tsx services/mc/main.ts` (environment in docs/services.md).
import { describeConfigError, parseEnvironment } from '../../adapters/config/env.ts';
import { onTerminationSignal } from '../../adapters/http/shutdown.ts';
import { mcEnvironment } from './config.ts';
import { mcFailoverEnvironment } from './failover-config.ts';
import { startMc } from './server.ts';

const env = parseEnvironment(mcEnvironment, process.env);
const failover = parseEnvironment(mcFailoverEnvironment, process.env);
if (!env.ok || !failover.ok) {
  if (!env.ok) console.error(describeConfigError('mc-service', env.error));
  if (!failover.ok) console.error(describeConfigError('mc-service', failover.error));
  process.exit(2);
}
const mc = await startMc(env.value, { failover: failover.value });
onTerminationSignal(() => mc.close(), mc.logger);
