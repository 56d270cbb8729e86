/**
 * What fsck reports: problems with a stable code, a severity and a blast radius (the commits,
 * refs and file paths they affect). docs/fsck.md lists every code; tests assert codes, never text.
 *
 * Severity: `error` (the data is damaged or cannot be trusted), `warning` (something an operator
 * should look at, e.g. an unsigned tip while no trust file exists), `info` (dangling objects).
 * Class: `data` problems say the stored data is bad; `incomplete` ones say a check could not be
 * done (unreadable object, no server checksum for --fast). The CLI exits 1 for an unrepaired
 * data error, else 3 for an incomplete check, else 0.
 */
export type Severity = 'error' | 'warning' | 'info';
export type ProblemClass = 'data' | 'incomplete';

export const PROBLEM_CODES = {
  HASH_MISMATCH: { severity: 'error', class: 'data', summary: "an object's bytes do not hash to its id (bit rot, partial overwrite)" },
  OBJECT_REPLACED: { severity: 'error', class: 'data', summary: 'an object holds exactly the bytes of another object of the store (swapped or copied over)' },
  TRUNCATED: { severity: 'error', class: 'data', summary: 'an object is shorter than the size its referencing tree or manifest records' },
  SIZE_MISMATCH: { severity: 'error', class: 'data', summary: 'an object is longer than, or its verified bytes differ in size from, what a referencing tree or manifest records' },
  OBJECT_TOO_LARGE: { severity: 'error', class: 'data', summary: 'an object exceeds the hard size limit for its namespace' },
  UNREADABLE_OBJECT: { severity: 'error', class: 'incomplete', summary: 'an object exists but could not be read (permissions, I/O error)' },
  INVALID_OBJECT: { severity: 'error', class: 'data', summary: 'a metadata object hashes correctly but fails strict parsing (schema, canonical form, names, limits)' },
  MANIFEST_SIZE_MISMATCH: { severity: 'error', class: 'data', summary: "a file manifest's chunk sizes do not add up to its size, or its size differs from the tree entry's" },
  FILE_DIGEST_MISMATCH: { severity: 'error', class: 'data', summary: "a file's whole-file digest differs between tree entry and manifest, or (--full) from its chunks" },
  MISSING_OBJECT: { severity: 'error', class: 'data', summary: 'a ref, commit, tree or manifest references an object that is not in the store' },
  MISSING_INPUT: { severity: 'warning', class: 'data', summary: "a commit's lineage input commit is not in this store" },
  WRONG_KIND: { severity: 'error', class: 'data', summary: 'an object of one kind is referenced where another kind is expected (e.g. a ref naming a tree)' },
  BAD_REF: { severity: 'error', class: 'data', summary: 'a ref (or HEAD) has an invalid name or does not hold a commit id' },
  BAD_LOCK_FILE: { severity: 'warning', class: 'data', summary: 'mlstore.lock cannot be parsed' },
  UNSIGNED_COMMIT: { severity: 'warning', class: 'data', summary: 'a commit has no signature (severity configurable at ref tips; info in history)' },
  UNTRUSTED_COMMIT: { severity: 'warning', class: 'data', summary: 'no signature on a commit counts under the trust list and policy (severity configurable at ref tips; info in history)' },
  POLICY_VIOLATION: { severity: 'warning', class: 'data', summary: 'a ref tip breaks the verification policy (clean code, environment, signed inputs)' },
  BAD_SIGNATURE: { severity: 'error', class: 'data', summary: 'a signature envelope is malformed, fails to verify, or signs another commit' },
  REFSTATE_INVALID: { severity: 'error', class: 'data', summary: 'the signed ref state is malformed or a signature on it fails' },
  REFSTATE_UNTRUSTED: { severity: 'warning', class: 'data', summary: 'the signed ref state is not signed by enough trusted keys (severity as for unsigned tips)' },
  REFSTATE_EXPIRED: { severity: 'warning', class: 'data', summary: 'the signed ref state is past its expiry (the publisher stopped re-signing, or the store is frozen)' },
  REFSTATE_ROLLBACK: { severity: 'error', class: 'data', summary: 'the signed ref state is older than one this repository has already seen' },
  REFSTATE_MISMATCH: { severity: 'error', class: 'data', summary: 'a ref file disagrees with the signed ref state (mixed or rolled-back refs)' },
  NO_STORED_CHECKSUM: { severity: 'error', class: 'incomplete', summary: '--fast: the server keeps no SHA-256 checksum for objects, so they were not verified' },
  DAMAGED_PACK: { severity: 'error', class: 'data', summary: 'an index of the local store\'s packs is damaged, so the objects it lists read as missing' },
  STRAY_KEY: { severity: 'warning', class: 'data', summary: 'a key under objects/ or refs/ that is neither an object nor a ref' },
  DANGLING_OBJECT: { severity: 'info', class: 'data', summary: 'an object (or signature) that nothing reachable references' },
} as const satisfies Record<string, { severity: Severity; class: ProblemClass; summary: string }>;

export type ProblemCode = keyof typeof PROBLEM_CODES;

/** What an object is, from the edge that references it (or its namespace when nothing does). */
export type ObjectKindName = 'chunk' | 'file manifest' | 'tree' | 'commit' | 'signature' | 'ref' | 'ref state' | 'lock file' | 'metadata' | 'store';

export interface Affected {
  /** Commits whose data (or history) includes the object, sorted. */
  commits: string[];
  /** Refs (and `HEAD`, `mlstore.lock`, `refstate:<ref>`) from which those commits are reachable. */
  refs: string[];
  /** Repository-relative paths of affected files; directories end in `/`, the root is `/`. */
  paths: string[];
  /** How many more commits/paths there were beyond the listing cap. */
  more?: { commits?: number; paths?: number };
}

export interface Problem {
  code: ProblemCode;
  severity: Severity;
  class: ProblemClass;
  /** The object the problem is about (a 64-hex id), or null for refs, ref state, the lock file. */
  id: string | null;
  kind: ObjectKindName;
  /** The storage key, when there is one (objects/chunks/ab/…, refs/heads/main …). */
  key?: string;
  detail: string;
  /** Machine-readable facts (actual hash, sizes, expected kind, key ids …). */
  facts?: Record<string, unknown>;
  affected: Affected;
}

export function defaultSeverity(code: ProblemCode): Severity {
  return PROBLEM_CODES[code].severity;
}

export function problemClass(code: ProblemCode): ProblemClass {
  return PROBLEM_CODES[code].class;
}
