/**
 * The environment side of a commit's provenance: named components and their digest. Lock files
 * at the repository root (and at the Git root, if different) are hashed by content; OS, CPU
 * architecture and runtime versions are recorded as text. The digest changes exactly when one of
 * the components does, so two data versions built in the same environment share it.
 *
 * A lock file is hashed only if it is (or a symlink leads to) a regular file, and it is streamed,
 * never read whole: the repository may come from someone else, and a `requirements.txt` that is
 * a FIFO (the read blocks forever) or a symlink to /dev/zero (the read never ends) is left out of
 * the components. Symlinks to regular files elsewhere are followed: a monorepo's shared lock file
 * is part of the environment.
 */
import { readdir } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { hashRegularFile } from './hash-file.js';
import { environmentDigest, type Environment } from '../model/commit.js';

export const LOCK_FILES = [
  'requirements.txt',
  'poetry.lock',
  'uv.lock',
  'Pipfile.lock',
  'environment.yml',
  'conda-lock.yml',
  'package-lock.json',
  'pnpm-lock.yaml',
  'Dockerfile',
] as const;

export interface SystemInfo {
  platform: string;
  arch: string;
  node: string;
}

export async function captureEnvironment(dirs: readonly string[], system: SystemInfo): Promise<Environment> {
  const components: Record<string, string> = {
    os: system.platform,
    arch: system.arch,
    'runtime:node': system.node,
  };
  // Run in the repository root: version managers (pyenv, asdf) pick the project's Python from there.
  const python = await pythonVersion(dirs[0]);
  if (python) components['runtime:python'] = python;
  for (const dir of [...new Set(dirs)]) {
    for (const name of await lockFilesIn(dir)) {
      const key = `file:${name}`;
      if (components[key]) continue; // the repository root wins over the Git root
      const digest = await hashRegularFile(join(dir, name));
      if (digest) components[key] = `sha256:${digest}`;
    }
  }
  return { digest: environmentDigest(components), components };
}

async function lockFilesIn(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const wanted = new Set<string>(LOCK_FILES);
  return names.filter((n) => wanted.has(n) || /^requirements[\w.-]*\.txt$/.test(n)).sort();
}

function pythonVersion(cwd: string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('python3', ['--version'], { timeout: 20_000, ...(cwd ? { cwd } : {}) }, (err, stdout, stderr) => {
      if (err) return resolve(undefined);
      const text = `${stdout}${stderr}`.trim();
      resolve(/^Python (\S+)$/.exec(text)?.[1]);
    });
  });
}
