/**
 * A commit ties a data tree to the code and environment that produced it:
 * {"author":{"email","name"},"code":{"commit","diff","dirty"},"environment":{"components","digest"},
 *  "inputs":[{"commit","path"?}],"message","parents":[…],"time":"YYYY-MM-DDTHH:MM:SSZ","tree","type":"commit"}
 * `environment.digest` is the SHA-256 of the canonical JSON of `components`; decode checks it,
 * so a commit cannot claim an environment digest its components do not give.
 * Signatures are detached (src/trust), so co-signing never changes a commit's id.
 */
import { canonicalize, decodeCanonical, encodeCanonical } from '../core/canonical-json.js';
import { isDigest, sha256Hex } from '../core/digest.js';
import { LIMITS } from './limits.js';
import { asArray, asDigest, asRecord, asString, corrupt, exactKeys } from './validate.js';

export interface Person {
  name: string;
  email: string;
}

export interface CodeState {
  /** Git commit SHA (40 or 64 hex) of the working repository's HEAD, or null outside Git / before the first commit. */
  commit: string | null;
  /** Uncommitted changes to tracked code files existed when the commit was made. */
  dirty: boolean;
  /** SHA-256 over the dirty changes (paths and contents), null when clean. */
  diff: string | null;
}

export interface Environment {
  digest: string;
  /** Named components: "os", "arch", "node", "file:requirements.txt" → sha256 … */
  components: Readonly<Record<string, string>>;
}

export interface Input {
  commit: string;
  path?: string;
}

export interface Commit {
  type: 'commit';
  tree: string;
  parents: readonly string[];
  author: Person;
  /** UTC, second precision: "2026-11-25T22:33:45Z". Canonical JSON allows integers only, so time is a string. */
  time: string;
  message: string;
  code: CodeState;
  environment: Environment;
  inputs: readonly Input[];
}

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const GIT_SHA_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function environmentDigest(components: Readonly<Record<string, string>>): string {
  return sha256Hex(canonicalize(components));
}

export function formatTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function encodeCommit(c: Commit): Uint8Array {
  const bytes = encodeCanonical({ ...c, type: 'commit' });
  decodeCommit(bytes); // one validation path for writer and reader
  return bytes;
}

export function decodeCommit(bytes: Uint8Array): Commit {
  const what = 'commit';
  const obj = asRecord(decodeCanonical(bytes, what), what);
  exactKeys(obj, ['type', 'tree', 'parents', 'author', 'time', 'message', 'code', 'environment', 'inputs'], [], what);
  if (obj['type'] !== 'commit') throw corrupt(what, `type is ${JSON.stringify(obj['type'])}, expected "commit"`);

  const parents = asArray(obj['parents'], 'commit parents', LIMITS.maxParents).map((p, i) => asDigest(p, `commit parent ${i}`));
  if (new Set(parents).size !== parents.length) throw corrupt(what, 'parents repeat');

  const author = asRecord(obj['author'], 'commit author');
  exactKeys(author, ['name', 'email'], [], 'commit author');

  const time = asString(obj['time'], 'commit time', 20);
  if (!TIME_RE.test(time) || Number.isNaN(Date.parse(time))) throw corrupt(what, `time ${JSON.stringify(time)} is not YYYY-MM-DDTHH:MM:SSZ`);

  const code = asRecord(obj['code'], 'commit code');
  exactKeys(code, ['commit', 'dirty', 'diff'], [], 'commit code');
  if (code['commit'] !== null && !(typeof code['commit'] === 'string' && GIT_SHA_RE.test(code['commit']))) {
    throw corrupt(what, 'code.commit is not a Git SHA or null');
  }
  if (typeof code['dirty'] !== 'boolean') throw corrupt(what, 'code.dirty is not a boolean');
  if (code['diff'] !== null && !isDigest(code['diff'])) throw corrupt(what, 'code.diff is not a SHA-256 or null');
  if ((code['diff'] !== null) !== code['dirty']) throw corrupt(what, 'code.diff must be set exactly when code.dirty is true');

  const env = asRecord(obj['environment'], 'commit environment');
  exactKeys(env, ['digest', 'components'], [], 'commit environment');
  const components = asRecord(env['components'], 'environment components');
  for (const [k, v] of Object.entries(components)) asString(v, `environment component ${k}`);
  const digest = asDigest(env['digest'], 'environment digest');
  if (digest !== environmentDigest(components as Record<string, string>)) {
    throw corrupt(what, 'environment.digest does not match its components');
  }

  const inputs = asArray(obj['inputs'], 'commit inputs', LIMITS.maxInputs).map((raw, i): Input => {
    const input = asRecord(raw, `commit input ${i}`);
    exactKeys(input, ['commit'], ['path'], `commit input ${i}`);
    const out: Input = { commit: asDigest(input['commit'], `commit input ${i} commit`) };
    if (input['path'] !== undefined) out.path = asString(input['path'], `commit input ${i} path`);
    return out;
  });

  return {
    type: 'commit',
    tree: asDigest(obj['tree'], 'commit tree'),
    parents,
    author: { name: asString(author['name'], 'author name', 256), email: asString(author['email'], 'author email', 256) },
    time,
    message: asString(obj['message'], 'commit message', LIMITS.maxMessageChars),
    code: { commit: code['commit'] as string | null, dirty: code['dirty'], diff: code['diff'] as string | null },
    environment: { digest, components: components as Record<string, string> },
    inputs,
  };
}
