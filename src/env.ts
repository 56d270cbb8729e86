/**
 * Injected effects: the clock, randomness and logging. Layers below `cli` never touch
 * `process`, `console` or `Date.now()` directly, so tests can pin time and capture output.
 */
import { randomBytes } from 'node:crypto';

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
}

/** Progress of long work (bytes/objects); the CLI renders it on stderr, the library ignores it by default. */
export interface ProgressEvent {
  phase: string;
  done: number;
  total?: number;
  bytes?: number;
  totalBytes?: number;
}

export interface Env {
  now(): Date;
  random(n: number): Uint8Array;
  log: Logger;
  progress?: (event: ProgressEvent) => void;
  /** Environment variables visible to mlstore (credentials, key paths); injected for tests. */
  vars: Readonly<Record<string, string | undefined>>;
  /** This process's id and a liveness probe for other pids (used by the repository lock). */
  pid: number;
  isAlive(pid: number): boolean;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {} };

export function defaultEnv(overrides: Partial<Env> = {}): Env {
  return {
    now: () => new Date(),
    random: (n) => new Uint8Array(randomBytes(n)),
    log: silentLogger,
    vars: globalThis.process?.env ?? {},
    pid: globalThis.process?.pid ?? 0,
    isAlive: (pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'EPERM';
      }
    },
    ...overrides,
  };
}
