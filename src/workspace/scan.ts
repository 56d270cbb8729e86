/**
 * Walks the tracked roots of a workspace and lists regular files and directories with their
 * stat data. Symlinks are never followed: they and other special files (sockets, FIFOs,
 * devices) are reported in `skipped` and not stored (docs/concepts.md). A name mlstore cannot
 * store safely (e.g. containing '\\') stops the scan with BAD_NAME instead of silently dropping data.
 *
 * Each directory is listed and its entries lstat'ed with synchronous calls, yielding to the event
 * loop between directories: 20,000 async lstats cost ≈ 0.6 s of promise and libuv overhead here,
 * the synchronous ones ≈ 0.1 s (docs/performance.md).
 */
import { lstat } from 'node:fs/promises';
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { MlstoreError, fromFsError, isMlstoreError, throwIfAborted } from '../errors.js';
import { nameProblem } from '../model/name.js';
import { symlinkAbove, toFsPath } from './paths.js';
import { statIdentity } from './stat-cache.js';

export interface ScannedFile {
  path: string;
  /**
   * statIdentity() of the file's lstat, all the stat cache compares (parseIdentity() gives the
   * FileStat back): one string per file instead of six BigInts keeps a scan of many files small
   * for the garbage collector.
   */
  identity: string;
  size: number;
  mode: number;
}

export interface Skipped {
  path: string;
  reason: 'symlink' | 'special' | 'reserved';
}

export interface ScanResult {
  files: ScannedFile[];
  /** Every directory seen (so empty directories survive a round trip). */
  dirs: string[];
  skipped: Skipped[];
  /** Tracked roots that do not exist on disk (deleted). */
  missingRoots: string[];
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** lstat options: nanosecond times (BigInt), and undefined rather than an error for a file deleted meanwhile. */
const LSTAT = { bigint: true, throwIfNoEntry: false } as const;

export async function scanWorkspace(root: string, trackedRoots: readonly string[], signal?: AbortSignal): Promise<ScanResult> {
  const result: ScanResult = { files: [], dirs: [], skipped: [], missingRoots: [] };
  for (const tracked of trackedRoots) {
    throwIfAborted(signal);
    const through = await symlinkAbove(root, tracked);
    if (through !== undefined) {
      // A directory above the tracked path was replaced by a symlink (or a file): never follow it.
      if (!result.skipped.some((s) => s.path === through)) result.skipped.push({ path: through, reason: 'symlink' });
      continue;
    }
    let st: BigIntStats;
    try {
      st = await lstat(toFsPath(root, tracked), { bigint: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        result.missingRoots.push(tracked);
        continue;
      }
      throw fromFsError(e, tracked, 'read');
    }
    await visit(root, tracked, st, result, signal);
  }
  return result;
}

/**
 * The names in directory `path`, each exactly as on disk. Node turns a name that is not UTF-8
 * into one with U+FFFD, a name that does not exist on disk, and the file would silently drop
 * out of the version; so a directory with any U+FFFD in a name is listed again as raw bytes and
 * decoded strictly. (Strings first: listing 20,000 names took 37 ms as strings, 72 ms as Buffers.)
 */
function listNames(root: string, path: string): string[] {
  try {
    const names = readdirSync(toFsPath(root, path));
    return names.some((n) => n.includes('\uFFFD')) ? rawNames(root, path) : names;
  } catch (e) {
    if (isMlstoreError(e)) throw e;
    throw fromFsError(e, path, 'list');
  }
}

function rawNames(root: string, path: string): string[] {
  return readdirSync(toFsPath(root, path), { encoding: 'buffer' }).map((bytes) => {
    try {
      return strictUtf8.decode(bytes);
    } catch {
      const shown = `${path === '' ? '' : `${path}/`}${bytes.toString('utf8')}`;
      throw new MlstoreError('BAD_NAME', `cannot track ${JSON.stringify(shown)}: its name is not valid UTF-8`, {
        details: { path: shown, bytes: bytes.toString('hex') },
        hint: 'Rename the file to a UTF-8 name (e.g. with `convmv`), or move it out of the tracked directory.',
      });
    }
  });
}

/** Records a non-directory entry; true for a directory, which the caller then visits. */
function record(path: string, st: BigIntStats, out: ScanResult): boolean {
  if (st.isFile()) out.files.push({ path, identity: statIdentity(st), size: Number(st.size), mode: Number(st.mode) });
  else if (st.isSymbolicLink()) out.skipped.push({ path, reason: 'symlink' });
  else if (!st.isDirectory()) out.skipped.push({ path, reason: 'special' });
  else return true;
  return false;
}

async function visit(root: string, path: string, st: BigIntStats, out: ScanResult, signal?: AbortSignal): Promise<void> {
  if (!record(path, st, out)) return;

  out.dirs.push(path);
  const names = listNames(root, path);
  names.sort();
  const children: string[] = [];
  for (const name of names) {
    const childPath = path === '' ? name : `${path}/${name}`;
    const lower = name.toLowerCase();
    if (lower === '.mlstore' || lower === '.git') {
      if (path !== '') out.skipped.push({ path: childPath, reason: 'reserved' });
      continue;
    }
    const problem = nameProblem(name);
    if (problem) {
      throw new MlstoreError('BAD_NAME', `cannot track ${JSON.stringify(childPath)}: its name ${problem}`, {
        details: { path: childPath },
        hint: 'Rename the file, or move it out of the tracked directory.',
      });
    }
    children.push(childPath);
  }
  throwIfAborted(signal);
  // The files of a directory first, then its subdirectories: each directory's files are
  // contiguous in the result, so whoever reads data kept per directory (the stat cache) reads
  // each directory's once.
  const subdirs: [string, BigIntStats][] = [];
  for (const p of children) {
    let st: BigIntStats | undefined;
    try {
      st = lstatSync(toFsPath(root, p), LSTAT); // undefined: deleted while scanning
    } catch (e) {
      throw fromFsError(e, p, 'read');
    }
    if (st?.isDirectory()) subdirs.push([p, st]);
    else if (st) record(p, st, out);
  }
  for (const [p, st] of subdirs) await visit(root, p, st, out, signal);
  if (children.length > 0) await new Promise<void>((r) => setImmediate(r));
}
