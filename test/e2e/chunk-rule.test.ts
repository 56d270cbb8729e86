/**
 * The cut rule recorded in config.json reaches the chunker through `mlstore add`: a new repository
 * records the current rule and cuts by it; a config without a rule (older repositories) keeps
 * cutting by the legacy rule, so its new versions still deduplicate against what it stored.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { newRepo, pseudoRandom, writeFiles } from '../helpers/repo.js';
import { storedKeys } from '../helpers/store.js';
import { chunkBytes, legacyCutRule, validateChunkParams, type ChunkParams } from '../../src/core/fastcdc.js';

const SMALL = validateChunkParams({ min: 1024, avg: 4096, max: 16384 }); // what newRepo's --chunk-* give
const BYTES = pseudoRandom('chunk-rule', 300_000);

function chunkIds(bytes: Uint8Array, params: ChunkParams): string[] {
  let prev = 0;
  return chunkBytes(bytes, params).map((c) => createHash('sha256').update(bytes.subarray(prev, (prev = c))).digest('hex'));
}

/** Chunk ids in the store, loose or packed (these small chunks are packed). */
async function storedChunks(repo: string): Promise<string[]> {
  return (await storedKeys(repo, 'chunks')).map((k) => k.split('/').slice(-2).join('')).sort();
}

async function addBig(repo: string): Promise<string[]> {
  await writeFiles(repo, { 'data/big.bin': BYTES });
  const r = await runCli(['add', 'data'], { cwd: repo });
  expect(r.code, r.stderr).toBe(0);
  return storedChunks(repo);
}

describe('e2e: the recorded cut rule', () => {
  it('init records the current rule in full, and add cuts by it', async () => {
    const repo = await newRepo();
    const cfg = JSON.parse(await readFile(join(repo, '.mlstore', 'config.json'), 'utf8'));
    expect(cfg.chunking).toEqual({ min: 1024, avg: 4096, max: 16384, normalization: 1, normalSize: 2560 });
    expect(await addBig(repo)).toEqual(chunkIds(BYTES, SMALL).sort());
  });

  it('a config without a rule keeps the legacy cuts', async () => {
    const repo = await newRepo();
    const path = join(repo, '.mlstore', 'config.json');
    const cfg = JSON.parse(await readFile(path, 'utf8'));
    delete cfg.chunking.normalization;
    delete cfg.chunking.normalSize;
    await writeFile(path, JSON.stringify(cfg));
    const legacy = { ...SMALL, ...legacyCutRule(SMALL.avg) };
    expect(chunkIds(BYTES, legacy)).not.toEqual(chunkIds(BYTES, SMALL)); // else this proves nothing
    expect(await addBig(repo)).toEqual(chunkIds(BYTES, legacy).sort());
  });
});
