/**
 * `.mlstore/HEAD`: "ref: refs/heads/<branch>\n" on a branch, or "<commit id>\n" when detached
 * (after `checkout <id>` or `checkout <tag>`), exactly as in Git.
 */
import { readFile } from 'node:fs/promises';
import { MlstoreError, fromFsError } from '../errors.js';
import { isDigest } from '../core/digest.js';
import { parseFullRef } from '../model/ref-name.js';
import { writeFileAtomic } from './atomic-file.js';

export type Head = { kind: 'branch'; ref: string } | { kind: 'detached'; id: string };

export async function readHead(path: string): Promise<Head> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (e) {
    throw fromFsError(e, path, 'read');
  }
  const m = /^ref: (.+)$/.exec(text);
  if (m && parseFullRef(m[1]!)?.kind === 'heads') return { kind: 'branch', ref: m[1]! };
  if (isDigest(text)) return { kind: 'detached', id: text };
  throw new MlstoreError('BAD_CONFIG', `${path} is neither "ref: refs/heads/<branch>" nor a commit id`, {
    hint: 'Write "ref: refs/heads/main" into it to get back on the main branch.',
  });
}

export async function writeHead(path: string, head: Head): Promise<void> {
  await writeFileAtomic(path, head.kind === 'branch' ? `ref: ${head.ref}\n` : `${head.id}\n`);
}
