/**
 * A small pool of fsck threads (see hash-worker.ts), one per core by default. Threads start
 * lazily, are unref'd while idle so they never keep the process alive, and are terminated by
 * `close()`. In inline mode (TypeScript source under vitest, or `threads: 0`) jobs run in the
 * main thread, one per macrotask, with the very same job function.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { MlstoreError } from '../errors.js';
import { HASH_WORKER_MARK, runHashJob, type HashJob, type HashJobResult } from './hash-worker.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './hash-worker.ts' : './hash-worker.js', import.meta.url);

export interface HashPoolOptions {
  /** Threads; default os.availableParallelism(). 0 means inline. */
  threads?: number;
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (r: HashJobResult) => void; reject: (e: unknown) => void }>;
}

export class HashPool {
  readonly threads: number;
  readonly inline: boolean;
  #slots: Slot[] = [];
  #nextId = 1;

  constructor(options: HashPoolOptions = {}) {
    const t = options.threads ?? availableParallelism();
    this.inline = t === 0 || FROM_SOURCE;
    this.threads = this.inline ? 1 : Math.max(1, Math.floor(t));
  }

  run<R extends HashJobResult>(job: HashJob, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.inline) {
      return new Promise((resolve, reject) => {
        setImmediate(() => {
          try {
            resolve(runHashJob(job) as R);
          } catch (e) {
            reject(e);
          }
        });
      });
    }
    const slot = this.#pick();
    const id = this.#nextId++;
    return new Promise<R>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve: resolve as (r: HashJobResult) => void, reject });
      slot.worker.postMessage({ id, job }, transfer);
    });
  }

  /** Starts every thread now (they boot while the caller lists the store); no-op inline. */
  warm(): void {
    if (this.inline) return;
    while (this.#slots.length < this.threads) this.#spawn();
  }

  async close(): Promise<void> {
    const slots = this.#slots;
    this.#slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  #pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.#slots) if (!best || s.pending.size < best.pending.size) best = s;
    if (best && (best.pending.size === 0 || this.#slots.length >= this.threads)) return best;
    return this.#spawn();
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_URL, { workerData: { [HASH_WORKER_MARK]: true } });
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    const fail = (e: unknown): void => {
      this.#slots = this.#slots.filter((s) => s !== slot);
      const err = new MlstoreError('INTERNAL', 'An fsck thread failed', { cause: e });
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    worker.on('message', (msg: { id: number; result?: HashJobResult; error?: string }) => {
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      if (slot.pending.size === 0) worker.unref();
      if (msg.error !== undefined) p.reject(new MlstoreError('INTERNAL', `fsck thread: ${msg.error}`));
      else p.resolve(msg.result!);
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }
}
