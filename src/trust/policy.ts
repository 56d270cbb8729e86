/**
 * A verification policy (JSON file, e.g. `mlstore-policy.json` beside the trust list):
 *   {"threshold": 2, "requireCleanCode": true,
 *    "requiredEnvironment": ["os", "file:requirements.txt", "arch=x86_64"],
 *    "requireSignedInputs": true}
 * - threshold: how many DISTINCT trusted keys must have signed (default 1, at least 1).
 * - requireCleanCode: the commit must record a Git commit and no uncommitted code changes.
 * - requiredEnvironment: component names the commit's environment must record; "name=value"
 *   also pins the value.
 * - requireSignedInputs: every input commit, transitively, must pass signature verification.
 * Missing fields take the defaults; unknown fields are refused, so a typo never weakens a policy.
 */
import { readFile } from 'node:fs/promises';
import { fromFsError, MlstoreError } from '../errors.js';

export interface Policy {
  threshold: number;
  requireCleanCode: boolean;
  requiredEnvironment: string[];
  requireSignedInputs: boolean;
}

export const DEFAULT_POLICY: Readonly<Policy> = Object.freeze({
  threshold: 1,
  requireCleanCode: false,
  requiredEnvironment: [],
  requireSignedInputs: false,
});

export function defaultPolicy(): Policy {
  return { ...DEFAULT_POLICY, requiredEnvironment: [] };
}

export function parsePolicy(text: string | Uint8Array, source = 'policy'): Policy {
  const str = typeof text === 'string' ? text : new TextDecoder().decode(text);
  let raw: unknown;
  try {
    raw = JSON.parse(str);
  } catch (e) {
    throw bad(source, `is not valid JSON: ${(e as Error).message}`);
  }
  return validatePolicy(raw, source);
}

export function validatePolicy(raw: unknown, source = 'policy'): Policy {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad(source, 'is not a JSON object');
  const obj = raw as Record<string, unknown>;
  const allowed = ['threshold', 'requireCleanCode', 'requiredEnvironment', 'requireSignedInputs'];
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw bad(source, `has an unknown field "${k}"`);
  const p = defaultPolicy();
  if (obj['threshold'] !== undefined) {
    const t = obj['threshold'];
    if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 1 || t > 64) throw bad(source, '"threshold" must be an integer from 1 to 64');
    p.threshold = t;
  }
  for (const k of ['requireCleanCode', 'requireSignedInputs'] as const) {
    if (obj[k] === undefined) continue;
    if (typeof obj[k] !== 'boolean') throw bad(source, `"${k}" must be true or false`);
    p[k] = obj[k];
  }
  if (obj['requiredEnvironment'] !== undefined) {
    const r = obj['requiredEnvironment'];
    if (!Array.isArray(r) || r.some((x) => typeof x !== 'string' || x.length === 0 || x.length > 1024)) {
      throw bad(source, '"requiredEnvironment" must be an array of component names');
    }
    p.requiredEnvironment = [...new Set(r as string[])].sort();
  }
  return p;
}

export async function readPolicy(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MlstoreError('BAD_CONFIG', `policy file ${path} does not exist`, { details: { path } });
    }
    throw fromFsError(e, path, 'read');
  }
  return parsePolicy(text, path);
}

/** Splits "name=value" into its parts; a bare name only requires presence. */
export function parseRequirement(req: string): { name: string; value?: string } {
  const i = req.indexOf('=');
  return i < 0 ? { name: req } : { name: req.slice(0, i), value: req.slice(i + 1) };
}

function bad(source: string, why: string): MlstoreError {
  return new MlstoreError('BAD_CONFIG', `policy ${source} ${why}`, { details: { source } });
}
