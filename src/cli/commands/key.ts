import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type CliIo, printJson, println } from '../io.js';
import { globals, JSON_HELP, userPath } from './shared.js';
import { MlstoreError } from '../../errors.js';

export function registerKey(program: Command, io: CliIo): void {
  const key = program
    .command('key')
    .description('manage signing keys (private keys stay in your config dir) and the trust file')
    .addHelpText(
      'after',
      `
Private keys live outside the repository: $MLSTORE_CONFIG_DIR, $XDG_CONFIG_HOME/mlstore or
~/.config/mlstore (mode 0600). CI can pass a key as MLSTORE_SIGNING_KEY (PEM text) or
MLSTORE_SIGNING_KEY_FILE. The trust file mlstore-trust.json at the repository root lists who may
sign; review it like code. See docs/security.md.

Example:
  mlstore key generate --name alice
  mlstore key export alice > alice.pub.pem
  mlstore key trust alice.pub.pem --name alice --scope 'refs/heads/*'
  git add mlstore-trust.json && git commit -m "trust alice"`,
    );

  key
    .command('generate')
    .description('create an Ed25519 signing key (the first one becomes the default)')
    .option('--name <name>', 'a name for the key')
    .option('--passphrase-file <file>', 'encrypt the private key with the passphrase in this file')
    .option('--default', 'make it the default signing key')
    .option('--json', JSON_HELP)
    .action(async (opts: { name?: string; passphraseFile?: string; default?: boolean }, cmd: Command) => {
      const g = globals(cmd, io);
      const { keyGenerate } = await import('../../api/key.js');
      const passphrase = opts.passphraseFile ? (await readFile(resolve(io.cwd, opts.passphraseFile), 'utf8')).replace(/\r?\n$/, '') : undefined;
      const info = await keyGenerate({ env: io.env, ...(opts.name ? { name: opts.name } : {}), ...(passphrase ? { passphrase } : {}), ...(opts.default ? { setDefault: true } : {}) });
      if (g.json) return printJson(io, { ok: true, key: info });
      println(io, `Generated key ${info.id} (${info.name})${info.isDefault ? ', the default signing key' : ''}`);
      println(io, `Private key: ${info.file} (0600). Share the public key: mlstore key export ${info.name}`);
    });

  key
    .command('list')
    .description('list your signing keys')
    .option('--json', JSON_HELP)
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globals(cmd, io);
      const { keyList } = await import('../../api/key.js');
      const keys = await keyList({ env: io.env });
      if (g.json) return printJson(io, { ok: true, keys });
      if (keys.length === 0) return println(io, 'No keys. Create one with `mlstore key generate --name NAME`.');
      for (const k of keys) println(io, `${k.isDefault ? '*' : ' '} ${k.id.slice(0, 16)}  ${k.name}${k.encrypted ? ' (encrypted)' : ''}  ${k.created}`);
    });

  key
    .command('export')
    .description('print a public key (PEM) on stdout')
    .argument('[key]', 'key id, id prefix or name (default: the default key)')
    .action(async (keyRef: string | undefined) => {
      const { keyExport } = await import('../../api/key.js');
      io.stdout.write(await keyExport({ env: io.env, ...(keyRef ? { key: keyRef } : {}) }));
    });

  key
    .command('trust')
    .description('add a public key to the trust file (mlstore-trust.json)')
    .argument('<pem>', 'a public key PEM file')
    .requiredOption('--name <name>', 'who the key belongs to')
    .option('--expires <iso>', 'signatures by this key stop counting after this time')
    .option('--scope <pattern>', 'refs the key may sign, e.g. refs/heads/main or refs/tags/* (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--trust-file <file>', 'another trust file (default $MLSTORE_TRUST_FILE or ./mlstore-trust.json)')
    .option('--json', JSON_HELP)
    .action(async (pem: string, opts: { name: string; expires?: string; scope: string[]; trustFile?: string }, cmd: Command) => {
      const g = globals(cmd, io);
      const { keyTrust } = await import('../../api/key.js');
      const publicKeyPem = await readFile(resolve(io.cwd, pem), 'utf8').catch((e: unknown) => {
        throw new MlstoreError('BAD_PATH', `cannot read ${pem}: ${(e as Error).message}`);
      });
      const r = await keyTrust({
        dir: g.dir,
        env: io.env,
        publicKeyPem,
        name: opts.name,
        ...(opts.expires ? { expires: opts.expires } : {}),
        ...(opts.scope.length ? { scope: opts.scope } : {}),
        ...(opts.trustFile ? { trustFile: userPath(io, opts.trustFile) } : {}),
      });
      if (g.json) return printJson(io, { ok: true, id: r.id, trustFile: r.trustFile });
      println(io, `Trusted ${r.id} as ${opts.name} in ${r.trustFile}. Commit that file to Git.`);
    });

  key
    .command('untrust')
    .description('remove a key from the trust file (revocation: its signatures stop counting)')
    .argument('<key>', 'key id, id prefix or name')
    .option('--trust-file <file>', 'another trust file')
    .option('--json', JSON_HELP)
    .action(async (keyRef: string, opts: { trustFile?: string }, cmd: Command) => {
      const g = globals(cmd, io);
      const { keyUntrust } = await import('../../api/key.js');
      const r = await keyUntrust({ dir: g.dir, env: io.env, key: keyRef, ...(opts.trustFile ? { trustFile: userPath(io, opts.trustFile) } : {}) });
      if (g.json) return printJson(io, { ok: true, id: r.id, trustFile: r.trustFile });
      println(io, `Removed ${r.id} from ${r.trustFile}. Commit that file to Git.`);
    });
}
