/**
 * `fcm completion bash|zsh|fish`: scripts generated from the command registry
 * (so spec commands complete without hand-written entries). VM names come
 * from `fcm __complete vms` at completion time.
 */
import type { Command } from './command.js';
import { GLOBAL_FLAG_DEFS } from './help.js';
import type { FlagDef } from './parse.js';

const visible = (cmds: Command[]) => cmds.filter((c) => !c.hidden).sort((a, b) => a.name.localeCompare(b.name));

function flagWords(flags: FlagDef[]): string[] {
  return flags.flatMap((f) => [`--${f.long}`, ...(f.negatable ? [`--no-${f.long}`] : []), ...(f.short ? [`-${f.short}`] : [])]);
}

const globalsFor = (c: Command) => GLOBAL_FLAG_DEFS.filter((g) => g.long !== 'version' && !c.flags.some((f) => f.long === g.long));

/** Bash words are generated from identifiers and kebab-case names only; refuse anything that would need quoting. */
function word(s: string): string {
  if (!/^[A-Za-z0-9_.:,@%+=/-]+$/.test(s)) throw new Error(`cannot put "${s}" in a completion script`);
  return s;
}

export type Shell = 'bash' | 'zsh' | 'fish';
export const SHELLS: Shell[] = ['bash', 'zsh', 'fish'];

export function completionScript(shell: Shell, commands: Command[]): string {
  return shell === 'bash' ? bash(commands) : shell === 'zsh' ? zsh(commands) : fish(commands);
}

/** Subcommand words per parent word: keys → [add, rm]. */
function subcommands(cmds: Command[]): Map<string, Command[]> {
  const m = new Map<string, Command[]>();
  for (const c of cmds) {
    const [parent, sub] = c.name.split(' ');
    if (sub) m.set(parent!, [...(m.get(parent!) ?? []), c]);
  }
  return m;
}

function bash(all: Command[]): string {
  const cmds = visible(all);
  const subs = subcommands(cmds);
  const valueFlags = new Set<string>(['--host']);
  for (const c of cmds) {
    for (const f of c.flags) {
      if (f.type === 'boolean') continue;
      valueFlags.add(`--${f.long}`);
      if (f.short) valueFlags.add(`-${f.short}`);
    }
  }
  const pattern = (name: string) => (name.includes(' ') ? `"${name.split(' ').map(word).join(' ')}"` : word(name));
  const compgen = (words: string) => `COMPREPLY=( $(compgen -W "${words}" -- "$cur") )`;
  const parents = [...subs.keys()].filter((p) => !cmds.some((c) => c.name === p));
  const cases = [
    ...cmds.map((c) => {
      const values = c.flags
        .filter((f) => f.type !== 'boolean')
        .map((f) => `        --${word(f.long)}${f.short ? `|-${word(f.short)}` : ''}) ${f.enum ? `${compgen(f.enum.map(word).join(' '))}; ` : f.vmRef ? `${compgen('$(_fcm_vms)')}; ` : ''}return 0 ;;`);
      const flags = [...flagWords(c.flags), ...flagWords(globalsFor(c))].map(word).join(' ');
      const args = c.args
        .map((a, i) => {
          const body = a.vmRef ? compgen('$(_fcm_vms)') : a.choices ? compgen(a.choices.map(word).join(' ')) : null;
          return body ? `        ${i}) ${body} ;;` : null;
        })
        .filter(Boolean);
      const children = subs.get(c.name);
      if (children && c.args.length === 0) args.push(`        0) ${compgen(children.map((s) => word(s.name.split(' ')[1]!)).join(' '))} ;;`);
      return [
        `    ${pattern(c.name)})`,
        ...(values.length ? ['      case "$prev" in', ...values, '      esac'] : []),
        `      if [[ "$cur" == -* ]]; then ${compgen(flags)}; return 0; fi`,
        ...(args.length ? ['      case "$nargs" in', ...args, '      esac'] : []),
        '      ;;',
      ].join('\n');
    }),
    ...parents.map((p) => `    ${word(p)}) [ "$nargs" -eq 0 ] && ${compgen(subs.get(p)!.map((s) => word(s.name.split(' ')[1]!)).join(' '))} ;;`),
  ];
  const subPairs = [...subs.values()].flat().map((c) => c.name.split(' ').map(word).join(':'));
  return `# bash completion for fcm, generated from its command table by \`fcm completion bash\`.
# Load it: source <(fcm completion bash)    or save it as /etc/bash_completion.d/fcm
_fcm_vms() { fcm __complete vms 2>/dev/null; }
_fcm() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local cmd="" nargs=0 i=1 w
  local valueflags=" ${[...valueFlags].map(word).join(' ')} "
  local subcommands=" ${subPairs.join(' ')} "
  while [ "$i" -lt "$COMP_CWORD" ]; do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      -*) [[ "$valueflags" == *" $w "* ]] && i=$((i + 1)) ;;
      *)
        if [ -z "$cmd" ]; then cmd="$w"
        elif [ "$nargs" -eq 0 ] && [[ "$cmd" != *" "* ]] && [[ "$subcommands" == *" $cmd:$w "* ]]; then cmd="$cmd $w"
        else nargs=$((nargs + 1)); fi ;;
    esac
    i=$((i + 1))
  done
  COMPREPLY=()
  if [ -z "$cmd" ]; then
    [ "$prev" = "--host" ] && return 0
    ${compgen(`${[...new Set(cmds.map((c) => word(c.name.split(' ')[0]!)))].join(' ')} ${flagWords(GLOBAL_FLAG_DEFS).map(word).join(' ')}`)}
    return 0
  fi
  [ "$prev" = "--host" ] && return 0
  case "$cmd" in
${cases.join('\n')}
  esac
  return 0
}
complete -F _fcm fcm
`;
}

