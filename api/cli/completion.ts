/**
 * `fcm completion bash|zsh`: scripts generated from the command registry
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

export function completionScript(shell: 'bash' | 'zsh', commands: Command[]): string {
  return shell === 'bash' ? bash(commands) : zsh(commands);
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
  for (const c of cmds) for (const f of c.flags) if (f.type !== 'boolean') valueFlags.add(`--${f.long}`);
  const pattern = (name: string) => (name.includes(' ') ? `"${name.split(' ').map(word).join(' ')}"` : word(name));
  const compgen = (words: string) => `COMPREPLY=( $(compgen -W "${words}" -- "$cur") )`;
  const parents = [...subs.keys()].filter((p) => !cmds.some((c) => c.name === p));
  const cases = [
    ...cmds.map((c) => {
      const values = c.flags
        .filter((f) => f.type !== 'boolean')
        .map((f) => `        --${word(f.long)}) ${f.enum ? `${compgen(f.enum.map(word).join(' '))}; ` : f.vmRef ? `${compgen('$(_fcm_vms)')}; ` : ''}return 0 ;;`);
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
