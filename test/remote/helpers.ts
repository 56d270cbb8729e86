/**
 * Helpers for the remote tests: the CLI run in-process the way a user runs it, small datasets,
 * the S3 test server (from test/s3/global-setup.ts) with a fresh prefix per test, and a fault
 * proxy that sits between mlstore and radosgw and can throttle, reset, truncate, corrupt, delay
 * or refuse chosen requests while recording every request it saw.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, Agent, type IncomingMessage, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo, Socket } from 'node:net';
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { run } from '../../src/cli/main.js';
import { defaultEnv } from '../../src/env.js';
import { s3Config, type S3TestConfig } from '../s3/s3-config.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'mlstore');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const BASE_VARS: Record<string, string> = {
  MLSTORE_AUTHOR_NAME: 'Test User',
  MLSTORE_AUTHOR_EMAIL: 'test@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
};

/** `mlstore ARGS` in-process with captured output; `vars` is the whole environment mlstore sees. */
export async function cli(args: readonly string[], cwd: string, vars: Record<string, string | undefined> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    cwd,
    stdout: { write: (s: string) => ((stdout += s), true) },
    stderr: { write: (s: string) => ((stderr += s), true) },
    env: defaultEnv({ vars: { PATH: process.env.PATH, HOME: process.env.HOME, ...BASE_VARS, ...vars } }),
    signal: new AbortController().signal,
    system: { platform: process.platform, arch: process.arch, node: process.version },
  });
  return { code, stdout, stderr };
}

/** Runs with --json; fails the test with the output when stdout is not one JSON document. */
export async function cliJson<T = any>(args: readonly string[], cwd: string, vars: Record<string, string | undefined> = {}): Promise<{ code: number; json: T; stderr: string }> {
  const r = await cli([...args, '--json'], cwd, vars);
  try {
    return { code: r.code, json: JSON.parse(r.stdout) as T, stderr: r.stderr };
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  }
}

/** Like cliJson, but the command must succeed. */
export async function ok<T = any>(args: readonly string[], cwd: string, vars: Record<string, string | undefined> = {}): Promise<T> {
  const r = await cliJson<T>(args, cwd, vars);
  if (r.code !== 0) throw new Error(`mlstore ${args.join(' ')} exited ${r.code}: ${JSON.stringify(r.json)}\n${r.stderr}`);
  return r.json;
}

export async function tempDir(prefix = 'mlstore-remote-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Deterministic pseudo-random bytes (a seeded SHA-256 stream), incompressible and reproducible. */
export function bytesFor(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let off = 0;
  for (let i = 0; off < size; i++) {
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    off += block.copy(out, off);
  }
  return out;
}

/** Writes files (repo-relative path → bytes or size) under `dir`. */
export async function writeFiles(dir: string, files: Record<string, Buffer | string | number>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, typeof content === 'number' ? bytesFor(path, content) : content);
  }
}

/** init + write + add + commit in a new directory; returns the directory and the commit id. */
export async function makeRepo(dir: string, files: Record<string, Buffer | string | number>, vars: Record<string, string | undefined> = {}, init: string[] = []): Promise<{ dir: string; id: string }> {
  await mkdir(dir, { recursive: true });
  await ok(['init', ...init], dir, vars);
  await writeFiles(dir, files);
  const roots = [...new Set(Object.keys(files).map((p) => p.split('/')[0]!))];
  await ok(['add', ...roots], dir, vars);
  const c = await ok<{ id: string }>(['commit', '-m', 'v1', '--no-sign'], dir, vars);
  return { dir, id: c.id };
}

export async function commitFiles(dir: string, files: Record<string, Buffer | string | number>, message: string, vars: Record<string, string | undefined> = {}): Promise<string> {
  await writeFiles(dir, files);
  const roots = [...new Set(Object.keys(files).map((p) => p.split('/')[0]!))];
  await ok(['add', ...roots], dir, vars);
  return (await ok<{ id: string }>(['commit', '-m', message, '--no-sign'], dir, vars)).id;
}

/** Every file under `dir` (relative path → sha256), skipping .mlstore and mlstore.lock/.gitignore. */
export async function treeDigest(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (rel === '.mlstore' || rel === 'mlstore.lock' || rel === '.gitignore') continue;
      if (e.isDirectory()) await walk(p);
      else out[rel] = createHash('sha256').update(await readFile(p)).digest('hex');
    }
  };
  await walk(dir);
  return out;
}

/** Every file key under a directory remote (relative paths). */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

// ---- S3 ----

export const s3 = s3Config();

