// Account administration for AC: `npx tsx services/ac/cli.ts --help`. Needs DATABASE_URL.
import { Command } from 'commander';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { PgAuditLog, PgServiceStore, PgUserStore } from '../../adapters/postgres/ac-stores.ts';
import { createUser, registerService, type AccountError } from './accounts.ts';
import { MIN_BCRYPT_COST } from './credentials.ts';

/** Reads the whole of stdin (a password piped in, so it never shows in `ps`). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

const scopeList = (value: string) => value.split(/[\s,]+/).filter((scope) => scope !== '');

function describeError(error: AccountError): string {
  return error.kind === 'duplicate'
    ? `${error.key} already exists`
    : `scope ${error.scope}: ${error.detail}`;
}

async function withPool<T>(work: (pool: Pool) => Promise<T>): Promise<T> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  const pool = createPool(url, 1);
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

const program = new Command('ac-cli').description('Dark Tower Auth Controller accounts');

program
  .command('create-user')
  .description('create a user; the password is read from stdin')
  .requiredOption('--username <name>', 'login name')
  .requiredOption('--scopes <list>', 'user scopes, e.g. "user.read.gc user.write.gc"')
  .option('--bcrypt-cost <n>', 'bcrypt cost (12 or more)', String(MIN_BCRYPT_COST))
  .action(async (options: { username: string; scopes: string; bcryptCost: string }) => {
    const password = await readStdin();
    if (password.length < 8)
      throw new Error('the password (stdin) must have at least 8 characters');
    const created = await withPool((pool) =>
      createUser(
        {
          users: new PgUserStore(pool),
          audit: new PgAuditLog(pool),
          bcryptCost: Number(options.bcryptCost),
        },
        { username: options.username, password, scopes: scopeList(options.scopes) },
      ),
    );
    if (!created.ok) throw new Error(describeError(created.error));
    console.log(JSON.stringify({ user_id: created.value.userId, username: options.username }));
  });

program
  .command('register-service')
  .description('register a service; prints its client id and one-time client secret')
  .requiredOption('--name <name>', 'service name')
  .requiredOption('--scopes <list>', 'service scopes, e.g. "service.admin.ac service.write.gc"')
  .action(async (options: { name: string; scopes: string }) => {
    const registered = await withPool((pool) =>
      registerService(
        { services: new PgServiceStore(pool), audit: new PgAuditLog(pool) },
        { name: options.name, scopes: scopeList(options.scopes) },
      ),
    );
    if (!registered.ok) throw new Error(describeError(registered.error));
    console.log(
      JSON.stringify({
        client_id: registered.value.clientId,
        client_secret: registered.value.clientSecret,
      }),
    );
  });

program.parseAsync().catch((error: unknown) => {
  console.error(`ac-cli: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
