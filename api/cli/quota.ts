/**
 * `fcm quota [user]`: a user's limits next to what they use (one line per
 * limit), also printed by `fcm whoami`. `fcm quota set` is generated from
 * the spec (updateQuota).
 */
import type { Schemas } from '../client.js';
import type { Command } from './command.js';
import type { Ctx } from './context.js';
import type { Parsed } from './parse.js';
import { EXIT } from './render-error.js';
import type { Style } from './io.js';

type Quota = Schemas['Quota'];

const UNITS: Record<string, string> = {
  vms: '', vcpus: '', memoryMib: ' MiB', diskMib: ' MiB', configVarsPerApp: '', configBytesPerApp: ' B', repoMibPerApp: ' MiB', repoMibTotal: ' MiB', pendingDomains: '',
};

/** One line per limit: `memoryMib  3072 / 10240 MiB`, highlighted when at or over the limit. */
export function formatQuota(q: Quota, st: Style): string {
  if (q.unlimited) return `${st.bold('Quota:')}   unlimited (admin)\n`;
  const names = Object.keys(q.limits) as (keyof Quota['limits'])[];
  const w = Math.max(...names.map((n) => n.length));
  const lines = names.map((n) => {
    const limit = q.limits[n];
    const used = q.usage[n] ?? 0;
    const text = `${String(used).padStart(6)} / ${limit === null ? 'unlimited' : `${limit}${UNITS[n] ?? ''}`}`;
    const full = limit !== null && used >= limit;
    return `  ${n.padEnd(w)}  ${full ? st.red(text) : text}${q.overrides[n] !== undefined ? st.dim('  (set by an admin)') : ''}\n`;
  });
  return `${st.bold('Quota:')}   used / limit (per-app values: your largest app)\n${lines.join('')}`;
}

export function quotaCommand(): Command {
  return {
    name: 'quota',
    group: 'users',
    summary: "Show a user's quota (limit and usage)",
    description: 'Without a user: your own. Admins may name anyone (id or email). fcm quota set changes limits (admins).',
    args: [{ name: 'user', description: 'me (default), a user id or an email', optional: true }],
    flags: [],
    examples: ['fcm quota', 'fcm quota alice@example.com --json', 'fcm quota set alice@example.com --vms 20'],
    run: async (ctx: Ctx, parsed: Parsed) => {
      const user = parsed.positionals[0] ?? 'me';
      const q = (await ctx.client().call('get', '/v1/users/{user}/quota', { path: { user } })) as Quota;
      if (ctx.json) ctx.print(`${JSON.stringify(q, null, 2)}\n`);
      else ctx.print(`${ctx.out.bold('User:'.padEnd(8))} ${q.user}\n${formatQuota(q, ctx.out)}`);
      return EXIT.ok;
    },
  };
}
