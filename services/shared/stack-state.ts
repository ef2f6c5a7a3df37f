// What `npm run stack` keeps outside the database, and the check that it was not lost.
import type { Pool } from '../../adapters/postgres/pool.ts';

/** The command that starts the local stack afresh. */
export const STACK_RESET_COMMAND = 'npm run stack -- --reset';

/**
 * Why the stack cannot start on this database with this state directory, or undefined when
 * it can: the directory lost its development master key (and admin secret) while the database
 * still holds AC signing keys sealed under that key, which a new key could not open.
 */
export async function lostStateProblem(options: {
  readonly pool: Pool;
  readonly stateDir: string;
  readonly databaseName: string;
  readonly masterKeyKept: boolean;
}): Promise<string | undefined> {
  if (options.masterKeyKept) return undefined;
  const sealed = await options.pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM ac.signing_keys',
  );
  if (Number(sealed.rows[0]?.n ?? 0) === 0) return undefined;
  return [
    `The state directory ${options.stateDir} has no ac-master-key, but the database ` +
      `${options.databaseName} holds AC signing keys sealed under the master key that was kept ` +
      'there (the directory was deleted or STACK_STATE_DIR changed). A new master key cannot ' +
      'open them, and the stack-admin secret in admin-client.json is not shown again.',
    `Either restore ${options.stateDir} (or set AC_MASTER_KEY to the old key), or start ` +
      `afresh; this drops the database ${options.databaseName} and empties the state directory:`,
    `  ${STACK_RESET_COMMAND}`,
  ].join('\n');
}
