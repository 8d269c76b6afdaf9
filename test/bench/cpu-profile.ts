/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and says where the CPU time went,
 * in buckets: each sample goes to the bucket of the innermost frame on its
 * stack that a rule claims (so buckets add up to the whole), restricted to the
 * window in which `windowFrame` was on some stack (the load, not the start-up).
 */
import { readFileSync } from 'node:fs';

interface Frame { functionName: string; url: string }
interface Node { id: number; callFrame: Frame; parent?: number; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

export interface Bucket {
  name: string;
  /** Claims a frame (checked from the innermost frame outwards; the first bucket that claims one wins). */
  claims: (f: Frame) => boolean;
}

export interface ProfileSummary {
  /** µs of CPU inside the window, per bucket (the rest under "other", idle excluded). */
  us: Map<string, number>;
  busyUs: number;
  windowUs: number;
  /** Top frames by self time inside the window. */
  top: { frame: string; us: number }[];
}

export function summarizeProfile(path: string, buckets: Bucket[], windowFrame: (f: Frame) => boolean): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  for (const n of p.nodes) for (const c of n.children ?? []) byId.get(c)!.parent = n.id;
  const stack = (id: number): Node[] => {
    const out: Node[] = [];
    for (let n = byId.get(id); n; n = n.parent === undefined ? undefined : byId.get(n.parent)) out.push(n);
    return out;
  };
  // The window: first to last sample with windowFrame on its stack.
  let t = 0;
  const times: number[] = [];
  let first = -1;
  let last = -1;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    times.push(t);
    if (stack(p.samples[i]!).some((n) => windowFrame(n.callFrame))) {
      if (first < 0) first = i;
      last = i;
    }
  }
  const us = new Map<string, number>();
  const self = new Map<string, number>();
  let busy = 0;
  for (let i = Math.max(first, 0); i <= last; i++) {
    const dt = (p.timeDeltas[i + 1] ?? 0);
    const s = stack(p.samples[i]!);
    const leaf = s[0]!.callFrame;
    if (leaf.functionName === '(idle)') continue;
    busy += dt;
    const key = `${leaf.functionName || '(anonymous)'} ${leaf.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    let name = 'other';
    outer: for (const n of s) {
      for (const b of buckets) {
        if (b.claims(n.callFrame)) {
          name = b.name;
          break outer;
        }
      }
    }
    us.set(name, (us.get(name) ?? 0) + dt);
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([frame, v]) => ({ frame, us: v }));
  return { us, busyUs: busy, windowUs: first < 0 ? 0 : times[last]! - times[first]!, top };
}
