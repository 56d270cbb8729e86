/**
 * `.mlstore/config.json`: the format version, the chunking parameters (recorded so every later
 * add cuts files the same way, which is what makes versions deduplicate) and named remotes.
 *
 * The cut rule (`normalization`, `normalSize`) was added to `chunking` after the first
 * repositories were made: a config without it means the rule those repositories were cut with
 * (`legacyCutRule`), so their next versions still deduplicate against what is stored. New
 * repositories record theirs explicitly.
 */
import { readFile } from 'node:fs/promises';
import { legacyCutRule, type ChunkParams } from '../core/fastcdc.js';
import { MlstoreError, fromFsError } from '../errors.js';
import { READABLE_FORMATS } from './layout.js';
import { writeFileAtomic } from './atomic-file.js';

export type ChunkingConfig = { -readonly [K in keyof ChunkParams]: ChunkParams[K] };

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
  const ch = c.chunking as Partial<Record<keyof ChunkingConfig, unknown>> | undefined;
  const int = (n: unknown): n is number => Number.isSafeInteger(n);
  if (!ch || !int(ch.min) || !int(ch.avg) || !int(ch.max) || !(0 < ch.min && ch.min < ch.avg && ch.avg < ch.max)) {
    throw bad('chunking must have integers min < avg < max');
  }
  if (ch.normalization === undefined && ch.normalSize === undefined) {
    return { format: c.format, chunking: { min: ch.min, avg: ch.avg, max: ch.max, ...legacyCutRule(ch.avg) }, remotes: remotesOf(c, bad) };
  }
  if (!int(ch.normalization) || !int(ch.normalSize)) throw bad('chunking must have integers normalization and normalSize, or neither');
  const chunking = { min: ch.min, avg: ch.avg, max: ch.max, normalization: ch.normalization, normalSize: ch.normalSize };
  return { format: c.format, chunking, remotes: remotesOf(c, bad) };
}

function remotesOf(c: Partial<RepoConfig>, bad: (why: string) => MlstoreError): Record<string, RemoteConfig> {
  const remotes = c.remotes ?? {};
  if (typeof remotes !== 'object') throw bad('remotes must be an object');
  return remotes;
}

export async function writeConfig(path: string, config: RepoConfig): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(config, null, 2)}\n`);
}
