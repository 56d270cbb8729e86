import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP } from './shared.js';
import { formatBytes, showPath } from '../format.js';

export function registerAdd(program: Command, io: CliIo): void {
  program
    .command('add')
    .description('track files or directories and store their content')
    .argument('<paths...>', 'files or directories (recursive) inside the repository')
    .option('--verify', 're-read every file even if the stat cache says it is unchanged, and replace damaged stored copies')
    .option('--json', JSON_HELP)
    .addHelpText(
      'after',
      `
add stores the content (chunks) and remembers the paths; \`commit\` then records a version of
everything tracked. New files that later appear under a tracked directory are picked up by the
next commit. Tracked paths are added to .gitignore so Git does not store the data.
Symlinks are never followed: inside directories they are skipped and reported.

--verify also compares every object the store already has for these files with the bytes just
read, and replaces a damaged copy (the bad bytes go to .mlstore/quarantine/): after \`fsck\`
reports a corrupt or missing chunk, \`add --verify\` of the files it names heals the store from
the workspace, without a remote.

Examples:
  mlstore add data/train data/val
  mlstore add "models/model v2.safetensors"`,
    )
    .action(async (paths: string[], opts: { verify?: boolean }, cmd: Command) => {
      const { add } = await import('../../api/add.js'); // lazy: keeps `--help` and other commands fast
      const g = globals(cmd, io);
      const result = await add({ ...apiBase(g, io), cwd: g.dir, paths, verify: opts.verify ?? false });
      if (g.json) return printJson(io, { ok: true, ...result });
      for (const s of result.skipped) io.stderr.write(`warning: skipped ${s.reason} ${showPath(s.path)}\n`);
      for (const h of result.healed) io.stderr.write(`warning: the stored ${h.kind} ${h.id} was damaged; replaced with the workspace's bytes (bad copy: .mlstore/${h.quarantined})\n`);
      if (g.quiet) return;
      println(io, `Added ${result.files} file(s), ${formatBytes(result.bytes)} (${result.read.files} read, ${result.files - result.read.files} unchanged).`);
      if (result.gitignore.length) println(io, `Added to .gitignore: ${result.gitignore.join(' ')}`);
      println(io, 'Run `mlstore commit -m "message"` to record this version.');
    });
}
