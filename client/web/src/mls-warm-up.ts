/**
 * The page's MLS code, run once on a group of its own when the page loads.
 *
 * A join's MLS work (a member's commit that adds the joiner, the joiner's welcome) is the
 * longest stage of a browser join after login, and much of it is the first run of the
 * library's code in the page: its decoders, tree checks and key schedule run unoptimised the
 * first time (in Node a welcome takes about 27 ms the first time and 9-15 ms after). A page
 * waits for its user before any join, so it runs the same operations then on a throwaway
 * group: three fresh clients, two commits that add members, a member's processing of another's
 * commit, two welcomes. Nothing of it leaves the page, and every client is erased after.
 */
import { MlsClient } from '../../../adapters/mls/client.ts';

export async function warmUpMls(): Promise<boolean> {
  const [a, b, c] = await Promise.all([
    MlsClient.create('warm-up-a'),
    MlsClient.create('warm-up-b'),
    MlsClient.create('warm-up-c'),
  ]);
  try {
    if (!(await a.createGroup(new Uint8Array([0]))).ok) return false;
    const first = await a.commit({ adds: [b.keyPackage], removes: [] });
    if (!first.ok || first.value.welcome === undefined) return false;
    await a.processCommit(first.value.commit);
    await b.joinFromWelcome(first.value.welcome);
    const second = await a.commit({ adds: [c.keyPackage], removes: [] });
    if (!second.ok || second.value.welcome === undefined) return false;
    await a.processCommit(second.value.commit);
    const processed = await b.processCommit(second.value.commit);
    const joined = await c.joinFromWelcome(second.value.welcome);
    return processed.ok && joined.ok;
  } finally {
    for (const client of [a, b, c]) client.forget();
  }
}
