/**
 * A push killed with SIGKILL half-way (the real bin/mlstore, spawned), then run again: the remote
 * never has a ref pointing at something missing, and the second push sends only what the first
 * did not get to (the index checkpoints what the remote acknowledged about once a second).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli, ensureBuilt } from '../helpers/cli.js';
import { makeRepo, ok, removeDir, s3, s3Env, startFaultProxy, tempDir, treeDigest } from './helpers.js';

const config = s3.config;
const suite = config ? describe : describe.skip;

let work: string;
beforeAll(async () => {
  work = await tempDir('mlstore-kill-');
  ensureBuilt();
}, 300_000);
afterAll(async () => {
  await removeDir(work);
});

suite(`push killed with SIGKILL (${config?.source ?? 'none'})`, () => {
  it('leaves the remote consistent, and the re-run uploads only the rest', async () => {
    const env = s3Env(config!, 'kill');
    const proxy = await startFaultProxy(config!.endpoint, env.prefix, config!.bucket);
    try {
      const files: Record<string, number> = {};
      for (let i = 0; i < 240; i++) files[`data/d${i % 8}/f${i}.bin`] = 20_000 + i;
      const { dir: a } = await makeRepo(join(work, 'a'), files);
      await ok(['remote', 'add', 'origin', env.url, '--endpoint', proxy.endpoint], a, env.vars);
      const total = 240 /* chunks */ + 8 + 1 + 1 /* trees */ + 1; /* commit */

      // Slow uploads down so the push is still running when it is killed.
      proxy.rule = (r) => (r.method === 'PUT' && r.key.startsWith('objects/') ? { kind: 'delay', ms: 60 } : undefined);
      const run = spawnCli(['push', '--jobs', '2'], { cwd: a, vars: env.vars });
      const stored = () => proxy.log.filter((e) => e.method === 'PUT' && e.status === 200 && e.key.startsWith('objects/'));
      for (let waited = 0; stored().length < 120; waited += 20) {
        if (waited > 120_000) throw new Error(`push did not progress: ${run.output()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      run.child.kill('SIGKILL');
      const killed = await run.done;
      expect(killed.signal).toBe('SIGKILL');
      // Requests the proxy was still holding reach the server after the kill: let them land.
      for (let waited = 0; proxy.log.some((e) => e.status === 0) && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      const firstRun = new Set(stored().map((e) => e.key));
      expect(firstRun.size).toBeGreaterThanOrEqual(120);
      expect(firstRun.size).toBeLessThan(total);
      const afterKill = await env.keys();
      expect(afterKill.some((k) => k.startsWith('refs/'))).toBe(false); // refs move last

      proxy.rule = () => undefined;
      proxy.log.length = 0;
      const again = await ok(['push'], a, env.vars);
      const secondRun = new Set(stored().map((e) => e.key));
      // Sent again: objects the killed run stored after its last index checkpoint (the server
      // answers 412 to the create-only PUT; nothing is overwritten).
      const resent = proxy.log.filter((e) => e.method === 'PUT' && e.status === 412 && e.key.startsWith('objects/'));
      expect(again.objects.uploaded).toBe(secondRun.size + resent.length);
      for (const e of resent) expect(firstRun.has(e.key)).toBe(true);
      // Everything arrived once the two runs are put together …
      expect(new Set([...firstRun, ...secondRun]).size).toBe(total);
      expect([...secondRun].filter((k) => firstRun.has(k))).toEqual([]);
      // … and most of what the killed run had sent was not sent again.
      expect(resent.length).toBeLessThan(firstRun.size / 2);
      expect(again.refs[0].status).toBe('created');

      // The remote is complete: a fresh clone gets identical bytes, and a full re-check finds nothing missing.
      const b = join(work, 'b');
      await ok(['init'], b, env.vars);
      await ok(['remote', 'add', 'origin', env.url, '--endpoint', config!.endpoint], b, env.vars);
      await ok(['pull'], b, env.vars);
      expect(await treeDigest(b)).toEqual(await treeDigest(a));
      const verified = await ok(['push', '--verify-remote'], a, env.vars);
      expect(verified.objects.uploaded).toBe(0);
      expect(verified.objects.present).toBe(total);
    } finally {
      await proxy.close();
      await env.cleanup();
    }
  });
});

if (!config) {
  describe('push killed with SIGKILL', () => {
    it.skip(`skipped: ${s3.skipReason}`, () => {});
  });
}
