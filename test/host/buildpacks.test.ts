/**
 * The buildpacks after Python/Node/Ruby, for real: a real daemon, a real QEMU
 * guest from the base image with its guest agent, real Caddy, all in the
 * harness's namespace; the real git client pushes over smart HTTP with a token.
 * One VM takes the pushes in turn (the apps are examples/pyproject and examples/static):
 *   1. a pyproject.toml project (no requirements.txt): `pip install .` in the
 *      guest — the web process is the console script the install made, so it
 *      runs only if the project really was installed;
 *   2. the same project asking for a Python the image lacks (.python-version):
 *      refused with the message, a failed release, the old one still served;
 *   3. a static site (index.html, no Procfile): served by the static server
 *      on PORT, its dotfiles not;
 *   4. .nvmrc and .ruby-version asking for what the image lacks: refused
 *      (the versions asked from the real node and ruby in the guest).
 * The guest has no network: the pyproject build must work offline (setuptools
 * from the image).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hostSkipReason, ROOT_DIR, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { httpText, type TextResponse } from '../helpers/http-text.js';
import { eventually as waitFor } from '../helpers/wait.js';

const skip = hostSkipReason();

function sh(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 600_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const PY_BODY = 'Hello from a pyproject.toml app! \n';

describe('pyproject, static sites and runtime version files on a real VM', { skip: skip ?? false, timeout: 30 * 60_000 }, () => {
  let h: HostHarness;
  let ca: string;
  let work: string;
  let vm: { url: string; gitHttpUrl: string };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@example.com',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@example.com',
    LANG: 'C.UTF-8',
  };
  const git = (...args: string[]) => sh('git', ['-C', work, ...args], env);
  const commit = async (msg: string) => {
    assert.equal((await git('add', '-A')).code, 0);
    const r = await git('commit', '-q', '-m', msg);
    assert.equal(r.code, 0, r.stderr);
  };
  const push = () => git('push', vm.gitHttpUrl.replace('://', `://git:${h.token}@`), 'HEAD:main');
  const remote = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('remote: ')).map((l) => l.slice(8).trimEnd());
  const get = (path: string) => {
    const u = new URL(vm.url);
    return httpText({ https: true, host: h.daemonIp, port: 443, path, servername: u.hostname, headers: { host: u.hostname }, ca: readFileSync(ca), timeout: 10_000 });
  };
  const eventually = (what: string, path: string, ok: (r: TextResponse) => boolean) => waitFor(what, () => get(path), ok, 120_000, 200);

  before(async () => {
    h = await startHostHarness({ caddy: true });
    ca = await h.caddy.rootCaFile();
    work = mkdtempSync(join(tmpdir(), 'fcm-bp-host-'));
    const c = await h.api('POST', '/v1/vms', { name: 'bp', memoryMib: 512, swapMib: 256 });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const w = await h.api('GET', '/v1/vms/bp/wait?state=running&timeout=300');
    assert.equal(w.status, 200, JSON.stringify(w.body));
    vm = w.body;
    assert.equal((await git('init', '-q', '-b', 'main')).code, 0);
  });
  after(async () => {
    await h?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('a pyproject.toml project is pip-installed (offline) and its console script serves', async (t) => {
    cpSync(join(ROOT_DIR, 'examples', 'pyproject'), work, { recursive: true });
    assert.equal(readFileSync(join(work, 'Procfile'), 'utf8'), 'web: hello-web\n', 'the web process exists only once installed');
    assert.equal(readFileSync(join(work, '.python-version'), 'utf8'), '3.11\n');
    await commit('pyproject app');
    const r = await push();
    const lines = remote(r.stderr);
    t.diagnostic(lines.join('\n'));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(lines.includes('-----> Detected Python (pyproject.toml)'), lines.join('\n'));
    assert.ok(lines.some((l) => /^-----> \.python-version asks for Python 3\.11: using Python 3\.11\.\d+$/.test(l)), lines.join('\n'));
    assert.ok(lines.includes('-----> Running pip install .'), lines.join('\n'));
    assert.ok(lines.some((l) => /Successfully installed hello-fcm-1\.0\.0/.test(l)), lines.join('\n'));
    await eventually('the pyproject app', '/', (x) => x.status === 200 && x.body === PY_BODY);
    const rel = await h.api('GET', '/v1/vms/bp/releases/1');
    assert.deepEqual([rel.body.status, rel.body.buildpack], ['succeeded', 'python']);
  });

  test('a .python-version the image cannot satisfy is refused with the message; the old release keeps serving', async () => {
    writeFileSync(join(work, '.python-version'), '3.99\n');
    await commit('wants python 3.99');
    const r = await push();
    assert.notEqual(r.code, 0);
    const message = /\.python-version asks for Python 3\.99, but this image has Python 3\.11\.\d+ only: change \.python-version to 3\.11 \(or remove it\) to build with Python 3\.11\.\d+/;
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /Running pip install/, 'refused before any install');
    const releases = (await h.api('GET', '/v1/vms/bp/releases')).body.releases;
    assert.equal(releases[0].status, 'failed');
    const failed = await h.api('GET', `/v1/vms/bp/releases/${releases[0].version}`);
    assert.match(failed.body.log, message, 'the build log keeps the reason');
    const live = await get('/');
    assert.equal(live.body, PY_BODY, 'the previous release still serves');
  });

  test('a static site (index.html, no Procfile) is served by the static server; dotfiles are not', async (t) => {
    // the tree becomes examples/static, with the refused .python-version left in (not a static site's business)
    rmSync(join(work, 'src'), { recursive: true });
    for (const f of ['pyproject.toml', 'Procfile']) rmSync(join(work, f));
    cpSync(join(ROOT_DIR, 'examples', 'static'), work, { recursive: true });
    await commit('static site');
    const r = await push();
    const lines = remote(r.stderr);
    t.diagnostic(lines.join('\n'));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(lines.includes('-----> Detected a static site (index.html)'), lines.join('\n'));
    assert.ok(!lines.some((l) => /python-version/.test(l)), 'a version file of another language is not a static site\'s business');
    await eventually('the static site', '/', (x) => x.status === 200 && x.body.includes('<h1>Hello from a static site!</h1>'));
    assert.match((await get('/about/')).body, /A directory answers with its index\.html/);
    const css = await get('/style.css');
    assert.equal(css.status, 200);
    assert.match(String(css.headers['content-type']), /^text\/css/);
    const dotfile = await get('/.python-version');
    assert.equal(dotfile.status, 404);
    assert.match(dotfile.body, /this is 404\.html/);
    const rel = (await h.api('GET', '/v1/vms/bp/releases')).body.releases[0];
    assert.deepEqual([rel.status, rel.buildpack], ['succeeded', 'static']);
  });

  test('.nvmrc and .ruby-version are checked against the image\'s Node.js and Ruby (asked from the binaries in the guest)', async () => {
    for (const f of ['index.html', '404.html']) rmSync(join(work, f));
    writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'v', scripts: { start: 'node index.js' } }));
    writeFileSync(join(work, '.nvmrc'), 'v99\n');
    await commit('wants node 99');
    const node = await push();
    assert.notEqual(node.code, 0);
    assert.match(node.stderr, /\.nvmrc asks for Node\.js v99, but this image has Node\.js (\d+)\.\d+\.\d+ only: change \.nvmrc to \1\.\d+ \(or remove it\)/);
    rmSync(join(work, 'package.json'));
    rmSync(join(work, '.nvmrc'));
    writeFileSync(join(work, 'Gemfile'), "source 'https://rubygems.org'\n");
    writeFileSync(join(work, '.ruby-version'), 'ruby-9.9.9\n');
    await commit('wants ruby 9.9.9');
    const ruby = await push();
    assert.notEqual(ruby.code, 0);
    assert.match(ruby.stderr, /\.ruby-version asks for Ruby ruby-9\.9\.9, but this image has Ruby \d+\.\d+\.\d+ only/);
    assert.match((await get('/')).body, /Hello from a static site!/, 'the static site still serves');
  });
});
