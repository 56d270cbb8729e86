/**
 * Every CLI command, in the order `--help` lists them. One register function per file, loaded
 * only when needed: a run of one command loads that command's file alone (its API code is loaded
 * by its action), since importing all of them cost ≈ 55 ms of CPU per run here; help, version, an
 * unknown command or anything else commander must judge by itself loads all of them.
 */
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

type Register = (program: Command, io: CliIo) => void;

const COMMANDS: readonly { names: readonly string[]; load: () => Promise<Register> }[] = [
  { names: ['init'], load: async () => (await import('./init.js')).registerInit },
  { names: ['add'], load: async () => (await import('./add.js')).registerAdd },
  { names: ['status'], load: async () => (await import('./status.js')).registerStatus },
  { names: ['commit'], load: async () => (await import('./commit.js')).registerCommit },
  { names: ['log'], load: async () => (await import('./log.js')).registerLog },
  { names: ['show'], load: async () => (await import('./show.js')).registerShow },
  { names: ['diff'], load: async () => (await import('./diff.js')).registerDiff },
  { names: ['branch', 'tag'], load: async () => (await import('./refs.js')).registerRefs },
  { names: ['checkout'], load: async () => (await import('./checkout.js')).registerCheckout },
  { names: ['key'], load: async () => (await import('./key.js')).registerKey },
  { names: ['sign'], load: async () => (await import('./sign.js')).registerSign },
  { names: ['verify'], load: async () => (await import('./verify.js')).registerVerify },
  { names: ['lineage'], load: async () => (await import('./lineage.js')).registerLineage },
  { names: ['attest'], load: async () => (await import('./attest.js')).registerAttest },
  { names: ['remote'], load: async () => (await import('./remote.js')).registerRemote },
  { names: ['push'], load: async () => (await import('./push.js')).registerPush },
  { names: ['fetch'], load: async () => (await import('./fetch.js')).registerFetch },
  { names: ['pull'], load: async () => (await import('./pull.js')).registerPull },
  { names: ['fsck'], load: async () => (await import('./fsck.js')).registerFsck },
];

/** Registers the command `argv` runs, or every command when that is not plain to see. */
export async function registerCommands(program: Command, io: CliIo, argv?: readonly string[]): Promise<void> {
  const name = argv === undefined ? undefined : commandName(argv);
  const one = COMMANDS.filter((c) => name !== undefined && c.names.includes(name));
  const chosen = one.length > 0 ? one : COMMANDS;
  const registers = await Promise.all(chosen.map((c) => c.load()));
  for (const register of registers) register(program, io);
}

/** Short options of the program itself that take no value (-C takes one). */
const PROGRAM_FLAGS = new Set(['q', 'V', 'h']);

/**
 * The first operand of the program: the command name, when the program options before it are
 * ones this knows (-C DIR, -CDIR, -q, -V, -h, their long forms, or clusters such as -qC DIR).
 * A guess is safe: a name that is not a command means registering them all.
 */
export function commandName(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return undefined;
    if (!arg.startsWith('-') || arg === '-') return arg;
    if (arg.startsWith('--')) continue; // --quiet, --version, --help: no value
    const cluster = arg.slice(1);
    const c = cluster.indexOf('C');
    if (c < 0) continue; // -q, -qV …
    if (![...cluster.slice(0, c)].every((f) => PROGRAM_FLAGS.has(f))) return undefined;
    if (c === cluster.length - 1) i++; // -C DIR, -qC DIR: the next argument is the directory
  }
  return undefined;
}
