/** The repository lock: one writer, stale locks taken over, torn or foreign locks judged safely. */
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectCodeAsync } from '../../test/helpers/expect-code.js';
import { RepoLock } from './lock.js';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function lockPath(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mlstore-lock-'));
  dirs.push(d);
  return join(d, 'lock');
}
const opts = (pid: number, alive: (p: number) => boolean = () => true) => ({ pid, command: 'test', now: new Date(0), isAlive: alive });

describe('RepoLock', () => {
  it('a second writer gets LOCKED with the owner; release frees it; no temp files stay behind', async () => {
    const path = await lockPath();
    const a = await RepoLock.acquire(path, opts(111));
    const e = await expectCodeAsync(RepoLock.acquire(path, opts(222)), 'LOCKED');
    expect((e as unknown as { details: { owner: { pid: number } } }).details.owner.pid).toBe(111);
    await a.release();
    const b = await RepoLock.acquire(path, opts(222));
    await b.release();
    expect(await readdir(join(path, '..', 'tmp'))).toEqual([]);
  });

  it('a lock whose process is gone (same host) is taken over; another host is respected', async () => {
    const path = await lockPath();
    await writeFile(path, JSON.stringify({ pid: 4242, host: hostname(), command: 'x', time: 't' }));
    await (await RepoLock.acquire(path, opts(1, (p) => p !== 4242))).release();
    await writeFile(path, JSON.stringify({ pid: 4242, host: 'elsewhere', command: 'x', time: 't' }));
    await expectCodeAsync(RepoLock.acquire(path, opts(1, () => false)), 'LOCKED');
  });

  it('an empty or garbled lock file is stale once it is a few seconds old (never judged by pid -1)', async () => {
    const path = await lockPath();
    await writeFile(path, '');
    // brand new: could be an older mlstore between create and write — respected
    await expectCodeAsync(RepoLock.acquire(path, opts(1, () => true)), 'LOCKED');
    const old = new Date(Date.now() - 60_000);
    await utimes(path, old, old);
    const l = await RepoLock.acquire(path, opts(1, () => true)); // isAlive(-1) would say "alive" as root
    await l.release();
    await writeFile(path, '{"pid":');
    await utimes(path, old, old);
    await (await RepoLock.acquire(path, opts(1, () => true))).release();
  });

  it('many processes taking over the same stale lock at once: exactly one wins, every time', async () => {
    const path = await lockPath();
    const dead = 4242;
    for (let round = 0; round < 60; round++) {
      await writeFile(path, JSON.stringify({ pid: dead, host: hostname(), command: 'killed', time: 't' }));
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => RepoLock.acquire(path, opts(1000 + i, (p) => p !== dead))),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won, `round ${round}`).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect((r.reason as { code?: string }).code).toBe('LOCKED');
      await (won[0] as PromiseFulfilledResult<RepoLock>).value.release();
    }
    expect((await readdir(join(path, '..'))).filter((n) => n.startsWith('lock'))).toEqual([]);
  });
});