/** Text inside a single-quoted zsh word, inside an _arguments [description]. */
function zq(s: string): string {
  return s.split('\n')[0]!.trim().replace(/'/g, "'\\''").replace(/([[\]\\])/g, '\\$1');
}

function zshFlag(f: FlagDef): string[] {
  const desc = zq(f.description);
  if (f.type === 'boolean') {
    if (!f.negatable) return [`'${f.short ? `(-${f.short} --${f.long})'{-${f.short},--${f.long}}'` : `--${f.long}`}[${desc}]'`];
    return [`'(--no-${f.long})--${f.long}[${desc}]'`, `'(--${f.long})--no-${f.long}[${desc}]'`];
  }
  const action = f.enum ? `(${f.enum.join(' ')})` : f.vmRef ? '_fcm_vms' : f.long === 'host' ? '_urls' : ' ';
  return [`'${f.type === 'array' ? '*' : ''}--${f.long}[${desc}]:${f.valueName ?? f.long}:${action}'`];
}

function zshArguments(c: Command, indent: string): string {
  const specs = [...c.flags, ...globalsFor(c)].flatMap(zshFlag);
  c.args.forEach((a, i) => {
    const action = a.vmRef ? '_fcm_vms' : a.choices ? `(${a.choices.join(' ')})` : ' ';
    specs.push(a.variadic ? `'*:${a.name}: '` : `'${i + 1}:${a.name}:${action}'`);
  });
  return `_arguments -s \\\n${indent}    ${specs.join(` \\\n${indent}    `)}`;
}

function zsh(all: Command[]): string {
  const cmds = visible(all);
  const subs = subcommands(cmds);
  const tops = [...new Set(cmds.map((c) => c.name.split(' ')[0]!))];
  const describe = (name: string, summary: string) => `'${word(name)}:${summary.replace(/'/g, "'\\''").replace(/:/g, '\\:')}'`;
  const cases = tops.map((top) => {
    const own = cmds.find((c) => c.name === top);
    const children = subs.get(top);
    if (!children) return `        ${word(top)}) ${zshArguments(own!, '          ')} ;;`;
    // `fcm keys <TAB>` offers the subcommands; after one, complete as that command (words shifted by one).
    return [
      `        ${word(top)})`,
      '          if (( CURRENT == 2 )); then',
      `            local -a subs; subs=(${children.map((c) => describe(c.name.split(' ')[1]!, c.summary)).join(' ')})`,
      `            _describe -t commands 'fcm ${word(top)} command' subs`,
      '          else',
      '            case $words[2] in',
      ...children.map((c) => `              ${word(c.name.split(' ')[1]!)}) shift words; (( CURRENT-- )); ${zshArguments(c, '                ')} ;;`),
      ...(own ? [`              *) ${zshArguments(own, '                ')} ;;`] : []),
      '            esac',
      '          fi ;;',
    ].join('\n');
  });
  return `#compdef fcm
# zsh completion for fcm, generated from its command table by \`fcm completion zsh\`.
# Load it: fcm completion zsh > "\${fpath[1]}/_fcm"    or: source <(fcm completion zsh)
_fcm_vms() {
  local -a vms
  vms=(\${(f)"$(fcm __complete vms 2>/dev/null)"})
  _describe -t vms 'VM' vms
}
_fcm() {
  local curcontext="$curcontext" state line
  typeset -A opt_args
  _arguments -C \\
    ${GLOBAL_FLAG_DEFS.flatMap(zshFlag).join(' \\\n    ')} \\
    '1: :->command' \\
    '*:: :->args' && return
  case $state in
    command)
      local -a commands
      commands=(
${tops.map((t) => `        ${describe(t, cmds.find((c) => c.name === t)?.summary ?? `${t} commands`)}`).join('\n')}
      )
      _describe -t commands 'fcm command' commands ;;
    args)
      case $words[1] in
${cases.join('\n')}
      esac ;;
  esac
}
if [ "$funcstack[1]" = "_fcm" ]; then _fcm "$@"; else compdef _fcm fcm; fi
`;
}

/** A fish single-quoted string: only \\ and \' are special there. */
function fq(s: string): string {
  return `'${s.split('\n')[0]!.trim().replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function fishFlag(cond: string, f: FlagDef): string[] {
  const base = `complete -c fcm -n ${fq(cond)} -l ${word(f.long)}${f.short ? ` -s ${word(f.short)}` : ''} -d ${fq(f.description)}`;
  if (f.type === 'boolean') return [base, ...(f.negatable ? [`complete -c fcm -n ${fq(cond)} -l no-${word(f.long)} -d ${fq(f.description)}`] : [])];
  // -x: takes a value and no file names; values from the enum or the VM list, else nothing to suggest.
  const values = f.enum ? ` -a ${fq(f.enum.map(word).join(' '))}` : f.vmRef ? " -a '(__fcm_vms)'" : '';
  return [`${base} -x${values}`];
}

/**
 * fish: `complete` lines guarded by conditions. __fcm_words prints the words
 * typed so far without flags (and the values of flags that take one);
 * __fcm_at CMD N is true when the command typed is CMD (one or two words)
 * followed by exactly N arguments.
 */
function fish(all: Command[]): string {
  const cmds = visible(all);
  const subs = subcommands(cmds);
  const valueFlags = new Set<string>(GLOBAL_FLAG_DEFS.filter((f) => f.type !== 'boolean').map((f) => `--${f.long}`));
  for (const c of cmds) {
    for (const f of c.flags) {
      if (f.type === 'boolean') continue;
      valueFlags.add(`--${f.long}`);
      if (f.short) valueFlags.add(`-${f.short}`);
    }
  }
  const subPairs = [...subs.values()].flat().map((c) => c.name.split(' ').map(word).join(':'));
  const tops = [...new Set(cmds.map((c) => c.name.split(' ')[0]!))];
  const lines: string[] = [];
  for (const t of tops) {
    const own = cmds.find((c) => c.name === t);
    lines.push(`complete -c fcm -n '__fcm_at "" 0' -a ${word(t)} -d ${fq(own?.summary ?? `${t} commands`)}`);
  }
  for (const f of GLOBAL_FLAG_DEFS) lines.push(...fishFlag('true', f));
  for (const c of cmds) {
    const name = c.name.split(' ').map(word).join(' ');
    const at = (n: string) => `__fcm_at "${name}" ${n}`;
    for (const f of c.flags) lines.push(...fishFlag(at('any'), f));
    c.args.forEach((a, i) => {
      if (a.variadic) return;
      if (a.vmRef) lines.push(`complete -c fcm -n ${fq(at(String(i)))} -a '(__fcm_vms)'`);
      else if (a.choices) lines.push(`complete -c fcm -n ${fq(at(String(i)))} -a ${fq(a.choices.map(word).join(' '))}`);
      else if (a.file) lines.push(`complete -c fcm -n ${fq(at(String(i)))} -F`);
    });
    const children = subs.get(c.name);
    if (children) for (const k of children) lines.push(`complete -c fcm -n ${fq(at('0'))} -a ${word(k.name.split(' ')[1]!)} -d ${fq(k.summary)}`);
  }
  for (const p of subs.keys()) {
    if (cmds.some((c) => c.name === p)) continue;
    for (const k of subs.get(p)!) lines.push(`complete -c fcm -n '__fcm_at ${word(p)} 0' -a ${word(k.name.split(' ')[1]!)} -d ${fq(k.summary)}`);
  }
  return `# fish completion for fcm, generated from its command table by \`fcm completion fish\`.
# Load it: fcm completion fish > ~/.config/fish/completions/fcm.fish    or: fcm completion fish | source
complete -c fcm -e
complete -c fcm -f
function __fcm_vms
    fcm __complete vms 2>/dev/null
end
function __fcm_words
    set -l valueflags ${[...valueFlags].map(word).join(' ')}
    set -l words (commandline -opc)
    set -e words[1]
    set -l skip 0
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        if contains -- $w $valueflags
            set skip 1
            continue
        end
        string match -q -- '-*' $w; and continue
        echo $w
    end
end
function __fcm_at
    set -l subcommands ${subPairs.join(' ')}
    set -l words (__fcm_words)
    set -l cmd
    set -l rest $words
    if test (count $words) -ge 1
        set cmd $words[1]
        set rest $words[2..-1]
        if test (count $words) -ge 2; and contains -- "$words[1]:$words[2]" $subcommands
            set cmd "$words[1] $words[2]"
            set rest $words[3..-1]
        end
    end
    test "$cmd" = "$argv[1]"; or return 1
    test "$argv[2]" = any; and return 0
    test (count $rest) -eq $argv[2]
end
${lines.join('\n')}
`;
}
