import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP } from './shared.js';
import { formatBytes, showPath } from '../format.js';

export function registerDiff(program: Command, io: CliIo): void {
  program
    .command('diff')
    .description('files added, removed and changed between two versions (or a version and the workspace)')
    .argument('<rev>', 'the older version')
    .argument('[rev2]', 'the newer version (default: the workspace)')
    .option('--json', JSON_HELP)
    .addHelpText('after', '\nExamples:\n  mlstore diff HEAD~1 HEAD\n  mlstore diff v1          # v1 against the files on disk')
    .action(async (from: string, to: string | undefined, _opts: unknown, cmd: Command) => {
      const { diff } = await import('../../api/diff.js'); // lazy: keeps `--help` and other commands fast
      const g = globals(cmd, io);
      const d = await diff({ ...apiBase(g, io), from, ...(to ? { to } : {}) });
      if (g.json) return printJson(io, { ok: true, ...d });
      for (const f of d.added) println(io, `A  ${showPath(f.path)}  (${formatBytes(f.size)})`);
      for (const f of d.removed) println(io, `D  ${showPath(f.path)}  (${formatBytes(f.oldSize ?? 0)})`);
      for (const f of d.changed) println(io, `M  ${showPath(f.path)}  (${formatBytes(f.oldSize ?? 0)} → ${formatBytes(f.size)})`);
      if (!d.added.length && !d.removed.length && !d.changed.length) println(io, 'No differences.');
    });
}
