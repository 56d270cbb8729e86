/** Helpers every command file uses: the working directory, global flags, common options. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export interface CommandIo extends CliIo {}

export interface Globals {
  dir: string;
  json: boolean;
  quiet: boolean;
}

export function globals(cmd: Command, io: CliIo): Globals {
  const opts = cmd.optsWithGlobals() as { C?: string; json?: boolean; quiet?: boolean };
  return { dir: resolve(io.cwd, opts.C ?? '.'), json: opts.json ?? false, quiet: opts.quiet ?? false };
}

/** The options every API call takes, from the CLI context. */
export function apiBase(g: Globals, io: CliIo): { dir: string; env: CliIo['env']; signal: AbortSignal } {
  return { dir: g.dir, env: io.env, signal: io.signal };
}

export const JSON_HELP = 'print one JSON document on stdout instead of text';

/** A file path from the command line, relative to the directory the user ran mlstore in. */
export function userPath(io: CliIo, path: string): string {
  return resolve(io.cwd, path);
}
