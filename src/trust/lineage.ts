/**
 * Lineage: the provenance DAG behind a commit, walking `parents` (earlier versions) and `inputs`
 * (the data a version was produced from), bounded in size. Each node carries its data root, code
 * SHA, environment digest and signature status, so an auditor can trace a model back to the
 * exact dataset bytes and code. Rendered as JSON, Graphviz DOT, Mermaid, or ML Metadata (MLMD)
 * Artifacts / Executions / Events / Contexts in proto3 JSON form.
 * Edges point in the direction data flowed: from an ancestor or input to the commit made from it.
 */
import type { Commit } from '../model/commit.js';
import { MlstoreError } from '../errors.js';

export type SignatureStatus = 'verified' | 'unverified' | 'invalid' | 'unsigned' | 'unknown';

export interface LineageNode {
  id: string;
  /** False when the commit could not be loaded (missing or corrupt); other fields are then empty. */
  loaded: boolean;
  error?: string;
  tree: string | null;
  time: string | null;
  message: string | null;
  author: string | null;
  code: { commit: string | null; dirty: boolean } | null;
  environment: { digest: string; components: Record<string, string> } | null;
  signature: SignatureStatus;
  depth: number;
}

export interface LineageEdge {
  from: string;
  to: string;
  kind: 'parent' | 'input';
  path?: string;
}

export interface LineageGraph {
  root: string;
  nodes: LineageNode[];
  edges: LineageEdge[];
  /** True when the walk stopped at maxNodes or maxDepth; the graph is then a prefix. */
  truncated: boolean;
}

export interface WalkOptions {
  root: string;
  loadCommit(id: string): Promise<Commit>;
  signatureStatus?(id: string): Promise<SignatureStatus>;
  /** Follow parents too (default true); false gives the pure input (data-flow) graph. */
  parents?: boolean;
  maxNodes?: number;
  maxDepth?: number;
  signal?: AbortSignal;
}

export async function walkLineage(options: WalkOptions): Promise<LineageGraph> {
  const maxNodes = options.maxNodes ?? 10_000;
  const maxDepth = options.maxDepth ?? 1_000;
  const followParents = options.parents ?? true;
  const nodes = new Map<string, LineageNode>();
  const edges: LineageEdge[] = [];
  let truncated = false;
  const queue: { id: string; depth: number }[] = [{ id: options.root, depth: 0 }];
  while (queue.length > 0) {
    if (options.signal?.aborted) throw new MlstoreError('INTERRUPTED', 'Interrupted', { cause: options.signal.reason });
    const { id, depth } = queue.shift()!;
    if (nodes.has(id)) continue;
    if (nodes.size >= maxNodes) {
      truncated = true;
      break;
    }
    let commit: Commit;
    try {
      commit = await options.loadCommit(id);
    } catch (e) {
      nodes.set(id, { ...emptyNode(id, depth), error: (e as Error).message });
      continue;
    }
    const signature = options.signatureStatus ? await options.signatureStatus(id).catch((): SignatureStatus => 'unknown') : 'unknown';
    nodes.set(id, {
      id,
      loaded: true,
      tree: commit.tree,
      time: commit.time,
      message: commit.message,
      author: `${commit.author.name} <${commit.author.email}>`,
      code: { commit: commit.code.commit, dirty: commit.code.dirty },
      environment: { digest: commit.environment.digest, components: { ...commit.environment.components } },
      signature,
      depth,
    });
    const next: LineageEdge[] = [
      ...(followParents ? commit.parents.map((p): LineageEdge => ({ from: p, to: id, kind: 'parent' })) : []),
      ...commit.inputs.map((i): LineageEdge => ({ from: i.commit, to: id, kind: 'input', ...(i.path === undefined ? {} : { path: i.path }) })),
    ];
    for (const e of next) {
      edges.push(e);
      if (depth + 1 > maxDepth) truncated = true;
      else queue.push({ id: e.from, depth: depth + 1 });
    }
  }
  // Edges to commits cut off by the bounds stay, so the reader sees where the walk stopped.
  return { root: options.root, nodes: [...nodes.values()], edges, truncated };
}

function emptyNode(id: string, depth: number): LineageNode {
  return { id, loaded: false, tree: null, time: null, message: null, author: null, code: null, environment: null, signature: 'unknown', depth };
}

export type LineageFormat = 'json' | 'dot' | 'mermaid' | 'mlmd';
export const LINEAGE_FORMATS: readonly LineageFormat[] = ['json', 'dot', 'mermaid', 'mlmd'];

export function renderLineage(graph: LineageGraph, format: LineageFormat): string {
  switch (format) {
    case 'json':
      return JSON.stringify(graph, null, 2) + '\n';
    case 'dot':
      return toDot(graph);
    case 'mermaid':
      return toMermaid(graph);
    case 'mlmd':
      return JSON.stringify(toMlmd(graph), null, 2) + '\n';
    default:
      throw new MlstoreError('USAGE', `unknown lineage format ${JSON.stringify(format)}; use ${LINEAGE_FORMATS.join(', ')}`);
  }
}

function label(n: LineageNode | undefined, id: string): string {
  if (!n || !n.loaded) return `${id.slice(0, 12)}\\n(not loaded)`;
  const code = n.code?.commit ? `code ${n.code.commit.slice(0, 10)}${n.code.dirty ? '+dirty' : ''}` : 'code unknown';
  return `${id.slice(0, 12)}\\n${code}\\nenv ${n.environment?.digest.slice(0, 10)}\\n${n.signature}`;
}

