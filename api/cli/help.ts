/** `fcm --help` and `fcm <command> --help`, rendered from the command registry. */
import type { Command } from './command.js';
import type { Style } from './io.js';
import type { FlagDef } from './parse.js';

/** Group headings by the operation's first tag (hand-written commands pick one too); unknown tags show as-is. */
const GROUPS: [string, string][] = [
  ['vms', 'VMs'],
  ['deploys', 'Deploys'],
  ['auth', 'Account'],
  ['keys', 'SSH keys'],
  ['system', 'Server'],
  ['shell', 'Shell'],
];

export const GLOBAL_FLAG_DEFS: FlagDef[] = [
  { long: 'host', type: 'string', valueName: 'url', description: 'fcm server (default: $FCM_HOST, then ./.fcm, then the default of fcm hosts, then http://localhost:7777)' },
  { long: 'ca-file', type: 'string', valueName: 'pem', description: "CA the server's certificate chains to, trusted besides the system's (default: $FCM_CA_FILE, then the one saved by fcm login)" },
  { long: 'json', type: 'boolean', description: 'Print the API response as JSON on stdout, and nothing else (a failure: one JSON object on stderr)' },
  { long: 'color', type: 'boolean', negatable: true, description: 'Colours (default: on a terminal, unless NO_COLOR is set)' },
  { long: 'help', short: 'h', type: 'boolean', description: 'Show help' },
  { long: 'version', type: 'boolean', description: 'Show the version' },
];

export function usageLine(c: Command): string {
  const args = c.args.map((a) => (a.optional ? `[${a.name}]` : `<${a.name}>`) + (a.variadic ? '...' : ''));
  const flags = c.passthrough ? '' : ' [flags]';
  // Flags first, then -- and the arguments that are passed on untouched (fcm run).
  if (c.flagsFirst) return `fcm ${c.name}${flags} -- ${args.join(' ')}`;
  return `fcm ${c.name}${args.length ? ` ${args.join(' ')}` : ''}${flags}`;
}

function flagLabel(f: FlagDef): string {
  const name = f.negatable ? `--[no-]${f.long}` : `--${f.long}`;
  const short = f.short ? `-${f.short}, ` : '';
  if (f.type === 'boolean') return `${short}${name}`;
  const value = f.valueName ?? (f.enum ? (f.enum.length <= 4 ? f.enum.join('|') : f.long) : f.type === 'integer' ? 'int' : f.type === 'array' ? 'a,b' : f.type === 'number' ? 'number' : 'string');
  return `${short}${name} <${value}>`;
}

/** The first sentence of a description: help stays one line per flag; the spec keeps the long text. */
function firstSentence(s: string): string {
  const text = s.replace(/\s+/g, ' ').trim();
  const m = /^.*?[.!?](?=\s|$)/.exec(text);
  return m ? m[0] : text;
}

function flagNotes(f: FlagDef): string {
  const notes: string[] = [];
  if (f.enum && f.enum.length > 4) notes.push(`one of ${f.enum.join(', ')}`);
  if (f.minimum !== undefined && f.maximum !== undefined) notes.push(`${f.minimum}–${f.maximum}`);
  else if (f.minimum !== undefined) notes.push(`≥ ${f.minimum}`);
  else if (f.maximum !== undefined) notes.push(`≤ ${f.maximum}`);
  if (f.default !== undefined) notes.push(`default ${Array.isArray(f.default) ? f.default.join(',') || 'none' : String(f.default)}`);
  return notes.length ? ` (${notes.join(', ')})` : '';
}

function list(rows: [string, string][], st: Style): string[] {
  const w = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `  ${st.bold(a)}${' '.repeat(w - a.length + 3)}${b}`.trimEnd());
}

export function commandHelp(c: Command, st: Style, all: Command[] = []): string {
  const out: string[] = [`${st.bold(`fcm ${c.name}`)} — ${c.summary}`, '', `${st.bold('Usage:')} ${usageLine(c)}`];
  if (c.description) out.push('', ...c.description.split('\n'));
  const subs = all.filter((s) => !s.hidden && s.name.startsWith(`${c.name} `));
  if (subs.length) {
    out.push('', st.bold('Commands'));
    out.push(...list(subs.map((s) => [usageLine(s).slice(4).replace(/ \[flags\]$/, ''), s.summary]), st));
  }
  if (c.args.length) {
    out.push('', st.bold('Arguments'));
    out.push(...list(c.args.map((a) => [a.name, a.description]), st));
  }
  if (c.flags.length) {
    out.push('', st.bold('Flags'));
    out.push(...list(c.flags.map((f) => [flagLabel(f), `${firstSentence(f.description)}${flagNotes(f)}`.trim()]), st));
  }
  if (!c.passthrough) {
    out.push('', st.bold('Global flags'));
    out.push(...list(GLOBAL_FLAG_DEFS.filter((f) => f.long !== 'version').map((f) => [flagLabel(f), f.description]), st));
  }
  if (c.examples.length) out.push('', st.bold('Examples'), ...c.examples.map((e) => `  ${e}`));
  return out.join('\n') + '\n';
}

export function topHelp(commands: Command[], version: string, st: Style): string {
  const visible = commands.filter((c) => !c.hidden);
  const tags = [...new Set(visible.map((c) => c.group))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const out: string[] = [
    `${st.bold('fcm')} ${version} — apps in microVMs on your own server`,
    '',
    `${st.bold('Usage:')} fcm <command> [args] [flags]`,
  ];
  for (const tag of tags) {
    out.push('', st.bold(GROUPS.find(([t]) => t === tag)?.[1] ?? tag));
    const rows = visible
      .filter((c) => c.group === tag)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((c): [string, string] => [usageLine(c).slice(4).replace(/ \[flags\]$/, ''), c.summary]);
    out.push(...list(rows, st));
  }
  out.push('', st.bold('Global flags'));
  out.push(...list(GLOBAL_FLAG_DEFS.map((f) => [flagLabel(f), f.description]), st));
  out.push(
    '',
    st.bold('Environment'),
    ...list(
      [
        ['FCM_HOST', 'fcm server, e.g. https://fcm.64-34-93-45.sslip.io (no scheme: https, http for localhost)'],
        ['FCM_TOKEN', 'a token for the selected server (--host, FCM_HOST or the default), sent to no other;'],
        ['', 'else the token fcm login stored for that server; else ~/.fcm-token (mode 0600), only for'],
        ['', 'a server named by --host/FCM_HOST or localhost. Never sent to a server only ./.fcm names.'],
        ['FCM_CA_FILE', 'CA file (PEM) to trust for the server, as --ca-file'],
        ['FCM_CONFIG_DIR', 'where fcm login stores credentials (default $XDG_CONFIG_HOME/fcm, ~/.config/fcm)'],
        ['NO_COLOR', 'set to turn colours off'],
      ],
      st,
    ),
    '',
    st.bold('Examples'),
    '  fcm create                 # a VM with a random name, remembered in ./.fcm',
    '  fcm ls',
    '  fcm stop && fcm start      # the VM in ./.fcm',
    '  fcm logs -fn 50 -a other   # any app: -a/--app <name>',
    '  fcm destroy cosmic-nova --yes',
    '',
    "Run 'fcm <command> --help' for a command's flags and examples.",
  );
  return out.join('\n') + '\n';
}

function rank(tag: string): number {
  const i = GROUPS.findIndex(([t]) => t === tag);
  return i === -1 ? GROUPS.length : i;
}
