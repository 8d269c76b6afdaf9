/**
 * The IaC providers as a laptop gets them (npm run build → dist/pkg), used
 * from directories outside the repository:
 *  - Terraform: the installed fcm-cli's `fcm terraform install --mirror`
 *    lays the single-file provider out as a filesystem_mirror; real
 *    `terraform init` (offline: the mirror is the only installation
 *    method) writes .terraform.lock.hcl with the provider's hash, then plan,
 *    apply and destroy a VM against the daemon's HTTP layer;
 *  - Pulumi: the fcm-pulumi tarball installed offline into a program
 *    directory (its @pulumi/pulumi a link to this repository's copy, as a
 *    registry install would provide it); the program serializes fcm.Vm's
 *    provider and Pulumi's real dynamic-provider host runs it (Check,
 *    Create, Read, Delete), loading Ajv from the package; its types compile.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../e2e/cli-run.js';
import { ensureBuilt, fcm, tempDir } from '../e2e/cli-run.js';
import { memoryApi } from '../helpers/memory-api.js';
import { ROOT as ROOT_PRINCIPAL } from '../helpers/memory-service.js';
import { SECRET_SIG, startDynamicHost, type DynamicHost } from './pulumi/engine.js';
import { terraformMissing } from './terraform/harness.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let m: Awaited<ReturnType<typeof memoryApi>>;
let url: string;

before(async () => {
  ensureBuilt();
  m = await memoryApi();
  url = await m.app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await m?.app.close();
  await m?.h.service.close();
});

/** npm with a private cache, never the registry. */
function npmOffline(cwd: string, args: string[]): void {
  execFileSync('npm', [...args, '--offline', '--no-audit', '--no-fund', '--cache', tempDir('fcm-npm-cache-')], { cwd, stdio: 'pipe' });
}

describe('Terraform: the provider from a filesystem mirror', () => {
  test('fcm terraform install lays it out; terraform init (offline) writes the lock file; apply and destroy a VM', async (t) => {
    const missing = terraformMissing();
    if (missing) return t.skip(missing);
    const prefix = tempDir('fcm-prefix-');
    npmOffline(prefix, ['install', '-g', '--prefix', prefix, join(ROOT, 'dist', 'pkg', `fcm-cli-${VERSION}.tgz`)]);
    const home = tempDir('fcm-tf-home-');
    const mirror = join(tempDir('fcm-tf-'), 'mirror');
    const inst = await fcm(['terraform', 'install', '--mirror', mirror, '--platform', 'linux_amd64'], { cwd: home, env: { HOME: home }, argv0: [join(prefix, 'bin', 'fcm')] });
    assert.equal(inst.code, 0, inst.stderr);
    for (const host of ['registry.terraform.io', 'registry.opentofu.org']) {
      const dir = join(mirror, host, 'fcm', 'fcm', VERSION, 'linux_amd64');
      assert.deepEqual(readdirSync(dir).sort(), ['package.json', `terraform-provider-fcm_v${VERSION}`]);
    }
    assert.match(inst.stderr, /filesystem_mirror \{\n\s+path\s+= "/);

    const work = tempDir('fcm-tf-work-');
    const cliConfig = join(work, 'terraformrc');
    // Only the mirror: terraform init cannot reach a registry, and must not need one.
    writeFileSync(cliConfig, `provider_installation {\n  filesystem_mirror {\n    path    = "${mirror}"\n    include = ["registry.terraform.io/fcm/fcm"]\n  }\n}\n`);
    writeFileSync(
      join(work, 'main.tf'),
      `terraform {\n  required_providers {\n    fcm = { source = "fcm/fcm", version = "${VERSION}" }\n  }\n}\n\n` +
        'resource "fcm_vm" "web" {\n  name = "from-mirror"\n  memory_mib = 512\n}\n\noutput "url" { value = fcm_vm.web.url }\n',
    );
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      CHECKPOINT_DISABLE: '1',
      TF_CLI_CONFIG_FILE: cliConfig,
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
      FCM_HOST: url,
      FCM_TOKEN: m.admin,
    };
    // Async: the API answering Terraform runs in this process.
    const tf = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const c = spawn('terraform', args, { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d) => (stdout += d));
        c.stderr.on('data', (d) => (stderr += d));
        const timer = setTimeout(() => c.kill('SIGKILL'), 180_000);
        c.on('close', (status) => {
          clearTimeout(timer);
          resolve({ status, stdout, stderr });
        });
      });
    const init = await tf(['init', '-no-color']);
    assert.equal(init.status, 0, `${init.stdout}\n${init.stderr}`);
    assert.match(init.stdout, new RegExp(`Installing fcm/fcm v${VERSION.replace(/\./g, '\\.')}`));
    assert.doesNotMatch(init.stdout + init.stderr, /development overrides/i);
    const lock = readFileSync(join(work, '.terraform.lock.hcl'), 'utf8');
    assert.match(lock, new RegExp(`provider "registry\\.terraform\\.io/fcm/fcm" \\{\\n\\s+version\\s+= "${VERSION.replace(/\./g, '\\.')}"`));
    assert.match(lock, /hashes = \[\n\s+"h1:[A-Za-z0-9+/=]{44}",/);

    const apply = await tf(['apply', '-auto-approve', '-no-color']);
    assert.equal(apply.status, 0, `${apply.stdout}\n${apply.stderr}`);
    assert.match(apply.stdout, /url = "https:\/\/from-mirror\.64-34-93-45\.sslip\.io"/);
    assert.equal(m.h.service.get(ROOT_PRINCIPAL, 'from-mirror').memoryMib, 512);
    const destroy = await tf(['destroy', '-auto-approve', '-no-color']);
    assert.equal(destroy.status, 0, `${destroy.stdout}\n${destroy.stderr}`);
    assert.throws(() => m.h.service.get(ROOT_PRINCIPAL, 'from-mirror'));
  });
});

