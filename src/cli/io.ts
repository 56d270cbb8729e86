/** What a CLI run talks to; injected so tests run commands in-process and capture output. */
import type { Env } from '../env.js';

export interface CliIo {
  cwd: string;
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: Env;
  signal: AbortSignal;
  system: { platform: string; arch: string; node: string };
}

export interface GlobalFlags {
  json?: boolean;
  quiet?: boolean;
  C?: string;
}

/** Writes one JSON document to stdout (the only thing --json prints there). */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function println(io: CliIo, line = ''): void {
  io.stdout.write(`${line}\n`);
}
