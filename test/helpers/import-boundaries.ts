/**
 * The layering rules of DESIGN.md as a check over import edges:
 *
 *   openapi.yaml → api/ → daemon/http → daemon/core → ports ← drivers
 *
 * Files are read as text and their imports found by TypeScript's own
 * pre-processor (static, `import type`, `export … from`, dynamic import();
 * comments and strings are not imports). The rules are a pure function of a
 * { path → source } map, so a test can plant a forbidden import in an
 * in-memory copy of the tree and see it refused.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import ts from 'typescript';

export type Tree = Map<string, string>;

export interface Edge {
  from: string;
  to: string;
  line: number;
}

/** Every .ts file of the repository (repo-relative, posix), without node_modules and dist. */
export function readTree(root: string): Tree {
  const tree: Tree = new Map();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts')) tree.set(relative(root, p).split('\\').join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(root);
  return tree;
}

/** Relative imports resolved to repo paths (`./x.js` → `dir/x.ts`); packages and node: built-ins are not edges. */
export function importEdges(tree: Tree): Edge[] {
  const edges: Edge[] = [];
  for (const [from, source] of tree) {
    for (const f of ts.preProcessFile(source, true, true).importedFiles) {
      if (!f.fileName.startsWith('.')) continue;
      const spec = posix.normalize(posix.join(posix.dirname(from), f.fileName));
      const asTs = spec.replace(/\.js$/, '.ts');
      const to = tree.has(asTs) ? asTs : spec;
      const line = source.slice(0, f.pos).split('\n').length;
      edges.push({ from, to, line });
    }
  }
  return edges;
}

const under = (p: string, dir: string) => p.startsWith(`${dir}/`);

/** Where a file sits in the layering. */
export function layer(p: string): Layer {
  if (under(p, 'test') || p.endsWith('.test.ts')) return 'test';
  if (under(p, 'daemon/core/ports')) return 'ports';
  // The parts of core every ring may name: the model, the one error table, the pure planners.
  if (p === 'daemon/core/model.ts' || p === 'daemon/core/errors.ts' || under(p, 'daemon/core/planners')) return 'model';
  if (under(p, 'daemon/core')) return 'core';
  if (under(p, 'daemon/drivers')) return 'drivers';
  if (under(p, 'daemon/http')) return 'http';
  if (p === 'daemon/log.ts') return 'log';
  // daemon/*.ts: the composition root (main.ts, *-wiring.ts) and its plumbing (config, secrets, admin token).
  if (under(p, 'daemon')) return 'root';
  if (under(p, 'api')) return 'api';
  if (under(p, 'provider')) return 'provider';
  if (under(p, 'examples')) return 'examples';
  return 'other';
}

export type Layer = 'test' | 'ports' | 'model' | 'core' | 'drivers' | 'http' | 'log' | 'root' | 'api' | 'provider' | 'examples' | 'other';

const DAEMON: Layer[] = ['root', 'http', 'core', 'model', 'ports', 'drivers', 'log'];

/**
 * What each layer may import; every other edge is forbidden. In words:
 * core never reaches drivers or http (it names ports); drivers never reach
 * http; http reaches core, not drivers; only the composition root wires
 * drivers into core; nothing outside daemon/ imports daemon/ (tests aside);
 * api/ (the contract: generated spec and types, the client, the CLI and the
 * pure helpers shared with clients) imports nothing of the daemon or the
 * providers; providers and examples use only api/ (and the providers).
 */
export const ALLOWED: Record<Layer, readonly Layer[]> = {
  ports: ['ports', 'model'],
  model: ['model', 'ports', 'log'],
  core: ['core', 'model', 'ports', 'log', 'api'],
  drivers: ['drivers', 'core', 'model', 'ports', 'log', 'api'],
  http: ['http', 'core', 'model', 'ports', 'log', 'api'],
  root: [...DAEMON, 'api'],
  log: ['log'],
  api: ['api'],
  provider: ['provider', 'api'],
  examples: ['examples', 'provider', 'api'],
  test: [...DAEMON, 'api', 'provider', 'examples', 'test', 'other'],
  other: ['other', 'api'],
};

/**
 * Edges allowed to break the rules for a while (work moving them is under
 * way), each with why. An entry whose edge is gone is reported, so the list
 * only shrinks. Empty: every edge keeps the rules.
 */
export const KNOWN_EXCEPTIONS: readonly { from: string; to: string; why: string }[] = [];

export interface Violation extends Edge {
  rule: string;
}

export function violations(tree: Tree, exceptions = KNOWN_EXCEPTIONS): Violation[] {
  const edges = importEdges(tree);
  const out: Violation[] = [];
  for (const e of edges) {
    const from = layer(e.from);
    const to = layer(e.to);
    if (ALLOWED[from].includes(to) || exceptions.some((x) => x.from === e.from && x.to === e.to)) continue;
    out.push({ ...e, rule: `${from} → ${to}` });
  }
  for (const x of exceptions) {
    if (!edges.some((e) => e.from === x.from && e.to === x.to)) out.push({ from: x.from, to: x.to, line: 0, rule: 'stale exception: the edge is gone, delete it from KNOWN_EXCEPTIONS' });
  }
  return out;
}

/** Import cycles (strongly connected components of more than one file, or a file importing itself). */
export function cycles(tree: Tree): string[][] {
  const graph = new Map<string, string[]>();
  for (const e of importEdges(tree)) if (tree.has(e.to)) graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let n = 0;
  const visit = (v: string) => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