describe('Pulumi: the fcm-pulumi package in a program outside the repository', () => {
  let prog: string;
  let host: DynamicHost | undefined;
  before(() => {
    prog = tempDir('fcm-pulumi-prog-');
    writeFileSync(join(prog, 'package.json'), JSON.stringify({ name: 'prog', private: true, type: 'module' }));
    // The peer is not installed from a registry here: --legacy-peer-deps, then link the one a registry would give.
    npmOffline(prog, ['install', '--legacy-peer-deps', join(ROOT, 'dist', 'pkg', `fcm-pulumi-${VERSION}.tgz`)]);
    mkdirSync(join(prog, 'node_modules', '@pulumi'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', '@pulumi', 'pulumi'), join(prog, 'node_modules', '@pulumi', 'pulumi'));
  });
  after(async () => {
    await host?.close();
  });

  test('installed with Ajv inside and @pulumi/pulumi as a peer', () => {
    const pkgDir = join(prog, 'node_modules', 'fcm-pulumi');
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    assert.equal(pkg.version, VERSION);
    assert.deepEqual(Object.keys(pkg.peerDependencies), ['@pulumi/pulumi']);
    assert.ok(existsSync(join(pkgDir, 'node_modules', 'ajv', 'dist', '2020.js')), 'Ajv came in the tarball');
  });

  test('the program serializes fcm.Vm; the dynamic-provider host runs it: check, create, read, delete', async () => {
    writeFileSync(
      join(prog, 'serialize.mjs'),
      "import * as pulumi from '@pulumi/pulumi';\nimport { vmProvider, Vm } from 'fcm-pulumi';\n" +
        "if (typeof Vm !== 'function') throw new Error('no Vm');\n" +
        'const sf = await pulumi.runtime.serializeFunction(() => vmProvider, { allowSecrets: true });\nprocess.stdout.write(sf.text);\n',
    );
    const text = execFileSync(process.execPath, ['serialize.mjs'], { cwd: prog, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: prog } });
    assert.match(text, /^exports\.handler = /m);
    assert.ok(text.includes(join(prog, 'node_modules', 'fcm-pulumi', 'index.mjs')), 'Ajv is loaded relative to the installed package');
    assert.ok(text.length < 120_000, `${text.length} bytes`);

    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: prog };
    host = await startDynamicHost({ cwd: prog, env });
    await host.configure({ 'fcm:host': url, 'fcm:token': { ...SECRET_SIG, value: m.admin } });
    const urn = 'urn:pulumi:dev::prog::pulumi-nodejs:dynamic/fcm:Vm::pkg';
    const bad = await host.check(urn, {}, { name: 'Bad_Name', __provider: text });
    assert.deepEqual(bad.failures.map((f) => f.property), ['name'], 'validation (Ajv from the package) ran');
    const checked = await host.check(urn, {}, { name: 'from-package', memoryMib: 256, __provider: text });
    assert.deepEqual(checked.failures, []);
    const created = await host.create(urn, checked.inputs);
    assert.equal(created.id, 'from-package');
    assert.equal(created.properties['url'], 'https://from-package.64-34-93-45.sslip.io');
    assert.equal(m.h.service.get(ROOT_PRINCIPAL, 'from-package').memoryMib, 256);
    const read = await host.read(urn, 'from-package', created.properties);
    assert.equal(read.properties['state'], 'running');
    await host.delete(urn, 'from-package', created.properties);
    assert.throws(() => m.h.service.get(ROOT_PRINCIPAL, 'from-package'));
  });

  test('a TypeScript program type-checks against the package (fcm.Vm, its inputs and outputs)', () => {
    writeFileSync(
      join(prog, 'index.ts'),
      "import * as fcm from 'fcm-pulumi';\nconst web = new fcm.Vm('web', { memoryMib: 512, domains: ['www.example.com'] });\nexport const url = web.url;\n" +
        "// @ts-expect-error memoryMib is a number\nnew fcm.Vm('bad', { memoryMib: 'lots' });\n",
    );
    writeFileSync(
      join(prog, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, types: [] }, files: ['index.ts'] }),
    );
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: prog, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  });
});
