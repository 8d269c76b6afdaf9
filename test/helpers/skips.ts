/**
 * Which skipped tests CI accepts (test/allowed-skips.txt), matched by name
 * *and* reason: a test allowed to skip because "no firecracker binary" fails
 * CI when it skips for anything else (a missing image, not root...).
 *
 * File format, one rule a line, `#` comments:
 *   <exact test name> | <regular expression the skip reason must match>
 * A rule without a reason pattern is an error: every allowed skip says why.
 */
export interface SkipRule {
  name: string;
  reason: RegExp;
  line: number;
}

export interface Skipped {
  name: string;
  reason: string;
}

export type SkipVerdict = { allowed: true; rule: SkipRule } | { allowed: false; why: string };

export function parseAllowedSkips(text: string): SkipRule[] {
  const rules: SkipRule[] = [];
  text.split('\n').forEach((raw, i) => {
    const l = raw.trim();
    if (!l || l.startsWith('#')) return;
    const sep = l.lastIndexOf(' | ');
    if (sep < 0) throw new Error(`allowed-skips line ${i + 1}: "<test name> | <reason regexp>" expected, got: ${l}`);
    const name = l.slice(0, sep).trim();
    const pattern = l.slice(sep + 3).trim();
    if (!name || !pattern) throw new Error(`allowed-skips line ${i + 1}: both a test name and a reason pattern are needed: ${l}`);
    let reason: RegExp;
    try {
      reason = new RegExp(pattern);
    } catch (e) {
      throw new Error(`allowed-skips line ${i + 1}: bad reason pattern: ${(e as Error).message}`);
    }
    rules.push({ name, reason, line: i + 1 });
  });
  return rules;
}

export function judgeSkip(s: Skipped, rules: SkipRule[]): SkipVerdict {
  const byName = rules.filter((r) => r.name === s.name);
  if (!byName.length) return { allowed: false, why: 'not listed in test/allowed-skips.txt' };
  const rule = byName.find((r) => r.reason.test(s.reason));
  if (rule) return { allowed: true, rule };
  return { allowed: false, why: `listed, but only for a reason matching ${byName.map((r) => `/${r.reason.source}/`).join(' or ')}` };
}

/**
 * `ok N - name # SKIP reason` lines of a TAP stream (node:test writes skipped suites and tests so).
 * TODO tests count too: their result is not counted, so they are no more a pass than a skip.
 */
export function skippedFromTap(tap: string): Skipped[] {
  return [...tap.matchAll(/^\s*(?:not )?ok \d+ - (.*?) # (SKIP|TODO)\b ?(.*)$/gm)].map((m) => ({ name: m[1]!.trim(), reason: m[3]!.trim() || `(${m[2]} without a reason)` }));
}
