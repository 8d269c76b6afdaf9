/**
 * The layering holds (test/helpers/import-boundaries.ts has the rules), and
 * the check really catches a break: each kind of forbidden edge is planted
 * in an in-memory copy of the tree (never in real code) and must be reported.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { cycles, importEdges, readTree, violations, type Tree } from '../helpers/import-boundaries.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
const tree = readTree(root);

const show = (v: { from: string; to: string; line: number; rule: string }[]) => v.map((x) => `${x.from}:${x.line} → ${x.to} (${x.rule})`).join('\n');

test('the tree is read and its imports found (sanity: the check is not vacuous)', () => {
  assert.ok(tree.size > 200, `${tree.size} .ts files`);
  const edges = importEdges(tree);
  assert.ok(edges.length > 700, `${edges.length} import edges`);
  // Known edges of each kind the parser must see: plain, type-only, dynamic import(), export-from.
  const has = (from: string, to: string) => edges.some((e) => e.from === from && e.to === to);
  assert.ok(has('daemon/main.ts', 'daemon/core/vm-service.ts'), 'a value import');
  assert.ok(has('daemon/core/vm-service.ts', 'daemon/core/ports/vm-store.ts'), 'an import type');
  assert.ok(has('daemon/main.ts', 'daemon/drivers/firecracker/firecracker-hypervisor.ts'), 'a dynamic import()');
  assert.ok(has('api/cli/resolve.ts', 'api/host-url.ts'), 'a re-export');
});

test('no forbidden import edge: core ↛ drivers/http, drivers ↛ http, http ↛ drivers, clients and providers ↛ daemon', () => {
  assert.equal(show(violations(tree)), '');
});

test('no import cycles (the CLI registry and its command modules included)', () => {
  assert.deepEqual(cycles(tree), []);
});

/** A copy of the tree with one line added to one file. */
function plant(file: string, line: string): Tree {
  const copy = new Map(tree);
  assert.ok(copy.has(file), file);
  copy.set(file, `${line}\n${copy.get(file)}`);
  return copy;
}

const PLANTED: [string, string, string, string][] = [
  // [file, import line, reported target, rule]
  ['daemon/core/vm-lifecycle.ts', "import { QemuHypervisor } from '../drivers/qemu/qemu-hypervisor.js';", 'daemon/drivers/qemu/qemu-hypervisor.ts', 'core → drivers'],
  ['daemon/core/vm-lifecycle.ts', "import type { Handler } from '../http/server.js';", 'daemon/http/server.ts', 'core → http'],
  ['daemon/core/fast-boot.ts', "const m = await import('../drivers/cow-disks.js');", 'daemon/drivers/cow-disks.ts', 'core → drivers'],
  ['daemon/core/ports/vm-store.ts', "import type { VmService } from '../vm-service.js';", 'daemon/core/vm-service.ts', 'ports → core'],
  ['daemon/core/vm-service.ts', "import { startDaemon } from '../main.js';", 'daemon/main.ts', 'core → root'],
  ['daemon/drivers/cow-disks.ts', "import { problem } from '../http/problem.js';", 'daemon/http/problem.ts', 'drivers → http'],
  ['daemon/http/routes/vms.ts', "export { CowDisks } from '../../drivers/cow-disks.js';", 'daemon/drivers/cow-disks.ts', 'http → drivers'],
  ['api/cli/console.ts', "import { newSince } from '../../daemon/core/console-scrollback.js';", 'daemon/core/console-scrollback.ts', 'api → core'],
  ['api/client.ts', "import type { VmRecord } from '../daemon/core/model.js';", 'daemon/core/model.ts', 'api → model'],
  ['provider/vm-resource.ts', "import { FcmError } from '../daemon/core/errors.js';", 'daemon/core/errors.ts', 'provider → model'],
  ['provider/terraform/fcm.ts', "import { loadConfig } from '../../daemon/config.js';", 'daemon/config.ts', 'provider → root'],
  ['api/cli/run.ts', "import { VmResourceError } from '../../provider/vm-resource.js';", 'provider/vm-resource.ts', 'api → provider'],
  ['examples/pulumi/index.ts', "import { SqliteVmStore } from '../../daemon/drivers/sqlite/sqlite-vm-store.js';", 'daemon/drivers/sqlite/sqlite-vm-store.ts', 'examples → drivers'],
  ['daemon/drivers/cow-disks.ts', "import { memoryService } from '../../test/helpers/memory-service.js';", 'test/helpers/memory-service.ts', 'drivers → test'],
];

for (const [file, line, to, rule] of PLANTED) {
  test(`a planted ${rule} edge is reported (${file})`, () => {
    const v = violations(plant(file, line));
    assert.deepEqual(v.map((x) => [x.from, x.to, x.rule, x.line]), [[file, to, rule, 1]], show(v));
  });
}

test('an import inside a comment or a string is not an edge', () => {
  const v = violations(plant('daemon/core/vm-lifecycle.ts', "// import { QemuHypervisor } from '../drivers/qemu/qemu-hypervisor.js';\nconst s = \"import '../drivers/cow-disks.js'\";"));
  assert.equal(show(v), '');
});

test('a planted cycle is reported', () => {
  // The cycle this check was written after: a command module taking `type Command` from the registry that imports it.
  const c = cycles(plant('api/cli/deploys.ts', "import type { Command } from './commands.js';"));
  assert.deepEqual(c, [['api/cli/commands.ts', 'api/cli/deploys.ts']]);
});

test('an exception lets one edge through while it exists; once the edge is gone the exception is reported', () => {
  const line = "import { CowDisks } from '../../drivers/cow-disks.js';";
  const planted = plant('daemon/http/routes/vms.ts', line);
  const x = [{ from: 'daemon/http/routes/vms.ts', to: 'daemon/drivers/cow-disks.ts', why: 'test' }];
  assert.equal(show(violations(planted, x)), '');
  assert.deepEqual(violations(tree, x).map((v) => [v.from, v.to, v.rule]), [
    ['daemon/http/routes/vms.ts', 'daemon/drivers/cow-disks.ts', 'stale exception: the edge is gone, delete it from KNOWN_EXCEPTIONS'],
  ]);
});
