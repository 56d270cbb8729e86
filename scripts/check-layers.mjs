#!/usr/bin/env node
// Keeps the layer direction of STYLE.md true: every relative import in src/ must point to the
// same layer or one below it, and nothing below cli may touch `process` or `console`.
// (dependency-cruiser 18 needs Node 22; this 60-line check needs nothing.)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve, sep } from 'node:path';

const src = resolve(dirname(new URL(import.meta.url).pathname), '..', 'src');
// A layer may import from the layers listed for it (and from itself).
const allowed = {
  core: [],
  model: ['core'],
  storage: ['core'],
  repository: ['model', 'storage', 'core'],
  workspace: ['repository', 'model', 'storage', 'core'],
  trust: ['repository', 'model', 'storage', 'core'],
  check: ['trust', 'repository', 'model', 'storage', 'core', 'workspace'],
  api: ['workspace', 'check', 'trust', 'repository', 'model', 'storage', 'core'],
  cli: ['api', 'workspace', 'check', 'trust', 'repository', 'model', 'storage', 'core'],
};
const shared = new Set(['errors', 'env']); // src/errors.ts and src/env.ts: usable everywhere

function layerOf(file) {
  const rel = relative(src, file).split(sep);
  if (rel.length === 1) return rel[0].replace(/\.(ts|js)$/, '');
  return rel[0];
}

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) yield p;
  }
}

const problems = [];
for (const file of walk(src)) {
  const layer = layerOf(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
    const target = layerOf(resolve(dirname(file), m[1] ?? m[2]));
    if (target === layer || shared.has(target) || !(layer in allowed)) continue;
    if (!allowed[layer].includes(target)) problems.push(`${relative(src, file)}: ${layer} must not import ${target} (${m[1] ?? m[2]})`);
  }
  if (layer !== 'cli' && layer !== 'env' && layer !== 'index') {
    const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    if (/\bprocess\.|\bconsole\./.test(code)) problems.push(`${relative(src, file)}: only src/cli may use process or console`);
  }
}
if (problems.length) {
  console.error(`Layer check failed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('Layer check passed.');
