import type { Command } from 'commander';
import { MlstoreError } from '../../errors.js';
import type { CliIo } from '../io.js';
import { apiBase, globals, userPath } from './shared.js';
import { showText } from '../format.js';

const FORMATS = ['json', 'dot', 'mermaid', 'mlmd'] as const;

export function registerLineage(program: Command, io: CliIo): void {
  program
    .command('lineage')
    .description('the provenance graph of a version: inputs and parents, with code, environment and signature status')
    .argument('[rev]', 'the version to trace', 'HEAD')
    .option('--format <format>', `json | dot | mermaid | mlmd (ML Metadata artifacts/executions/events)`, 'json')
    .option('--no-parents', 'follow only --input edges, not history')
    .option('--max-nodes <n>', 'stop after this many commits', (v) => Number.parseInt(v, 10))
    .option('--trust-file <file>', 'trust file used for the signature status')
    .addHelpText('after', '\nExamples:\n  mlstore lineage model-v2 --format dot | dot -Tsvg > lineage.svg\n  mlstore lineage model-v2 --format mermaid')
    .action(async (rev: string, opts: { format: string; parents: boolean; maxNodes?: number; trustFile?: string }, cmd: Command) => {
      const g = globals(cmd, io);
      if (!(FORMATS as readonly string[]).includes(opts.format)) {
        throw new MlstoreError('USAGE', `unknown format ${JSON.stringify(opts.format)}`, { hint: `Use one of ${FORMATS.join(', ')}.` });
      }
      const { lineage } = await import('../../api/lineage.js');
      const r = await lineage({
        ...apiBase(g, io),
        rev,
        format: opts.format as (typeof FORMATS)[number],
        parents: opts.parents,
        ...(opts.maxNodes ? { maxNodes: opts.maxNodes } : {}),
        ...(opts.trustFile ? { trustFile: userPath(io, opts.trustFile) } : {}),
      });
      // DOT and Mermaid carry commit messages in labels: no raw control characters to a terminal
      const out = opts.format === 'dot' || opts.format === 'mermaid' ? r.output.split('\n').map(showText).join('\n') : r.output;
      io.stdout.write(out.endsWith('\n') ? out : `${out}\n`);
    });
}
