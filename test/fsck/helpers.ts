/**
 * Fixtures for the fsck tests: a small repository built through the CLI (two commits, a tag, a
 * nested directory, multi-chunk and one-chunk files), optionally pushed to a remote directory or
 * an S3 prefix, plus a `Target` that damages the store exactly where fsck will look (the local
 * .mlstore/, the remote directory, or the bucket through the S3 API).
 */
import { cp, mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { dirname, join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import { runCli, runJson } from '../helpers/cli.js';
import { newRepo, pseudoRandom, tempDir, writeFiles } from '../helpers/repo.js';
import { s3Env, type S3Env } from '../remote/helpers.js';
import type { S3TestConfig } from '../s3/s3-config.js';
import { Repository } from '../../src/repository/repository.js';
import { flattenTree } from '../../src/repository/tree-walk.js';
import { objectKey, signatureKey } from '../../src/repository/layout.js';
import { LocalBackend } from '../../src/storage/local-backend.js';
import { encodeCanonical } from '../../src/core/canonical-json.js';
import { encodeCommit, type Commit } from '../../src/model/commit.js';
import { ed25519Signer, encodeEnvelope, signCommit } from '../../src/trust/dsse.js';
import { keyIdOf } from '../../src/trust/keys.js';
import { emptyTrustList, trustKey, writeTrustList, TRUST_FILE_NAME } from '../../src/trust/trust-list.js';
import type { FsckReport, Problem } from '../../src/check/index.js';

export const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

export interface FileInfo {
  digest: string;
  size: number;
  manifest?: string;
  chunks: [id: string, size: number][];
}

export interface Fixture {
  dir: string;
  v1: string;
  v2: string;
  /** Tree ids: root of v2, and data/sub (same in both commits). */
  rootTree: string;
  subTree: string;
  /** Files of v2 by path. */
  files: Map<string, FileInfo>;
  /** Files of v1 by path. */
  filesV1: Map<string, FileInfo>;
}

/** v1: data/a.bin, data/b.txt, data/sub/c.bin; v2: b.txt changed, e.bin added. Tag v1 at v1. */
export async function buildFixture(): Promise<Fixture> {
  const dir = await newRepo();
  await writeFiles(dir, {
    'data/a.bin': pseudoRandom('a', 40_000),
    'data/b.txt': 'hello\n',
    'data/sub/c.bin': pseudoRandom('c', 30_000),
  });
  await ok(['add', 'data'], dir);
  await ok(['commit', '-m', 'v1'], dir);
  await ok(['tag', 'v1'], dir);
  await writeFiles(dir, { 'data/b.txt': 'hello again\n', 'data/e.bin': pseudoRandom('e', 20_000) });
  await ok(['add', 'data'], dir);
  await ok(['commit', '-m', 'v2'], dir);
  return describeRepo(dir);
}

export async function describeRepo(dir: string): Promise<Fixture> {
  const repo = await Repository.open(dir);
  try {
    const v2 = (await repo.headCommit())!;
    const c2 = await repo.readCommit(v2);
    const v1 = c2.parents[0]!;
    const filesOf = async (commit: string): Promise<Map<string, FileInfo>> => {
      const flat = await flattenTree(repo.objects, (await repo.readCommit(commit)).tree);
      const out = new Map<string, FileInfo>();
      for (const [path, e] of flat.files) {
        const chunks: [string, number][] = e.manifest ? (await repo.objects.readManifest(e.manifest)).chunks.map(([id, size]) => [id, size]) : [[e.digest, e.size]];
        out.set(path, { digest: e.digest, size: e.size, ...(e.manifest ? { manifest: e.manifest } : {}), chunks });
      }
      return out;
    };
    const root = await repo.objects.readTree(c2.tree);
    const data = root.entries.find((e) => e.name === 'data');
    const dataTree = await repo.objects.readTree((data as { id: string }).id);
    const sub = dataTree.entries.find((e) => e.name === 'sub') as { id: string };
    return { dir, v1, v2, rootTree: c2.tree, subTree: sub.id, files: await filesOf(v2), filesV1: await filesOf(v1) };
  } finally {
    await repo.close();
  }
}

export async function ok(args: string[], cwd: string, vars: Record<string, string> = {}): Promise<void> {
  const r = await runCli(args, { cwd, vars });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
}

/** Where fsck looks and how to damage it. */
export interface Target {
  name: string;
  /** Extra fsck arguments (`--remote …`). */
  args: string[];
  vars: Record<string, string>;
  read(key: string): Promise<Buffer>;
  write(key: string, bytes: Uint8Array): Promise<void>;
  remove(key: string): Promise<void>;
  /** Whether HEAD and mlstore.lock are roots (the local store). */
  local: boolean;
  /** For S3 targets: the client and where the store lives in the bucket. */
  s3?: { client: S3Env['client']; bucket: string; prefix: string };
}

export type TargetKind = 'local' | 'directory' | 's3';

/** A fresh copy of the fixture (repository, and the remote it was pushed to) for one test. */
export async function freshTarget(template: Fixture, kind: TargetKind, s3?: S3TestConfig): Promise<{ fx: Fixture; target: Target; cleanup: () => Promise<void> }> {
  const dir = await tempDir('mlstore-fsck-');
  await cp(template.dir, dir, { recursive: true });
  await rm(join(dir, '.mlstore', 'index'), { recursive: true, force: true });
  const fx = { ...template, dir };
  if (kind === 'local') {
    const base = join(dir, '.mlstore');
    return { fx, target: packedTarget(fileTarget('local', base, [], true), base), cleanup: async () => {} };
  }
  if (kind === 'directory') {
    const remote = join(dir, '..', `${dir.split('/').pop()}-remote`);
    await ok(['remote', 'add', 'origin', remote], dir);
    await ok(['push', 'origin', '--all'], dir);
    return { fx, target: fileTarget('directory', remote, ['--remote', 'origin'], false), cleanup: () => rm(remote, { recursive: true, force: true }) };
  }
  const env: S3Env = s3Env(s3!, 'fsck');
  await ok(['remote', 'add', 'origin', env.url, '--endpoint', s3!.endpoint, '--region', s3!.region, '--path-style'], dir);
  await ok(['push', 'origin', '--all'], dir, env.vars);
  const key = (k: string) => `${env.prefix}/${k}`;
  const target: Target = {
    name: 's3',
    args: ['--remote', 'origin'],
    vars: env.vars,
    local: false,
    s3: { client: env.client, bucket: s3!.bucket, prefix: env.prefix },
    async read(k) {
      const r = await env.client.send(new GetObjectCommand({ Bucket: s3!.bucket, Key: key(k) }));
      return Buffer.from(await r.Body!.transformToByteArray());
    },
    async write(k, bytes) {
      await env.client.send(new PutObjectCommand({ Bucket: s3!.bucket, Key: key(k), Body: bytes }));
    },
    async remove(k) {
      await env.client.send(new DeleteObjectCommand({ Bucket: s3!.bucket, Key: key(k) }));
    },
  };
  return { fx, target, cleanup: () => env.cleanup() };
}

function fileTarget(name: string, base: string, args: string[], local: boolean): Target {
  const path = (k: string) => join(base, ...k.split('/'));
  return {
    name,
    args,
    vars: {},
    local,
    read: (k) => readFile(path(k)),
    async write(k, bytes) {
      await mkdir(dirname(path(k)), { recursive: true });
      await rm(path(k), { force: true });
      await writeFile(path(k), bytes);
    },
    remove: (k) => unlink(path(k)),
  };
}

/**
 * The local store keeps small chunks in packs: damage goes to a loose file at the object's key
 * after the packed copy is taken out (LocalBackend.delete rewrites the pack without it), so fsck
 * sees exactly the damaged bytes; reads find the object wherever it is.
 */
function packedTarget(loose: Target, base: string): Target {
  const store = () => new LocalBackend(base, { packs: true });
  return {
    ...loose,
    async read(k) {
      return loose.read(k).catch(async () => Buffer.from(await store().get(k)));
    },
    async write(k, bytes) {
      await store().delete(k);
      await loose.write(k, bytes);
    },
    async remove(k) {
      const present = await store().stat(k);
      if (!present) throw Object.assign(new Error(`ENOENT: ${k}`), { code: 'ENOENT' });
      await store().delete(k);
    },
  };
}

export async function fsckJson(fx: Fixture, target: Target, extra: string[] = []): Promise<{ code: number; report: FsckReport; stderr: string }> {
  const r = await runJson<FsckReport>(['fsck', ...target.args, ...extra], { cwd: fx.dir, vars: target.vars });
  return { code: r.code, report: r.json, stderr: r.stderr };
}

/** Problems of a severity, as [code, id] pairs sorted, for exact assertions. */
export function codes(report: FsckReport, severity: Problem['severity'] = 'error'): [string, string | null][] {
  return report.problems
    .filter((p) => p.severity === severity)
    .map((p): [string, string | null] => [p.code, p.id])
    .sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : 1));
}

