/**
 * The CLI entry: commander wiring, one top-level catch that turns errors into exit codes, and
 * the only place that touches `process` (through bin/mlstore → `main`). `run` is what tests call
 * in-process with captured output.
 */
import { Command, CommanderError } from 'commander';
import { MlstoreError, isMlstoreError } from '../errors.js';
import { defaultEnv } from '../env.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import type { CliIo } from './io.js';
import { registerCommands } from './commands/index.js';
import { progressRenderer } from './progress.js';
import { ProblemsFound } from './problems-found.js';
import { showLines } from './format.js';

export const VERSION = '0.1.0';

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const program = new Command('mlstore');
  program
    .description('Version ML datasets and models like Git versions code: content-addressed chunks on disk or S3, signed commits, exact checkouts, fsck.')
    .version(VERSION, '-V, --version')
    .option('-C <dir>', 'run as if started in <dir>')
    .option('-q, --quiet', 'print only errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .addHelpText(
      'after',
      `
Exit codes: 0 ok · 1 problems found (corrupt/missing data, failed verification) · 2 usage error ·
3 could not run (I/O, remote unreachable, locked) · 130 interrupted.

Start here:
  mlstore init && mlstore add data/ && mlstore commit -m "first version"
  mlstore log            # versions, newest first
  mlstore checkout HEAD~1 # the previous version's exact bytes`,
    );
  const progress = progressRenderer(io.stderr);
  // Warnings (a rebuilt index, a remote without signed refs …) go to stderr, never to stdout.
  const log = {
    debug: (m: string) => void (io.env.vars['MLSTORE_DEBUG'] ? io.stderr.write(`debug: ${m}\n`) : undefined),
    info: (m: string) => void io.stderr.write(`${m}\n`),
    warn: (m: string) => void io.stderr.write(`warning: ${showLines(m)}\n`),
  };
  const env = { ...io.env, log, ...(progress.onProgress && !json ? { progress: progress.onProgress } : {}) };
  await registerCommands(program, { ...io, env }, argv);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (e) {
    progress.done();
    return report(e, io, json);
  } finally {
    progress.done();
  }
}

function report(e: unknown, io: CliIo, json: boolean): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK;
    if (e.exitCode === 0) return EXIT.OK;
    return EXIT.USAGE; // commander already printed the message
  }
  if (e instanceof ProblemsFound) return e.exitCode;
  const err = isMlstoreError(e)
    ? e
    : new MlstoreError('INTERNAL', `internal error: ${(e as Error)?.stack ?? String(e)}`, {
        hint: 'This is a bug in mlstore; please report it with the command you ran.',
      });
  if (json) io.stdout.write(`${JSON.stringify({ ok: false, error: err.toJSON() }, null, 2)}\n`);
  // messages quote names and remote answers: no raw control characters to the terminal (format.ts)
  io.stderr.write(`mlstore: error [${err.code}]: ${showLines(err.message)}\n`);
  if (err.hint) io.stderr.write(`hint: ${showLines(err.hint)}\n`);
  return exitCodeFor(err.code);
}

export { ProblemsFound };

/** The process entry point used by bin/mlstore. */
export async function main(): Promise<void> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    controller.abort(new MlstoreError('INTERRUPTED', 'interrupted'));
    if (interrupts > 1) process.exit(EXIT.INTERRUPTED);
  };
  // `mlstore log | head`: a closed pipe ends the output, not the process with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const code = await run(process.argv.slice(2), {
    cwd: process.cwd(),
    stdout: process.stdout,
    stderr: process.stderr,
    env: defaultEnv(),
    signal: controller.signal,
    system: { platform: process.platform, arch: process.arch, node: process.version },
  });
  process.exitCode = code;
}
