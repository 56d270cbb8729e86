/**
 * `.mlstore/config.json`: the format version, the chunking parameters (recorded so every later
 * add cuts files the same way, which is what makes versions deduplicate) and named remotes.
 */
import { readFile } from 'node:fs/promises';
import { MlstoreError, fromFsError } from '../errors.js';
import { READABLE_FORMATS } from './layout.js';
import { writeFileAtomic } from './atomic-file.js';

export interface ChunkingConfig {
  min: number;
  avg: number;
  max: number;
}

export interface RemoteConfig {
  url: string;
  /** Extra S3 settings: endpoint, region, pathStyle. */
  options?: Record<string, string | boolean>;
}

export interface RepoConfig {
  format: number;
  chunking: ChunkingConfig;
  remotes: Record<string, RemoteConfig>;
}

export const DEFAULT_CHUNKING: ChunkingConfig = { min: 256 * 1024, avg: 1024 * 1024, max: 4 * 1024 * 1024 };

export async function readConfig(path: string): Promise<RepoConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw fromFsError(e, path, 'read');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new MlstoreError('BAD_CONFIG', `${path} is not valid JSON`, { cause: e, hint: 'Fix or restore the file.' });
  }
  return validateConfig(raw, path);
}

export function validateConfig(raw: unknown, path: string): RepoConfig {
  const bad = (why: string) => new MlstoreError('BAD_CONFIG', `${path}: ${why}`, { details: { path } });
  if (!raw || typeof raw !== 'object') throw bad('not an object');
  const c = raw as Partial<RepoConfig>;
  if (typeof c.format !== 'number' || !READABLE_FORMATS.includes(c.format)) {
    throw new MlstoreError('UNSUPPORTED_FORMAT', `${path} has format ${String(c.format)}; this mlstore reads formats ${READABLE_FORMATS.join(' and ')}`, {
      hint: 'Upgrade mlstore to read this repository.',
    });
  }
  const ch = c.chunking;
  if (!ch || ![ch.min, ch.avg, ch.max].every((n) => Number.isSafeInteger(n) && n > 0) || !(ch.min < ch.avg && ch.avg < ch.max)) {
    throw bad('chunking must have integers min < avg < max');
  }
  const remotes = c.remotes ?? {};
  if (typeof remotes !== 'object') throw bad('remotes must be an object');
  return { format: c.format, chunking: { min: ch.min, avg: ch.avg, max: ch.max }, remotes };
}

export async function writeConfig(path: string, config: RepoConfig): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(config, null, 2)}\n`);
}