export function toDot(g: LineageGraph): string {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const ids = [...new Set([...g.nodes.map((n) => n.id), ...g.edges.map((e) => e.from)])];
  const lines = ['digraph lineage {', '  rankdir=LR;', '  node [shape=box, fontname="monospace"];'];
  for (const id of ids) {
    const n = byId.get(id);
    const style = n?.signature === 'verified' ? 'solid' : 'dashed';
    const color = n?.signature === 'invalid' ? 'red' : n?.signature === 'verified' ? 'darkgreen' : 'gray40';
    lines.push(`  "${id}" [label="${label(n, id)}", style=${style}, color=${color}${id === g.root ? ', penwidth=2' : ''}];`);
  }
  for (const e of g.edges) {
    const attrs = e.kind === 'input' ? `label="input${e.path ? ` ${dotEscape(e.path)}` : ''}"` : 'style=dotted, label="parent"';
    lines.push(`  "${e.from}" -> "${e.to}" [${attrs}];`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

function dotEscape(s: string): string {
  return s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, ' ');
}

export function toMermaid(g: LineageGraph): string {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const ids = [...new Set([...g.nodes.map((n) => n.id), ...g.edges.map((e) => e.from)])];
  const lines = ['graph LR'];
  for (const id of ids) lines.push(`  c${id.slice(0, 16)}["${label(byId.get(id), id).replace(/\\n/g, '<br/>').replace(/"/g, '#quot;')}"]`);
  for (const e of g.edges) {
    const text = e.kind === 'input' ? `input${e.path ? ` ${e.path.replace(/[|"]/g, '_')}` : ''}` : 'parent';
    lines.push(`  c${e.from.slice(0, 16)} ${e.kind === 'input' ? '-->' : '-.->'}|${text}| c${e.to.slice(0, 16)}`);
  }
  return lines.join('\n') + '\n';
}

type MlmdValue = { stringValue: string } | { intValue: number };

export interface MlmdDocument {
  artifactTypes: { id: number; name: string }[];
  executionTypes: { id: number; name: string }[];
  contextTypes: { id: number; name: string }[];
  artifacts: { id: number; typeId: number; type: string; uri: string; name: string; state: 'LIVE' | 'UNKNOWN'; properties: Record<string, MlmdValue> }[];
  executions: { id: number; typeId: number; type: string; name: string; lastKnownState: 'COMPLETE' | 'UNKNOWN'; properties: Record<string, MlmdValue> }[];
  events: { artifactId: number; executionId: number; type: 'INPUT' | 'OUTPUT'; path: { steps: { key: string }[] } }[];
  contexts: { id: number; typeId: number; type: string; name: string; properties: Record<string, MlmdValue> }[];
  attributions: { artifactId: number; contextId: number }[];
  associations: { executionId: number; contextId: number }[];
}

/**
 * ML Metadata view: every commit is an Artifact (a data version, uri "mlstore:commit/<id>") and
 * the Execution that produced it (properties: code commit, dirty flag, environment digest);
 * INPUT events link the inputs and parents to the execution, an OUTPUT event links the execution
 * to its commit; one Context groups the whole walk.
 */
export function toMlmd(g: LineageGraph): MlmdDocument {
  const ids = [...new Set([...g.nodes.map((n) => n.id), ...g.edges.map((e) => e.from)])];
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const artifactId = new Map(ids.map((id, i) => [id, i + 1]));
  const doc: MlmdDocument = {
    artifactTypes: [{ id: 1, name: 'mlstore.DataVersion' }],
    executionTypes: [{ id: 2, name: 'mlstore.Step' }],
    contextTypes: [{ id: 3, name: 'mlstore.Lineage' }],
    artifacts: [],
    executions: [],
    events: [],
    contexts: [{ id: 1, typeId: 3, type: 'mlstore.Lineage', name: `lineage-of-${g.root}`, properties: { root: { stringValue: g.root } } }],
    attributions: [],
    associations: [],
  };
  let execId = 0;
  const execOf = new Map<string, number>();
  for (const id of ids) {
    const n = byId.get(id);
    const aId = artifactId.get(id)!;
    const props: Record<string, MlmdValue> = { commit: { stringValue: id }, signature: { stringValue: n?.signature ?? 'unknown' } };
    if (n?.tree) props['tree'] = { stringValue: n.tree };
    if (n?.time) props['time'] = { stringValue: n.time };
    doc.artifacts.push({ id: aId, typeId: 1, type: 'mlstore.DataVersion', uri: `mlstore:commit/${id}`, name: id, state: n?.loaded ? 'LIVE' : 'UNKNOWN', properties: props });
    doc.attributions.push({ artifactId: aId, contextId: 1 });
    if (!n?.loaded) continue;
    execId += 1;
    execOf.set(id, execId);
    doc.executions.push({
      id: execId,
      typeId: 2,
      type: 'mlstore.Step',
      name: `make-${id}`,
      lastKnownState: 'COMPLETE',
      properties: {
        code_commit: { stringValue: n.code?.commit ?? '' },
        code_dirty: { intValue: n.code?.dirty ? 1 : 0 },
        environment_digest: { stringValue: n.environment?.digest ?? '' },
        author: { stringValue: n.author ?? '' },
        message: { stringValue: n.message ?? '' },
      },
    });
    doc.associations.push({ executionId: execId, contextId: 1 });
    doc.events.push({ artifactId: aId, executionId: execId, type: 'OUTPUT', path: { steps: [{ key: 'output' }] } });
  }
  for (const e of g.edges) {
    const ex = execOf.get(e.to);
    if (ex === undefined) continue;
    const steps = e.kind === 'parent' ? [{ key: 'parent' }] : [{ key: 'input' }, ...(e.path ? [{ key: e.path }] : [])];
    doc.events.push({ artifactId: artifactId.get(e.from)!, executionId: ex, type: 'INPUT', path: { steps } });
  }
  return doc;
}
