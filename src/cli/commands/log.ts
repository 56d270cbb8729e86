import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP } from './shared.js';
import { shortId, showText } from '../format.js';

export function registerLog(program: Command, io: CliIo): void {
  program
    .command('log')
    .description('list versions, newest first')
    .argument('[rev]', 'start from this revision (default HEAD)')
    .option('-n, --limit <n>', 'show at most n commits', (v) => Number.parseInt(v, 10))
    .option('--oneline', 'one line per commit')
    .option('--json', JSON_HELP)
    .addHelpText('after', '\nREV is a commit id or unique prefix, a branch, a tag, HEAD, or any of them with ~N.')
    .action(async (rev: string | undefined, opts: { limit?: number; oneline?: boolean }, cmd: Command) => {
      const { log } = await import('../../api/log.js'); // lazy: keeps `--help` and other commands fast
      const g = globals(cmd, io);
      const entries = await log({ ...apiBase(g, io), ...(rev ? { rev } : {}), ...(opts.limit ? { limit: opts.limit } : {}) });
      if (g.json) return printJson(io, { ok: true, commits: entries });
      for (const { id, commit, refs } of entries) {
        const decor = refs.length ? ` (${refs.join(', ')})` : '';
        if (opts.oneline) {
          println(io, `${shortId(id)}${decor} ${showText(commit.message.split('\n')[0]!)}`);
          continue;
        }
        println(io, `commit ${id}${decor}`);
        println(io, `Author: ${showText(commit.author.name)} <${showText(commit.author.email)}>`);
        println(io, `Date:   ${commit.time}`);
        println(io, `Code:   ${commit.code.commit ?? 'not in Git'}${commit.code.dirty ? ' (dirty)' : ''}`);
        for (const input of commit.inputs) println(io, `Input:  ${input.commit}${input.path ? `:${showText(input.path)}` : ''}`);
        println(io);
        for (const line of commit.message.split('\n')) println(io, `    ${showText(line)}`);
        println(io);
      }
    });
}