export function problem(report: FsckReport, code: string, id: string | null): Problem {
  const p = report.problems.find((x) => x.code === code && x.id === id);
  if (!p) throw new Error(`no ${code} problem for ${id}; problems: ${JSON.stringify(report.problems.map((x) => [x.code, x.id, x.detail]), null, 1)}`);
  return p;
}

export const chunkKey = (id: string) => objectKey('chunks', id);
export const metaKey = (id: string) => objectKey('meta', id);

/** The refs every root of the fixture's history shows up under, local or remote. */
export function refsOf(target: Target, ...names: string[]): string[] {
  return [...names, ...(target.local ? ['HEAD', 'mlstore.lock'] : [])].sort();
}

// ---- crafted objects ----

/** A canonical metadata object written straight into the store (bypassing the writers' checks). */
export async function putRawMeta(target: Target, value: unknown): Promise<string> {
  const bytes = encodeCanonical(value);
  const id = sha(bytes);
  await target.write(metaKey(id), bytes);
  return id;
}

/** A valid commit over `tree` (parents none) stored in the target, and a ref pointing at it. */
export async function putCommitAndRef(target: Target, tree: string, ref: string): Promise<string> {
  const commit: Commit = {
    type: 'commit', tree, parents: [], author: { name: 'Mallory', email: 'm@example.com' }, time: '2026-01-01T00:00:00Z',
    message: 'crafted', code: { commit: null, dirty: false, diff: null },
    environment: { digest: sha('{}'), components: {} }, inputs: [],
  };
  const bytes = encodeCommit(commit);
  const id = sha(bytes);
  await target.write(metaKey(id), bytes);
  await target.write(ref, new TextEncoder().encode(`${id}\n`));
  return id;
}

// ---- keys and signatures ----

export interface TestKey {
  id: string;
  publicKey: string;
  sign(commitBytes: Uint8Array): Uint8Array;
}

export function testKey(): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const id = keyIdOf(pem);
  const signer = ed25519Signer(id, privateKey);
  return { id, publicKey: pem, sign: (bytes) => encodeEnvelope(signCommit(bytes, signer)) };
}

export async function trustKeys(repoDir: string, keys: TestKey[]): Promise<void> {
  let list = emptyTrustList();
  keys.forEach((k, i) => (list = trustKey(list, { publicKey: k.publicKey, name: `key${i}` })));
  await writeTrustList(join(repoDir, TRUST_FILE_NAME), list);
}

/** Signs a stored commit with `key`, writing the envelope where the store keeps signatures. */
export async function signStored(target: Target, commitId: string, key: TestKey): Promise<void> {
  const bytes = await target.read(metaKey(commitId));
  await target.write(signatureKey(commitId, key.id), key.sign(bytes));
}
