import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP } from './shared.js';
import { shortId, showPath } from '../format.js';

export function registerStatus(program: Command, io: CliIo): void {
  program
    .command('status')
    .description('show new, modified and deleted tracked files against the last commit')
    .option('--verify', 're-hash every file instead of trusting the stat cache')
    .option('--all', 'list every changed file (default: at most 50 per kind)')
    .option('--json', JSON_HELP)
    .addHelpText('after', '\nExit code is 0 whether or not there are changes; use --json and "clean" in scripts.')
    .action(async (opts: { verify?: boolean; all?: boolean }, cmd: Command) => {
      const { status } = await import('../../api/status.js'); // lazy: keeps `--help` and other commands fast
      const g = globals(cmd, io);
      const s = await status({ ...apiBase(g, io), verify: opts.verify ?? false });
      if (g.json) return printJson(io, { ok: true, ...s });
      for (const sk of s.skipped) io.stderr.write(`warning: skipped ${sk.reason} ${showPath(sk.path)}\n`);
      println(io, s.commit ? `On commit ${shortId(s.commit)}` : 'No commits yet');
      if (s.tracked.length === 0) return println(io, 'Nothing tracked yet. Use `mlstore add PATH…`.');
      if (s.clean) return println(io, 'Nothing changed.');
      const limit = opts.all ? Infinity : 50;
      for (const [label, list] of [['new:     ', s.new], ['modified:', s.modified], ['deleted: ', s.deleted]] as const) {
        for (const f of list.slice(0, limit)) println(io, `  ${label} ${showPath(f.path)}`);
        if (list.length > limit) println(io, `  … and ${list.length - limit} more ${label.trim().replace(':', '')} file(s) (--all or --json lists them)`);
      }
    });
}
