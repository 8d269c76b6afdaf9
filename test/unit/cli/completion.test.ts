import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { commandTable } from '../../../api/cli/commands.gen.js';
import { buildCommands } from '../../../api/cli/commands.js';
import { completionScript } from '../../../api/cli/completion.js';
import { run, tempDir } from './io-helpers.js';

const commands = buildCommands(commandTable);
const visible = commands.filter((c) => !c.hidden).map((c) => c.name);

test('fcm completion bash|zsh|fish prints the scripts; anything else is a usage error', async () => {
  const bash = await run(['completion', 'bash']);
  assert.equal(bash.code, 0);
  assert.equal(bash.stdout, completionScript('bash', commands));
  assert.match((await run(['completion', 'zsh'])).stdout, /^#compdef fcm\n/);
  const fish = await run(['completion', 'fish']);
  assert.equal(fish.code, 0);
  assert.equal(fish.stdout, completionScript('fish', commands));
  const tcsh = await run(['completion', 'tcsh']);
  assert.equal(tcsh.code, 2);
  assert.match(tcsh.stderr, /no completion for "tcsh": use bash, zsh, fish/);
  assert.equal((await run(['completion'])).code, 2);
});

test('every script names every visible command and every flag of the table, and no hidden command', () => {
  for (const shell of ['bash', 'zsh', 'fish'] as const) {
    const s = completionScript(shell, commands);
    for (const name of visible) for (const w of name.split(' ')) assert.match(s, new RegExp(`\\b${w}\\b`), `${shell}: ${name}`);
    const flag = (f: string) => (shell === 'fish' ? `-l ${f}` : `--${f}`);
    for (const spec of commandTable) for (const f of spec.flags) assert.ok(s.includes(flag(f.flag)), `${shell}: ${spec.command} --${f.flag}`);
    assert.ok(!s.includes("'__complete:"), `${shell}: __complete is hidden`);
    assert.match(s, /fcm __complete vms/);
  }
});

test('the bash script parses, and completes commands, flags, enum values and VM names', () => {
  const script = completionScript('bash', commands);
  execFileSync('bash', ['-n'], { input: script });
  // A fake `fcm` on PATH answers `fcm __complete vms`.
  const bin = tempDir();
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'fcm'), '#!/bin/sh\n[ "$1 $2" = "__complete vms" ] && printf "cosmic-nova\\ncalm-river\\n"\n');
  chmodSync(join(bin, 'fcm'), 0o755);
  const scriptFile = join(bin, 'fcm-completion.bash');
  writeFileSync(scriptFile, script);
  const complete = (line: string, file = scriptFile) => {
    const words = line.split(' ');
    const out = execFileSync(
      'bash',
      ['-c', `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _fcm; printf '%s\\n' "\${COMPREPLY[@]}"`, 'x', file],
      { env: { PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' },
    );
    return out.split('\n').filter(Boolean).sort();
  };
  assert.deepEqual(complete('fcm cr'), ['create']);
  assert.deepEqual(complete('fcm st'), ['start', 'stop']);
  assert.deepEqual(complete('fcm stop --f'), ['--force']);
  assert.deepEqual(complete('fcm stop --timeout-ms '), [], 'no guesses for a number');
  assert.deepEqual(complete('fcm wait --state r'), ['running']);
  assert.deepEqual(complete('fcm stop '), ['calm-river', 'cosmic-nova']);
  assert.deepEqual(complete('fcm --host h:1 destroy c'), ['calm-river', 'cosmic-nova']);
  assert.deepEqual(complete('fcm stop cosmic-nova '), [], 'one VM per command');
  assert.deepEqual(complete('fcm completion '), ['bash', 'fish', 'zsh']);
  assert.deepEqual(complete('fcm logs -a '), ['calm-river', 'cosmic-nova'], '-a takes an app name');
  assert.deepEqual(complete('fcm --j'), ['--json']);

  // Two-word commands (`keys add`): the parent completes its subcommands, then each completes as itself.
  const ls = commandTable.find((c) => c.command === 'ls')!;
  const stop = commandTable.find((c) => c.command === 'stop')!;
  const withSubs = buildCommands([...commandTable, { ...ls, command: 'keys' }, { ...ls, command: 'keys add' }, { ...stop, command: 'keys rm' }]);
  const subFile = join(bin, 'fcm-completion-subs.bash');
  writeFileSync(subFile, completionScript('bash', withSubs));
  assert.deepEqual(complete('fcm keys ', subFile), ['add', 'rm']);
  assert.deepEqual(complete('fcm keys rm --f', subFile), ['--force']);
  assert.deepEqual(complete('fcm keys rm ', subFile), ['calm-river', 'cosmic-nova']);
  assert.deepEqual(complete('fcm k', subFile), ['keys']);
  // (`keys add` is hand-written, so its own summary wins over the stand-in's.)
  assert.match(completionScript('zsh', withSubs), /keys\)\n          if \(\( CURRENT == 2 \)\); then\n            local -a subs; subs=\('add:Add an SSH public key[^']*' 'rm:Stop a VM/);
});

