import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../core/digest.js';
import { encodeCommit, environmentDigest, type Commit } from '../model/commit.js';
import { renderLineage, toMlmd, walkLineage, type SignatureStatus } from './lineage.js';

function mk(message: string, over: Partial<Commit> = {}): { id: string; commit: Commit } {
  const components = { os: 'linux' };
  const commit: Commit = {
    type: 'commit',
    tree: sha256Hex(`tree ${message}`),
    parents: [],
    author: { name: 'Ada', email: 'ada@example.com' },
    time: '2026-05-01T12:00:00Z',
    message,
    code: { commit: '2'.repeat(40), dirty: message === 'features', diff: message === 'features' ? '3'.repeat(64) : null },
    environment: { digest: environmentDigest(components), components },
    inputs: [],
    ...over,
  };
  return { id: sha256Hex(encodeCommit(commit)), commit };
}

const raw = mk('raw');
const raw2 = mk('raw v2', { parents: [raw.id] });
const features = mk('features', { inputs: [{ commit: raw2.id, path: 'raw' }] });
const MISSING = 'd'.repeat(64);
const model = mk('model', { inputs: [{ commit: features.id }, { commit: MISSING }] });
const all = new Map([raw, raw2, features, model].map((c) => [c.id, c.commit]));
const status: Record<string, SignatureStatus> = { [model.id]: 'verified', [features.id]: 'invalid', [raw2.id]: 'unsigned' };

const loadCommit = async (id: string) => {
  const c = all.get(id);
  if (!c) throw new Error(`commit ${id} is missing`);
  return c;
};
const signatureStatus = async (id: string) => status[id] ?? 'unverified';

describe('walkLineage', () => {
  it('follows inputs and parents, records missing commits, keeps node details', async () => {
    const g = await walkLineage({ root: model.id, loadCommit, signatureStatus });
    expect(g.truncated).toBe(false);
    expect(g.nodes.map((n) => n.id).sort()).toEqual([model.id, features.id, raw2.id, raw.id, MISSING].sort());
    expect(g.edges).toEqual([
      { from: features.id, to: model.id, kind: 'input' },
      { from: MISSING, to: model.id, kind: 'input' },
      { from: raw2.id, to: features.id, kind: 'input', path: 'raw' },
      { from: raw.id, to: raw2.id, kind: 'parent' },
    ]);
    const m = g.nodes.find((n) => n.id === model.id)!;
    expect(m).toMatchObject({ loaded: true, signature: 'verified', tree: model.commit.tree, code: { commit: '2'.repeat(40), dirty: false }, depth: 0 });
    expect(g.nodes.find((n) => n.id === features.id)!.code!.dirty).toBe(true);
    expect(g.nodes.find((n) => n.id === MISSING)).toMatchObject({ loaded: false, error: expect.stringContaining('missing') });
  });

  it('parents: false gives the data-flow graph only; bounds truncate', async () => {
    const g = await walkLineage({ root: model.id, loadCommit, parents: false });
    expect(g.edges.some((e) => e.kind === 'parent')).toBe(false);
    const small = await walkLineage({ root: model.id, loadCommit, maxNodes: 2 });
    expect(small.truncated).toBe(true);
    expect(small.nodes).toHaveLength(2);
    const shallow = await walkLineage({ root: model.id, loadCommit, maxDepth: 1 });
    expect(shallow.truncated).toBe(true);
    expect(shallow.nodes.map((n) => n.id).sort()).toEqual([model.id, features.id, MISSING].sort());
  });
});

describe('renderLineage', () => {
  it('json, dot and mermaid carry every node and edge', async () => {
    const g = await walkLineage({ root: model.id, loadCommit, signatureStatus });
    expect(JSON.parse(renderLineage(g, 'json'))).toEqual(g);
    const dot = renderLineage(g, 'dot');
    expect(dot.startsWith('digraph lineage {')).toBe(true);
    expect(dot).toContain(`"${raw2.id}" -> "${features.id}" [label="input raw"];`);
    expect(dot).toContain(`"${raw.id}" -> "${raw2.id}" [style=dotted, label="parent"];`);
    const mer = renderLineage(g, 'mermaid');
    expect(mer.startsWith('graph LR')).toBe(true);
    expect(mer).toContain(`c${raw2.id.slice(0, 16)} -->|input raw| c${features.id.slice(0, 16)}`);
    expect(mer).toContain(`c${raw.id.slice(0, 16)} -.->|parent| c${raw2.id.slice(0, 16)}`);
  });

  it('mlmd: an artifact per version, an execution per produced version, INPUT/OUTPUT events, one context', async () => {
    const g = await walkLineage({ root: model.id, loadCommit, signatureStatus });
    const doc = toMlmd(g);
    expect(JSON.parse(renderLineage(g, 'mlmd'))).toEqual(doc);
    expect(doc.artifacts).toHaveLength(5);
    expect(doc.executions).toHaveLength(4); // the missing commit has no known execution
    const art = (id: string) => doc.artifacts.find((a) => a.uri === `mlstore:commit/${id}`)!;
    const exec = doc.executions.find((e) => e.name === `make-${model.id}`)!;
    expect(exec.properties['code_commit']).toEqual({ stringValue: '2'.repeat(40) });
    expect(exec.properties['environment_digest']).toEqual({ stringValue: model.commit.environment.digest });
    expect(doc.events).toContainEqual({ artifactId: art(model.id).id, executionId: exec.id, type: 'OUTPUT', path: { steps: [{ key: 'output' }] } });
    expect(doc.events).toContainEqual({ artifactId: art(features.id).id, executionId: exec.id, type: 'INPUT', path: { steps: [{ key: 'input' }] } });
    expect(art(MISSING).state).toBe('UNKNOWN');
    expect(doc.attributions).toHaveLength(5);
    expect(doc.associations).toHaveLength(4);
    expect(doc.contexts[0]!.name).toBe(`lineage-of-${model.id}`);
  });
});
