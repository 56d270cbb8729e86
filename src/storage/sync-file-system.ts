/**
 * syncfs(2) for Node, which has no binding for it: coreutils `sync --file-system PATH` opens
 * PATH and calls syncfs on it, flushing every dirty page and inode of that one file system in a
 * single call. The local store uses it to make a whole batch of objects durable at once: on this
 * VM 20,000 small files took 0.35 s to syncfs against 2.5 s of concurrent per-file fsyncs
 * (bench/local-put.mjs, docs/storage.md).
 *
 * One helper shell per path, started at the first request and kept: it runs `sync
 * --file-system` for every line it reads and answers with the exit status. Why not spawn `sync`
 * each time: Node spawns by fork(), and a fork marks every page of this process copy-on-write,
 * so the next write to each of them faults, and a fault costs ≈ 25 µs on the benchmark VMs. A
 * 2 GiB `add` forked 4–6 times and took ≈ 45,000 extra faults refilling its read windows
 * (docs/performance.md). The shell is forked once; its own forks of `sync` are cheap, because
 * it is small. It never keeps Node alive (unref'd), it is in a process group of its own (a
 * Ctrl-C meant for us must not kill it before the flush that keeps the work done so far), and
 * it ends when our end of its stdin closes, i.e. when this process exits, however it exits.
 *
 * Error reporting: since Linux 5.8 syncfs returns write-back errors (EIO, ENOSPC) recorded on
 * the file system that the caller has not yet seen; `sync` exits non-zero and we report the
 * failure. The residual gap is documented in docs/storage.md.
 *
 * Runs in another process, so it never blocks the event loop: hashing goes on while the disk
 * writes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { platform } from 'node:os';
import { createInterface } from 'node:readline';

/** 'unsupported': no syncfs here (not Linux, no coreutils `sync -f`); use per-file fsync. */
export type SyncResult = 'ok' | 'unsupported';
export type SyncFileSystem = ((path: string) => Promise<SyncResult>) & {
  /** A hint that syncs of `path` will follow: start what they need now. */
  prepare?: (path: string) => void;
};

/**
 * Reads a line per request, syncs "$0" (the path, given as an argument so no byte of it is ever
 * parsed), and prints "<status> <first 2,000 bytes of stderr, on one line>".
 */
const LOOP = `while read -r _; do
  err=$(sync --file-system -- "$0" 2>&1 >/dev/null); code=$?
  printf '%d %s\\n' "$code" "$(printf '%s' "$err" | tr '\\n' ' ' | head -c 2000)"
done`;

class SyncHelper {
  readonly #child: ChildProcess;
  readonly #waiting: Array<{ resolve: (r: SyncResult) => void; reject: (e: Error) => void }> = [];
  #dead: Error | undefined;

  constructor(
    private readonly path: string,
    onExit: () => void,
  ) {
    // detached: its own process group, so a Ctrl-C at the terminal does not kill it in the middle
    // of the flush that saves the work done before the interrupt; it still ends with our stdin
    this.#child = spawn('sh', ['-c', LOOP, path], { stdio: ['pipe', 'pipe', 'ignore'], detached: true });
    this.#hold(false);
    // a broken pipe (the shell died) is reported through 'exit' below
    this.#child.stdin!.on('error', () => undefined);
    createInterface({ input: this.#child.stdout! }).on('line', (line) => this.#answer(line));
    const die = (e: Error): void => {
      this.#dead ??= e;
      onExit();
      this.#hold(false);
      for (const w of this.#waiting.splice(0)) w.reject(e);
    };
    this.#child.on('error', (e: NodeJS.ErrnoException) => die(e));
    this.#child.on('exit', (code, signal) => die(Object.assign(new Error(`the syncfs helper exited (${signal ?? code})`), { code: 'EIO' })));
  }

  request(): Promise<SyncResult> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#hold(true);
      this.#child.stdin!.write('\n');
    });
  }

  /** Keeps Node alive while an answer is awaited, and only then. */
  #hold(on: boolean): void {
    for (const handle of [this.#child, this.#child.stdin, this.#child.stdout] as Array<{ ref?: () => void; unref?: () => void } | null>) {
      if (on) handle?.ref?.();
      else handle?.unref?.();
    }
  }

  #answer(line: string): void {
    const w = this.#waiting.shift();
    if (!w) return;
    if (this.#waiting.length === 0) this.#hold(false);
    const space = line.indexOf(' ');
    const code = Number(line.slice(0, space));
    const stderr = line.slice(space + 1).trim();
    if (code === 0) return w.resolve('ok');
    // No sync(1) at all (127), or an old coreutils or busybox without --file-system: not a disk
    // error. The message is read with the path taken out: a directory named "usage" must not turn
    // a real failure into 'unsupported', whose per-file fsync fallback could no longer see it.
    const own = stderr.split(this.path.replace(/\n/g, ' ')).join('');
    if (code === 127 || /unrecognized option|invalid option|illegal option|usage/i.test(own)) return w.resolve('unsupported');
    const message = stderr || `sync exited with ${code}`;
    w.reject(Object.assign(new Error(`syncfs failed: ${message}`), { code: /No space/i.test(message) ? 'ENOSPC' : 'EIO' }));
  }
}

const helpers = new Map<string, SyncHelper>();

/** The helper for `path`, started now if there is none; undefined where sh cannot be spawned at all. */
function helperFor(path: string): SyncHelper | undefined {
  let helper = helpers.get(path);
  if (helper) return helper;
  try {
    const started: SyncHelper = new SyncHelper(path, () => {
      if (helpers.get(path) === started) helpers.delete(path);
    });
    helper = started;
  } catch {
    return undefined;
  }
  helpers.set(path, helper);
  return helper;
}

export const syncFileSystem: SyncFileSystem = Object.assign(
  (path: string): Promise<SyncResult> => {
    if (platform() !== 'linux') return Promise.resolve('unsupported');
    const helper = helperFor(path);
    if (!helper) return Promise.resolve('unsupported');
    return helper.request().catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return 'unsupported' as const; // sh itself is missing
      throw e;
    });
  },
  {
    /** Starts the helper now, while this process is still small (see above); harmless if unused. */
    prepare(path: string): void {
      if (platform() === 'linux') helperFor(path);
    },
  },
);