test('the zsh script: one _arguments case per command, VM args through _fcm_vms', () => {
  const s = completionScript('zsh', commands);
  for (const name of new Set(visible.map((n) => n.split(' ')[0]!))) assert.match(s, new RegExp(`^        ${name}\\)`, 'm'));
  assert.match(s, /stop\) _arguments -s [^;]*'1:name:_fcm_vms'/);
  assert.match(s, /'--state\[[^\]]*\]:state:\(creating starting running sleeping stopping stopped failed deleting\)'/);
  assert.match(s, /'\(--no-force\)--force\[Skip the graceful shutdown\]'/);
  assert.match(s, /completion\) _arguments -s [^;]*'1:shell:\(bash zsh fish\)'/);
  assert.match(s, /compdef _fcm fcm/);
});

test('the fish script parses in fish, and completes commands, subcommands, flags, enum values and app names', (t) => {
  // fish comes from Debian (daemon/host-setup.sh installs it); where it is missing the test says so.
  const fish = spawnSync('fish', ['--version'], { encoding: 'utf8' });
  if (fish.error) return t.skip('fish is not installed (apt-get install fish)');
  const bin = tempDir();
  writeFileSync(join(bin, 'fcm'), '#!/bin/sh\n[ "$1 $2" = "__complete vms" ] && printf "cosmic-nova\\ncalm-river\\n"\n');
  chmodSync(join(bin, 'fcm'), 0o755);
  const scriptFile = join(bin, 'fcm.fish');
  writeFileSync(scriptFile, completionScript('fish', commands));
  execFileSync('fish', ['--no-config', '-n', scriptFile]);
  const complete = (line: string) =>
    execFileSync('fish', ['--no-config', '-c', 'source $argv[1]; complete -C $argv[2]', scriptFile, line], { env: { PATH: `${bin}:${process.env.PATH}`, HOME: bin }, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t')[0]!)
      .sort();
  assert.deepEqual(complete('fcm st'), ['start', 'stop']);
  assert.deepEqual(complete('fcm stop '), ['calm-river', 'cosmic-nova']);
  assert.deepEqual(complete('fcm stop cosmic-nova '), [], 'one VM per command');
  assert.deepEqual(complete('fcm stop --f'), ['--force']);
  assert.deepEqual(complete('fcm wait --state r'), ['running']);
  assert.deepEqual(complete('fcm --host h:1 destroy c'), ['calm-river', 'cosmic-nova']);
  assert.deepEqual(complete('fcm logs -a '), ['calm-river', 'cosmic-nova']);
  assert.deepEqual(complete('fcm releases '), ['calm-river', 'cosmic-nova', 'show'], 'a VM, or the subcommand');
  assert.deepEqual(complete('fcm releases show --'), complete('fcm releases show --').filter((w) => w.startsWith('--')));
  assert.ok(complete('fcm releases show --').includes('--app'));
  assert.deepEqual(complete('fcm completion '), ['bash', 'fish', 'zsh']);
  assert.deepEqual(complete('fcm --j'), ['--json']);
  assert.deepEqual(complete('fcm env '), ['calm-river', 'cosmic-nova', 'set', 'unset']);
});
