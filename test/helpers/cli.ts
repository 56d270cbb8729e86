/**
 * Running the CLI the way a user does: `runCli` calls `run(argv, io)` from src/cli/main.ts
 * in-process with captured output; `spawnCli` starts the real `bin/mlstore` (built into dist/).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/main.js';
import { defaultEnv, type Env } from '../../src/env.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'mlstore');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  /** Extra environment variables (merged over the test defaults). */
  vars?: Record<string, string | undefined>;
  signal?: AbortSignal;
  env?: Partial<Env>;
}

/** Fixed author and no user-level git config, so commits do not depend on the machine. */
export const TEST_VARS: Record<string, string> = {
  MLSTORE_AUTHOR_NAME: 'Test User',
  MLSTORE_AUTHOR_EMAIL: 'test@example.com',
};

export async function runCli(args: readonly string[], options: RunOptions): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    cwd: options.cwd,
    stdout: { write: (s: string) => ((stdout += s), true) },
    stderr: { write: (s: string) => ((stderr += s), true) },
    env: defaultEnv({ vars: { ...process.env, ...TEST_VARS, ...options.vars }, ...options.env }),
    signal: options.signal ?? new AbortController().signal,
    system: { platform: process.platform, arch: process.arch, node: process.version },
  });
  return { code, stdout, stderr };
}

/** stdout must be exactly one JSON document: parse it, failing loudly otherwise. */
export function parseJson<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch (e) {
    throw new Error(`stdout is not one JSON document (exit ${r.code}):\n${r.stdout}\n--- stderr:\n${r.stderr}`, { cause: e });
  }
}

/** Runs with --json and returns the parsed document (and the exit code). */
export async function runJson<T = Record<string, any>>(args: readonly string[], options: RunOptions): Promise<{ code: number; json: T; stderr: string }> {
  const r = await runCli([...args, '--json'], options);
  return { code: r.code, json: parseJson<T>(r), stderr: r.stderr };
}

/** The error code of a failed `--json` run. */
export async function errorCodeOf(args: readonly string[], options: RunOptions): Promise<{ code: number; error: string | undefined; stderr: string }> {
  const r = await runJson<{ ok: boolean; error?: { code: string } }>(args, options);
  return { code: r.code, error: r.json.error?.code, stderr: r.stderr };
}

export interface Spawned {
  child: ChildProcess;
  done: Promise<CliResult & { signal: NodeJS.Signals | null }>;
  /** Everything printed so far (stdout then stderr). */
  output(): string;
}

export interface SpawnOptions {
  cwd: string;
  vars?: Record<string, string | undefined>;
  /** Run as another user (the tests run as root, which ignores file permissions). */
  uid?: number;
  gid?: number;
}

export function spawnCli(args: readonly string[], options: SpawnOptions): Spawned {
  ensureBuilt();
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...TEST_VARS, ...options.vars },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null }>((res, rej) => {
    child.on('error', rej);
    child.on('close', (code, signal) => res({ code: code ?? -1, signal, stdout, stderr }));
  });
  return { child, done, output: () => stdout + stderr };
}

export async function spawnCliDone(args: readonly string[], options: SpawnOptions) {
  return spawnCli(args, options).done;
}

let built = false;

/**
 * Makes sure dist/ (what bin/mlstore runs) is at least as new as src/. `npm test` builds first;
 * when a test file runs alone after a source change, this rebuilds once (under a lock directory,
 * since several test files may ask at the same time).
 */
export function ensureBuilt(): void {
  if (built) return;
  const distMain = join(ROOT, 'dist', 'cli', 'main.js');
  const lock = join(ROOT, 'dist', '.build-lock');
  for (let waited = 0; ; waited += 200) {
    if (existsSync(distMain) && newestMtime(join(ROOT, 'src')) <= statSync(distMain).mtimeMs) break;
    try {
      mkdirSync(dirname(lock), { recursive: true });
      mkdirSync(lock);
    } catch {
      if (waited > 180_000) throw new Error('timed out waiting for another test file to build dist/');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      continue;
    }
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
    } catch (e) {
      // A type error elsewhere still emits JavaScript; only a missing entry point is fatal.
      if (!existsSync(distMain)) throw e;
      process.stderr.write(`[test] tsc reported errors while building dist/ (continuing):\n${(e as { stdout?: Buffer }).stdout?.toString() ?? ''}\n`);
    } finally {
      rmdirSync(lock);
    }
    break;
  }
  built = true;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (ent.name.endsWith('.ts') && !ent.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}
