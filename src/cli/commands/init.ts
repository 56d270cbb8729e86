import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { globals, JSON_HELP } from './shared.js';
import { formatBytes } from '../format.js';
import { parseSize } from './parse-size.js';

export function registerInit(program: Command, io: CliIo): void {
  program
    .command('init')
    .description('create an mlstore repository (.mlstore/) in the current directory')
    .option('--chunk-min <size>', 'smallest chunk, e.g. 256KiB (default 256KiB)')
    .option('--chunk-avg <size>', 'average chunk, a power of two (default 1MiB)')
    .option('--chunk-max <size>', 'largest chunk (default 4MiB)')
    .option('--json', JSON_HELP)
    .addHelpText(
      'after',
      `
Chunk sizes are recorded in .mlstore/config.json and used for every later add: smaller chunks
deduplicate small edits better but make more objects.

Example:
  mlstore init
  mlstore init --chunk-avg 256KiB --chunk-min 64KiB --chunk-max 1MiB`,
    )
    .action(async (opts: { chunkMin?: string; chunkAvg?: string; chunkMax?: string }, cmd: Command) => {
      const { init } = await import('../../api/init.js'); // lazy: keeps `--help` and other commands fast
      const g = globals(cmd, io);
      const chunking = {
        ...(opts.chunkMin ? { min: parseSize(opts.chunkMin) } : {}),
        ...(opts.chunkAvg ? { avg: parseSize(opts.chunkAvg) } : {}),
        ...(opts.chunkMax ? { max: parseSize(opts.chunkMax) } : {}),
      };
      const result = await init({ dir: g.dir, chunking, env: io.env });
      if (g.json) return printJson(io, { ok: true, ...result });
      if (!g.quiet) {
        const c = result.chunking;
        println(io, `Initialized mlstore repository in ${result.root}/.mlstore (chunks ${formatBytes(c.min)} / ${formatBytes(c.avg)} / ${formatBytes(c.max)})`);
      }
    });
}
