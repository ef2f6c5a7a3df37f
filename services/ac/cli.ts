// Account administration for AC: `npx tsx services/ac/cli.ts --help`. Needs DATABASE_URL.
import { Command } from 'commander';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { PgAuditLog, PgServiceStore, PgUserStore } from '../../adapters/postgres/ac-stores.ts';
import { assignOrg, createUser, registerService, type AccountError } from './accounts.ts';
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
  switch (error.kind) {
    case 'duplicate':
      return `${error.key} already exists`;
    case 'unknown_account':
      return `no account ${error.key}`;
    case 'invalid_org':
      return `org ${JSON.stringify(error.org)}: expected a lower-case DNS label (a-z, 0-9, inner -)`;
    default:
      return `scope ${error.scope}: ${error.detail}`;
  }
}

const ORG_HELP = 'organisation (tenant) id, a lower-case DNS label; tokens carry it in claim org';

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
  .requiredOption('--org <id>', ORG_HELP)
  .option('--bcrypt-cost <n>', 'bcrypt cost (12 or more)', String(MIN_BCRYPT_COST))
  .action(
    async (options: { username: string; scopes: string; org: string; bcryptCost: string }) => {
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
          {
            username: options.username,
            password,
            scopes: scopeList(options.scopes),
            org: options.org,
          },
        ),
      );
      if (!created.ok) throw new Error(describeError(created.error));
      console.log(
        JSON.stringify({
          user_id: created.value.userId,
          username: options.username,
          org: options.org,
        }),
      );
    },
  );

program
  .command('register-service')
  .description('register a service; prints its client id and one-time client secret')
  .requiredOption('--name <name>', 'service name')
  .requiredOption('--scopes <list>', 'service scopes, e.g. "service.admin.ac service.write.gc"')
  .requiredOption('--org <id>', ORG_HELP)
  .action(async (options: { name: string; scopes: string; org: string }) => {
    const registered = await withPool((pool) =>
      registerService(
        { services: new PgServiceStore(pool), audit: new PgAuditLog(pool) },
        { name: options.name, scopes: scopeList(options.scopes), org: options.org },
      ),
    );
    if (!registered.ok) throw new Error(describeError(registered.error));
    console.log(
      JSON.stringify({
        client_id: registered.value.clientId,
        client_secret: registered.value.clientSecret,
        org: options.org,
      }),
    );
  });

program
  .command('assign-org')
  .description('move a user or a service to an organisation; tokens issued afterwards carry it')
  .option('--username <name>', 'the user to move')
  .option('--client-id <id>', 'the service to move')
  .requiredOption('--org <id>', ORG_HELP)
  .action(async (options: { username?: string; clientId?: string; org: string }) => {
    if ((options.username === undefined) === (options.clientId === undefined)) {
      throw new Error('give exactly one of --username and --client-id');
    }
    const account =
      options.username !== undefined
        ? { username: options.username }
        : { clientId: options.clientId ?? '' };
    const assigned = await withPool((pool) =>
      assignOrg(
        {
          users: new PgUserStore(pool),
          services: new PgServiceStore(pool),
          audit: new PgAuditLog(pool),
        },
        { account, org: options.org },
      ),
    );
    if (!assigned.ok) throw new Error(describeError(assigned.error));
    console.log(JSON.stringify({ ...account, org: options.org }));
  });

program.parseAsync().catch((error: unknown) => {
  console.error(`ac-cli: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
