import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type CliIo, println } from '../io.js';
import { apiBase, globals, userPath } from './shared.js';
import { shortId } from '../format.js';

export function registerAttest(program: Command, io: CliIo): void {
  program
    .command('attest')
    .description('emit a signed in-toto Statement (SLSA Provenance v1) for a version\'s files')
    .argument('[rev]', 'the version', 'HEAD')
    .option('--key <key>', 'key id, prefix or name (default: the default key)')
    .option('--key-file <file>', 'a private key file')
    .option('--code-repo <uri>', 'code repository URI, e.g. git+https://github.com/org/repo')
    .option('--store-uri <uri>', 'where the data lives, e.g. s3://bucket/prefix')
    .option('-o, --output <file>', 'write the DSSE envelope here instead of stdout')
    .addHelpText(
      'after',
      `
The output is a DSSE envelope (payloadType application/vnd.in-toto+json). Verify it with
  cosign verify-blob-attestation --key pub.pem --type slsaprovenance1 --signature att.json FILE
or by hand with openssl (docs/security.md).`,
    )
    .action(async (rev: string, opts: { key?: string; keyFile?: string; codeRepo?: string; storeUri?: string; output?: string }, cmd: Command) => {
      const g = globals(cmd, io);
      const { attest } = await import('../../api/attest.js');
      const r = await attest({
        ...apiBase(g, io),
        rev,
        ...(opts.key ? { key: opts.key } : {}),
        ...(opts.keyFile ? { keyFile: userPath(io, opts.keyFile) } : {}),
        ...(opts.codeRepo ? { codeRepository: opts.codeRepo } : {}),
        ...(opts.storeUri ? { storeUri: opts.storeUri } : {}),
      });
      const text = new TextDecoder().decode(r.bytes);
      if (opts.output) {
        await writeFile(resolve(io.cwd, opts.output), text.endsWith('\n') ? text : `${text}\n`);
        if (!g.quiet) println(io, `Wrote attestation for ${r.statement.subject.length} file(s), signed by ${shortId(r.keyId)}, to ${opts.output}`);
      } else {
        io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      }
    });
}
