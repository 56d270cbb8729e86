/**
 * Crash safety: SIGKILL the real bin/mlstore at ≥ 20 random moments during `add` and `commit`
 * of a dataset of small and multi-chunk files (tiny chunk sizes, so every run writes many
 * objects). After every kill: every object's bytes hash to its id, every ref (and a detached
 * HEAD) names a commit whose whole history, trees, manifests and chunks are present, and a
 * follow-up add + commit succeeds and records exactly the workspace.
 *
 * Reproducible: the data and the kill moments come from a seeded PRNG (MLSTORE_CRASH_SEED to
 * replay one run); a kill moment is a seeded fraction of how long that command took when it ran
 * to completion, so kills land anywhere from process start to the final ref update.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureBuilt, runCli, runJson, spawnCli } from '../helpers/cli.js';
import { newRepo, pseudoRandom, writeFiles } from '../helpers/repo.js';
import { assertStoreConsistent } from '../helpers/store.js';

const SEED = Number(process.env.MLSTORE_CRASH_SEED ?? 20261125);
const KILLS = Number(process.env.MLSTORE_CRASH_KILLS ?? 20);
const MAX_RUNS = 40;

/** mulberry32: a tiny seeded PRNG, floats in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('crash safety (SIGKILL during add and commit)', () => {
  it(`≥ ${KILLS} kills at seeded random moments leave a consistent store (seed ${SEED})`, async () => {
    ensureBuilt();
    const rand = prng(SEED);
    const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
    const repo = await newRepo(); // 1 KiB / 4 KiB / 16 KiB chunks

    // a mix of small files and multi-chunk files
    const initial: Record<string, Buffer | string> = {};
    for (let i = 0; i < 40; i++) initial[`data/small/s${i}.txt`] = pseudoRandom(`s${SEED}-${i}`, int(10, 3000));
    for (let i = 0; i < 4; i++) initial[`data/big/b${i}.bin`] = pseudoRandom(`b${SEED}-${i}`, int(150_000, 400_000));
    await writeFiles(repo, initial);

    let version = 0;
    /** Changes enough that the next add/commit writes dozens of new objects. */
    const mutate = async () => {
      version++;
      for (let k = 0; k < 6; k++) await writeFile(join(repo, `data/small/s${int(0, 39)}.txt`), pseudoRandom(`m${SEED}-${version}-${k}`, int(0, 3000)));
      await writeFile(join(repo, `data/big/b${int(0, 3)}.bin`), pseudoRandom(`B${SEED}-${version}`, int(150_000, 400_000)));
      await writeFiles(repo, { [`data/new/v${version}.bin`]: pseudoRandom(`n${SEED}-${version}`, int(5_000, 60_000)) });
      if (version % 3 === 0) await rm(join(repo, `data/new/v${version - 1}.bin`), { force: true });
    };

    // How long each command takes when it is not killed (spawned, same data sizes).
    const timed = async (args: string[]) => {
      const t0 = performance.now();
      const r = await spawnCli(args, { cwd: repo }).done;
      expect(r.code, r.stderr).toBe(0);
      return performance.now() - t0;
    };
    expect((await runCli(['add', 'data'], { cwd: repo })).code).toBe(0); // the initial add is not what the runs below do
    await mutate();
    const duration = { add: await timed(['add', 'data']), commit: 0 };
    await mutate();
    duration.commit = await timed(['commit', '-m', 'baseline']);

    let kills = 0;
    const log: string[] = [];
    const memo = { verified: new Map<string, number>(), complete: new Set<string>() }; // immutable objects: check each once
    for (let run = 0; kills < KILLS && run < MAX_RUNS; run++) {
      await mutate();
      const op = run % 2 === 0 ? 'add' : 'commit';
      const args = op === 'add' ? ['add', 'data'] : ['commit', '-m', `run ${run}`];
      const delay = rand() * duration[op];
      const started = performance.now();
      const p = spawnCli(args, { cwd: repo });
      const timer = setTimeout(() => p.child.kill('SIGKILL'), delay);
      const r = await p.done;
      clearTimeout(timer);
      const killed = r.signal === 'SIGKILL';
      if (killed) kills++;
      else {
        expect(r.code, `${op} exited without being killed: ${r.stderr}`).toBe(0);
        duration[op] = performance.now() - started; // keep the kill moments inside the real run time
      }
      log.push(`${op} +${delay.toFixed(0)}ms/${duration[op].toFixed(0)}ms: ${killed ? 'killed' : 'finished'}`);
      const t1 = performance.now();

      // 1. the store is consistent as the kill left it
      try {
        await assertStoreConsistent(repo, memo);
      } catch (e) {
        throw new Error(`after run ${run} (${log.at(-1)}; seed ${SEED}): ${(e as Error).message}`);
      }
      // 2. work continues: add + commit succeed and record the workspace exactly
      const add = await runCli(['add', 'data'], { cwd: repo });
      expect(add.code, `add after run ${run}: ${add.stderr}`).toBe(0);
      const t2 = performance.now();
      const c = await runCli(['commit', '-m', `after run ${run}`, '--allow-empty'], { cwd: repo });
      expect(c.code, `commit after run ${run}: ${c.stderr}`).toBe(0);
      const t3 = performance.now();
      const st = await runJson(['status'], { cwd: repo });
      expect(st.json.clean, `status after run ${run}: ${JSON.stringify(st.json)}`).toBe(true);
      if (process.env.MLSTORE_CRASH_DEBUG) process.stderr.write(`${log.at(-1)}; check+add ${(t2 - t1).toFixed(0)} commit ${(t3 - t2).toFixed(0)} status ${(performance.now() - t3).toFixed(0)} ms\n`);
    }
    console.log(`[crash] seed ${SEED}: ${kills} kills in ${log.length} runs\n  ${log.join('\n  ')}`);
    expect(kills).toBeGreaterThanOrEqual(KILLS);
    const final = await assertStoreConsistent(repo);
    expect(final.refs.commits).toBeGreaterThan(KILLS);
  }, 180_000);
});
