import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureEnvironment } from './environment.js';

const base = mkdtempSync(join(tmpdir(), 'mlstore-env-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const SYSTEM = { platform: 'linux', arch: 'x64', node: 'v20.0.0' };
const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

describe('captureEnvironment', () => {
  it('hashes the lock files that are regular files, following symlinks (a monorepo\'s shared file too)', async () => {
    const repo = join(base, 'repo');
    mkdirSync(join(repo, 'deps'), { recursive: true });
    writeFileSync(join(repo, 'poetry.lock'), 'poetry');
    writeFileSync(join(repo, 'deps', 'prod.txt'), 'numpy==2\n');
    symlinkSync('deps/prod.txt', join(repo, 'requirements.txt'));
    writeFileSync(join(base, 'shared-uv.lock'), 'shared');
    symlinkSync(join(base, 'shared-uv.lock'), join(repo, 'uv.lock'));
    const env = await captureEnvironment([repo], SYSTEM);
    expect(env.components['file:poetry.lock']).toBe(sha('poetry'));
    expect(env.components['file:requirements.txt']).toBe(sha('numpy==2\n'));
    expect(env.components['file:uv.lock']).toBe(sha('shared'));
  });

  it('leaves out a FIFO, a device, a directory and a dangling link — without blocking', async () => {
    const repo = join(base, 'hostile');
    mkdirSync(join(repo, 'Dockerfile'), { recursive: true });
    execFileSync('mkfifo', [join(repo, 'poetry.lock')]); // a read would wait for a writer forever
    symlinkSync('/dev/zero', join(repo, 'requirements.txt')); // a read would never end
    symlinkSync('/dev/null', join(repo, 'requirements-dev.txt'));
    symlinkSync('nowhere', join(repo, 'uv.lock'));
    writeFileSync(join(repo, 'package-lock.json'), '{}');
    const env = await captureEnvironment([repo], SYSTEM);
    expect(Object.keys(env.components).filter((k) => k.startsWith('file:'))).toEqual(['file:package-lock.json']);
    expect(env.components['file:package-lock.json']).toBe(sha('{}'));
  });
});
