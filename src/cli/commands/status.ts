import type { Command } from 'commander';
import { status } from '../../api/status.js';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP } from './shared.js';
import { shortId, showPath } from '../format.js';

export function registerStatus(program: Command, io: CliIo): void {
  program
    .command('status')
    .description('show new, modified and deleted tracked files against the last commit')
    .option('--verify', 're-hash every file instead of trusting the stat cache')
    .option('--json', JSON_HELP)
    .addHelpText('after', '\nExit code is 0 whether or not there are changes; use --json and "clean" in scripts.')
    .action(async (opts: { verify?: boolean }, cmd: Command) => {
      const g = globals(cmd, io);
      const s = await status({ ...apiBase(g, io), verify: opts.verify ?? false });
      if (g.json) return printJson(io, { ok: true, ...s });
      for (const sk of s.skipped) io.stderr.write(`warning: skipped ${sk.reason} ${showPath(sk.path)}\n`);
      println(io, s.commit ? `On commit ${shortId(s.commit)}` : 'No commits yet');
      if (s.tracked.length === 0) return println(io, 'Nothing tracked yet. Use `mlstore add PATH…`.');
      if (s.clean) return println(io, 'Nothing changed.');
      for (const f of s.new) println(io, `  new:      ${showPath(f.path)}`);
      for (const f of s.modified) println(io, `  modified: ${showPath(f.path)}`);
      for (const f of s.deleted) println(io, `  deleted:  ${showPath(f.path)}`);
    });
}
