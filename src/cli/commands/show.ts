import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP } from './shared.js';
import { formatBytes, shortId, showPath, showText } from '../format.js';

export function registerShow(program: Command, io: CliIo): void {
  program
    .command('show')
    .description('show one version: provenance, signatures and files')
    .argument('[rev]', 'revision (default HEAD)', 'HEAD')
    .option('--json', JSON_HELP)
    .action(async (rev: string, _opts: unknown, cmd: Command) => {
      const { show } = await import('../../api/show.js'); // lazy: keeps `--help` and other commands fast
      const g = globals(cmd, io);
      const r = await show({ ...apiBase(g, io), rev });
      if (g.json) return printJson(io, { ok: true, ...r });
      const c = r.commit;
      println(io, `commit ${r.id}`);
      println(io, `tree        ${c.tree}`);
      for (const p of c.parents) println(io, `parent      ${p}`);
      println(io, `author      ${showText(c.author.name)} <${showText(c.author.email)}>`);
      println(io, `time        ${c.time}`);
      println(io, `code        ${c.code.commit ?? 'not in Git'}${c.code.dirty ? ` (dirty, changes ${shortId(c.code.diff ?? '')})` : ''}`);
      println(io, `environment ${c.environment.digest}`);
      for (const [k, v] of Object.entries(c.environment.components)) println(io, `  ${showText(k)} = ${showText(v)}`);
      for (const i of c.inputs) println(io, `input       ${i.commit}${i.path ? `:${showText(i.path)}` : ''}`);
      println(io, `signatures  ${r.signatures.length ? r.signatures.map(shortId).join(', ') : 'none'}`);
      println(io);
      for (const line of c.message.split('\n')) println(io, `    ${showText(line)}`);
      println(io);
      println(io, `${r.files.length} file(s), ${formatBytes(r.totalBytes)}:`);
      for (const f of r.files) println(io, `  ${f.digest.slice(0, 12)}  ${formatBytes(f.size).padStart(10)}  ${showPath(f.path)}`);
    });
}
