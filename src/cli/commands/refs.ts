import type { Command } from 'commander';
import type { RefInfo } from '../../api/branch.js';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP } from './shared.js';
import { shortId } from '../format.js';

export function registerRefs(program: Command, io: CliIo): void {
  for (const kind of ['branch', 'tag'] as const) {
    program
      .command(kind)
      .description(kind === 'branch' ? 'list, create or delete branches' : 'list, create or delete tags (tags never move)')
      .argument('[name]', `create a ${kind} with this name`)
      .argument('[rev]', 'at this revision (default HEAD)')
      .option('-d, --delete <name>', `delete a ${kind}`)
      .option('--json', JSON_HELP)
      .addHelpText('after', `\nExamples:\n  mlstore ${kind}\n  mlstore ${kind} ${kind === 'tag' ? 'dataset-v1' : 'experiment'} HEAD~2`)
      .action(async (name: string | undefined, rev: string | undefined, opts: { delete?: string }, cmd: Command) => {
        const g = globals(cmd, io);
        const { branch, tag } = await import('../../api/branch.js');
        const fn = kind === 'branch' ? branch : tag;
        const refs: RefInfo[] = await fn({ ...apiBase(g, io), ...(name ? { create: name } : {}), ...(rev ? { rev } : {}), ...(opts.delete ? { delete: opts.delete } : {}) });
        if (g.json) return printJson(io, { ok: true, [kind === 'branch' ? 'branches' : 'tags']: refs });
        if (name || opts.delete) return;
        for (const r of refs) println(io, `${r.current ? '*' : ' '} ${r.name.padEnd(24)} ${shortId(r.id)}`);
      });
  }
}
