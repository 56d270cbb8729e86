/**
 * The code state of a SHA-256 Git repository (`git init --object-format=sha256`), read with the
 * git binary. isomorphic-git reads SHA-1 repositories only: on these it failed with "Invalid
 * checksum in GitIndex buffer", and that stopped every `mlstore commit`. The commit format already
 * takes 64-hex Git ids (format.md). The dirty digest has the same shape as code-state.ts's —
 * every changed path, its status, and what it holds — with git's two-letter status in place of
 * isomorphic-git's triple; a repository always takes the same path, so its digests compare.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { MlstoreError } from '../errors.js';
import type { CodeState } from '../model/commit.js';
import { workdirDigest } from './workdir-digest.js';

/** Whether the repository whose common gitdir (the one holding its config) is `gitdir` uses SHA-256 object names. */
export function isSha256Repository(gitdir: string): boolean {
  try {
    return /^\s*objectformat\s*=\s*sha256\s*$/im.test(readFileSync(join(gitdir, 'config'), 'utf8'));
  } catch {
    return false;
  }
}

export async function readCodeStateWithGitBinary(dir: string, lockPath: string): Promise<CodeState> {
  const head = await gitOut(dir, ['rev-parse', '--verify', '--quiet', 'HEAD']).catch(() => '');
  const commit = /^[0-9a-f]{64}$/.test(head.trim()) ? head.trim() : null; // none yet: null
  // -z: paths verbatim; --no-optional-locks (in gitOut): status must not take the index lock to refresh it
  const status = await gitOut(dir, ['status', '--porcelain=v1', '-z', '--untracked-files=no']);
  const fields = status.split('\0');
  const changed: Array<[path: string, xy: string]> = [];
  for (let i = 0; i < fields.length; i++) {
    const entry = fields[i]!;
    if (entry.length < 4) continue;
    const xy = entry.slice(0, 2);
    if (xy[0] === 'R' || xy[0] === 'C') i++; // the next field is the old path
    const path = entry.slice(3);
    if (xy !== '??' && xy !== '!!' && path !== lockPath) changed.push([path, xy]);
  }
  if (changed.length === 0) return { commit, dirty: false, diff: null };
  const hash = createHash('sha256');
  for (const [path, xy] of changed.sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    hash.update(`${path}\0${xy}\0`);
    hash.update(await workdirDigest(join(dir, path)));
    hash.update('\n');
  }
  return { commit, dirty: true, diff: hash.digest('hex') };
}

function gitOut(dir: string, args: string[]): Promise<string> {
  return new Promise((done, fail) => {
    execFile(
      'git',
      ['--no-optional-locks', '-C', dir, ...args],
      { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) => {
        if (!err) return done(stdout);
        fail(
          new MlstoreError('IO_ERROR', `could not read the SHA-256 Git repository at ${dir} with git ${args[0]}: ${(stderr || err.message).trim()}`, {
            cause: err,
            details: { path: dir },
            hint: 'SHA-256 repositories are read with the git binary: install git (2.29 or later), or check the repository with `git status`.',
          }),
        );
      },
    );
  });
}
