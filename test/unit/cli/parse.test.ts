import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandTable } from '../../../api/cli/commands.gen.js';
import { buildCommands } from '../../../api/cli/commands.js';
import { parseArgs, suggest, UsageError, type FlagDef } from '../../../api/cli/parse.js';

const cmd = (name: string) => buildCommands(commandTable).find((c) => c.name === name)!;
const flagsOf = (name: string): FlagDef[] => cmd(name).flags;
const usage = (fn: () => unknown, re: RegExp, suggestion?: string) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, re);
    assert.equal(e.opts.suggestion, suggestion);
    return true;
  });

test('flags come from the command table: kebab-case names, typed values', () => {
  const p = parseArgs(['my-app', '--memory-mib', '2048', '--vcpus=2', '--image', 'base'], flagsOf('create'), { maxPositionals: 1 });
  assert.deepEqual(p, { positionals: ['my-app'], flags: { 'memory-mib': 2048, vcpus: 2, image: 'base' } });
});

test('booleans: --force, --no-force, --force=false', () => {
  const f = flagsOf('stop');
  assert.equal(parseArgs(['--force'], f).flags.force, true);
  assert.equal(parseArgs(['--no-force'], f).flags.force, false);
  assert.equal(parseArgs(['--force=false'], f).flags.force, false);
  usage(() => parseArgs(['--force=maybe'], f), /--force is a switch/);
  usage(() => parseArgs(['--no-force=1'], f), /takes no value/);
});

test('integers are checked before any request: whole numbers within the spec bounds', () => {
  const f = flagsOf('create');
  usage(() => parseArgs(['--memory-mib', 'lots'], f), /--memory-mib must be a whole number, not "lots"/);
  usage(() => parseArgs(['--memory-mib', '1.5'], f), /whole number/);
  usage(() => parseArgs(['--memory-mib', '64'], f), /--memory-mib must be between 128 and 16384, not 64/);
  usage(() => parseArgs(['--memory-mib'], f), /--memory-mib needs a value \(a whole number\)/);
  assert.equal(parseArgs(['--timeout-ms', '0'], flagsOf('stop')).flags['timeout-ms'], 0);
});

test('enums are validated with a suggestion', () => {
  usage(() => parseArgs(['--state', 'runing'], flagsOf('wait')), /--state must be one of creating, .*; not "runing"/, 'running');
  assert.equal(parseArgs(['--state', 'stopped'], flagsOf('wait')).flags.state, 'stopped');
});

test('array flags: comma-separated and repeated', () => {
  const f = flagsOf('update');
  assert.deepEqual(parseArgs(['--domains', 'a.example.com,b.example.com', '--domains', 'c.example.com'], f).flags.domains, [
    'a.example.com', 'b.example.com', 'c.example.com',
  ]);
  assert.deepEqual(parseArgs(['--domains='], f).flags.domains, [], 'an empty value clears the list');
});

test('unknown flags are usage errors with a did-you-mean', () => {
  usage(() => parseArgs(['--forse'], flagsOf('stop')), /unknown flag --forse/, '--force');
  usage(() => parseArgs(['--memory', '1'], flagsOf('create')), /unknown flag --memory/, '--memory-mib');
  usage(() => parseArgs(['-x'], flagsOf('stop')), /unknown flag -x/);
  usage(() => parseArgs(['--zzzzzzzz'], flagsOf('stop')), /unknown flag/, undefined);
});

test('positionals: limited by the command, -- ends flags, short flags', () => {
  usage(() => parseArgs(['a', 'b'], flagsOf('stop'), { maxPositionals: 1 }), /unexpected argument "b"/);
  usage(() => parseArgs(['a'], [], { maxPositionals: 0 }), /takes none/);
  assert.deepEqual(parseArgs(['--', '--force'], flagsOf('stop')).positionals, ['--force']);
  assert.equal(parseArgs(['-y'], flagsOf('destroy')).flags.yes, true);
  assert.deepEqual(parseArgs(['--json', 'ls', '--host', 'x'], [{ long: 'json', type: 'boolean', description: '' }], { stopAtPositional: true }), {
    positionals: ['ls', '--host', 'x'],
    flags: { json: true },
  });
});

test('suggest: typos, swaps and unique prefixes; nothing for unrelated words', () => {
  assert.equal(suggest('lss', ['ls', 'create']), 'ls');
  assert.equal(suggest('destory', ['destroy', 'stop']), 'destroy');
  assert.equal(suggest('crea', ['create', 'console']), 'create');
  assert.equal(suggest('banana', ['ls', 'create', 'stop']), undefined);
});

test('short flags combine as in getopt: -fn 50, -n50, -yf; a value flag ends the group', () => {
  const logs = flagsOf('logs');
  assert.deepEqual(parseArgs(['-fn', '50'], logs).flags, { follow: true, lines: 50 });
  assert.deepEqual(parseArgs(['-fn50'], logs).flags, { follow: true, lines: 50 });
  assert.deepEqual(parseArgs(['-n', '7', '-f'], logs).flags, { lines: 7, follow: true });
  assert.deepEqual(parseArgs(['-n=7'], logs).flags, { lines: 7 });
  assert.deepEqual(parseArgs(['-fa', 'cosmic-nova'], logs).flags, { follow: true, app: 'cosmic-nova' });
  usage(() => parseArgs(['-fx'], logs), /unknown flag -x \(in -fx\)/);
  usage(() => parseArgs(["-nf"], logs), /--lines must be a whole number, not "f"/);
  usage(() => parseArgs(['-f', '-n'], logs), /-n needs a value \(a whole number\)/);
  assert.deepEqual(parseArgs(['-5'], [], { maxPositionals: 1 }).positionals, ['-5'], 'a negative number is not a flag');
});

test('-a/--app everywhere a VM is meant; the old --name still parses, reported as deprecated', () => {
  for (const c of ['show', 'stop', 'destroy', 'logs', 'env', 'env set', 'rollback', 'releases', 'releases show', 'console', 'open', 'domains verify', 'git-remote']) {
    const app = flagsOf(c).find((f) => f.long === 'app');
    assert.ok(app, `${c} has --app`);
    assert.equal(app.short, 'a', c);
  }
  const p = parseArgs(['--name', 'cosmic-nova'], flagsOf('rollback'));
  assert.deepEqual(p.flags, { app: 'cosmic-nova' });
  assert.deepEqual(p.deprecated, [['--name', '--app']]);
  assert.equal(parseArgs(['-a', 'x'], flagsOf('rollback')).deprecated, undefined);
});