export interface S3Env {
  config: S3TestConfig;
  /** A fresh prefix for this test (no trailing slash). */
  prefix: string;
  url: string;
  vars: Record<string, string>;
  client: S3Client;
  /** Keys under the prefix (relative to it). */
  keys(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export function s3Env(config: S3TestConfig, name: string): S3Env {
  const prefix = `${name}-${randomBytes(5).toString('hex')}`;
  const client = new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: true,
    credentials: { accessKeyId: config.accessKey, secretAccessKey: config.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const keys = async (): Promise<string[]> => {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: config.bucket, Prefix: `${prefix}/`, ...(token ? { ContinuationToken: token } : {}) }));
      for (const o of page.Contents ?? []) out.push(o.Key!.slice(prefix.length + 1));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  };
  return {
    config,
    prefix,
    url: `s3://${config.bucket}/${prefix}`,
    vars: { AWS_ACCESS_KEY_ID: config.accessKey, AWS_SECRET_ACCESS_KEY: config.secretKey },
    client,
    keys,
    async cleanup() {
      const all = await keys().catch(() => []);
      for (let i = 0; i < all.length; i += 1000) {
        await client
          .send(new DeleteObjectsCommand({ Bucket: config.bucket, Delete: { Objects: all.slice(i, i + 1000).map((k) => ({ Key: `${prefix}/${k}` })) } }))
          .catch(() => {});
      }
      client.destroy();
    },
  };
}

// ---- fault proxy ----

export type Fault =
  | { kind: 'status'; status: number; code: string }
  | { kind: 'reset' }
  | { kind: 'truncate' }
  | { kind: 'corrupt' }
  | { kind: 'delay'; ms: number };

export interface ProxyRequest {
  method: string;
  /** Object key relative to the test prefix ('' for bucket-level requests). */
  key: string;
  /** How many earlier requests had the same method and key. */
  attempt: number;
}

export interface ProxyLogEntry extends ProxyRequest {
  status: number | 'reset' | 'truncated';
  fault?: Fault['kind'];
  /** PUT only: the x-amz-checksum-sha256 header sent, and the base64 SHA-256 of the body received. */
  checksum?: string;
  bodySha256?: string;
  /** Event order: when the request arrived, and when the server's answer came back. */
  start: number;
  end?: number;
}

export interface FaultProxy {
  endpoint: string;
  log: ProxyLogEntry[];
  /** Decides a fault per request; undefined forwards it untouched. */
  rule: (r: ProxyRequest) => Fault | undefined;
  close(): Promise<void>;
}

export const slowDown: Fault = { kind: 'status', status: 503, code: 'SlowDown' };

/** A transparent HTTP proxy to `target` (SigV4 survives: the Host header is passed through). */
export async function startFaultProxy(target: string, prefix: string, bucket: string): Promise<FaultProxy> {
  const up = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 128 });
  const counts = new Map<string, number>();
  let seq = 0;
  const sockets = new Set<Socket>();
  const proxy: FaultProxy = { endpoint: '', log: [], rule: () => undefined, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
      const base = `/${bucket}/${prefix}/`;
      const key = path.startsWith(base) ? path.slice(base.length) : '';
      const id = `${req.method} ${key}`;
      const attempt = counts.get(id) ?? 0;
      counts.set(id, attempt + 1);
      const r: ProxyRequest = { method: req.method ?? 'GET', key, attempt };
      const fault = proxy.rule(r);
      const entry: ProxyLogEntry = { ...r, status: 0, start: ++seq, ...(fault ? { fault: fault.kind } : {}) };
      if (req.method === 'PUT') {
        const sent = req.headers['x-amz-checksum-sha256'];
        if (typeof sent === 'string') entry.checksum = sent;
        entry.bodySha256 = createHash('sha256').update(body).digest('base64');
      }
      proxy.log.push(entry);
      if (fault?.kind === 'status') {
        entry.status = fault.status;
        res.writeHead(fault.status, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message><RequestId>test</RequestId></Error>`);
        return;
      }
      if (fault?.kind === 'reset') {
        entry.status = 'reset';
        req.socket.destroy();
        return;
      }
      const forward = (): void => {
        const headers = { ...req.headers };
        delete headers['expect'];
        delete headers['connection'];
        const upstream = httpRequest(
          { host: up.hostname, port: up.port, method: req.method, path: req.url, headers, agent },
          (ures: IncomingMessage) => {
            entry.status = ures.statusCode ?? 0;
            entry.end = ++seq;
            const isBody = req.method === 'GET' && ures.statusCode === 200;
            if (isBody && (fault?.kind === 'truncate' || fault?.kind === 'corrupt')) {
              const parts: Buffer[] = [];
              ures.on('data', (c: Buffer) => parts.push(c));
              ures.on('end', () => {
                const full = Buffer.concat(parts);
                res.writeHead(ures.statusCode!, ures.headers);
                if (fault.kind === 'truncate') {
                  entry.status = 'truncated';
                  res.write(full.subarray(0, Math.floor(full.length / 2)));
                  setTimeout(() => res.socket?.destroy(), 5);
                } else {
                  const bad = Buffer.from(full);
                  if (bad.length > 0) bad[bad.length >> 1]! ^= 0xff;
                  res.end(bad);
                }
              });
              return;
            }
            res.writeHead(ures.statusCode ?? 502, ures.headers);
            ures.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(body);
      };
      if (fault?.kind === 'delay') setTimeout(forward, fault.ms);
      else forward();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    agent.destroy();
  };
  return proxy;
}

/** A deterministic "share" of keys: those whose SHA-256 starts with a byte below share·256. */
export function inShare(key: string, share: number): boolean {
  return createHash('sha256').update(key).digest()[0]! < share * 256;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
