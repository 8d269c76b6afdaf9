/**
 * fcm as a laptop uses it, over HTTPS only: a real daemon and a real Caddy
 * (tls internal) in a network namespace, the API served by Caddy at
 * https://fcm.<ip with dashes>.sslip.io (FCM_PUBLIC_URL left to its
 * default), and the clients — the installed fcm-cli package, git, real
 * Terraform with the mirrored provider — run inside the namespace, where
 * /etc/netns/<ns>/hosts names the daemon's address (no DNS lookup of
 * sslip.io is ever made; resolv.conf there points at the namespace's own
 * empty loopback). They trust Caddy's CA only through the file the daemon
 * writes (<state>/ca.pem) and `fcm login --ca-file`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { ensureBuilt, ROOT, tempDir } from '../e2e/cli-run.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { terraformMissing } from '../iac/terraform/harness.js';
import { eventually } from '../helpers/wait.js';

const skip = hostSkipReason();
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Res {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('the API over HTTPS through Caddy: CLI, git and Terraform from "a laptop" (the namespace)', { skip: skip ?? false, timeout: 30 * 60_000 }, () => {
  let h: HostHarness;
  let apiHost: string;
  let apiUrl: string;
  let etcDir: string;
  let prefix: string;
  let home: string;
  let caPath: string;
  const vm = 'tls-app';
  let vmHost: string;

  /** A command inside the namespace with only the environment given (plus PATH). */
  const inNs = (cmd: string, args: string[], env: Record<string, string>, o: { input?: string; cwd?: string; timeoutMs?: number } = {}): Promise<Res> =>
    new Promise((resolve) => {
      const pairs = Object.entries({ PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`, ...env }).map(([k, v]) => `${k}=${v}`);
      const c = spawn('ip', ['netns', 'exec', h.ns, 'env', '-i', ...pairs, cmd, ...args], { cwd: o.cwd ?? home, stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      if (o.input !== undefined) c.stdin!.end(o.input);
      let stdout = '';
      let stderr = '';
      c.stdout!.on('data', (d) => (stdout += d));
      c.stderr!.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => c.kill('SIGKILL'), o.timeoutMs ?? 300_000);
      c.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  const fcmIn = (args: string[], o: { input?: string; cwd?: string; env?: Record<string, string> } = {}) => inNs('fcm', args, { HOME: home, FCM_DEBUG: '1', ...o.env }, o);

  before(async () => {
    ensureBuilt();
    // Login-class requests (starting a login) limited to 3 a minute per client address: the limit test below.
    h = await startHostHarness({ caddy: true, env: { FCM_PUBLIC_URL: '', FCM_RATE_LOGIN: '3/min' } });
    apiHost = `fcm.${h.daemonIp.replace(/\./g, '-')}.sslip.io`;
    apiUrl = `https://${apiHost}`;
    vmHost = `${vm}.${h.daemonIp.replace(/\./g, '-')}.sslip.io`;
    // `ip netns exec` bind-mounts /etc/netns/<ns>/* over /etc/*: names resolve from this file only.
    etcDir = join('/etc/netns', h.ns);
    mkdirSync(etcDir, { recursive: true });
    writeFileSync(join(etcDir, 'hosts'), `127.0.0.1 localhost\n${h.daemonIp} ${apiHost} ${vmHost}\n`);
    writeFileSync(join(etcDir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    prefix = tempDir('fcm-prefix-');
    execFileSync('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--cache', tempDir('fcm-npm-cache-'), join(ROOT, 'dist', 'pkg', `fcm-cli-${VERSION}.tgz`)], { stdio: 'pipe' });
    home = tempDir('fcm-laptop-home-');
    caPath = join(h.stateDir, 'ca.pem');
  });
  after(async () => {
    await h?.close();
    if (etcDir) rmSync(etcDir, { recursive: true, force: true });
  });

  test('the daemon writes Caddy\'s root CA to <state>/ca.pem; the API answers at its HTTPS name, verified by that CA only', async () => {
    await eventually(`${caPath} written`, async () => existsSync(caPath), (v) => v, 60_000);
    assert.equal(readFileSync(caPath, 'utf8'), readFileSync(await h.caddy.rootCaFile(), 'utf8'));
    const ok = await inNs('curl', ['-sS', '--max-time', '20', '--cacert', caPath, `${apiUrl}/v1/health`], {});
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).status, 'ok');
    const untrusted = await inNs('curl', ['-sS', '--max-time', '20', `${apiUrl}/v1/health`], {});
    assert.equal(untrusted.code, 60, 'curl refuses a certificate it cannot verify');
    // The OIDC callback (<FCM_PUBLIC_URL>/v1/auth/callback, registered with the identity provider) is the
    // daemon's own answer at the HTTPS name, not Caddy's "no app" 404 (login is off here: a problem).
    const cb = await h.curlVia(`${apiUrl}/v1/auth/callback?state=${'s'.repeat(32)}&code=c`, { cacert: caPath, extra: ['-i'] });
    assert.match(cb.body, /^content-type: application\/problem\+json/im, cb.body);
    assert.equal(typeof JSON.parse(cb.body.slice(cb.body.indexOf('\r\n\r\n') + 4)).code, 'string');
  });

  test("through Caddy the daemon counts each client by its own address: X-Forwarded-For believed from loopback (Caddy) only, a client's own ignored", async () => {
    // Two clients: the test process (over the veth, from the host side's address) and one inside the
    // namespace (from the daemon's address). Both reach the API only through Caddy, which the daemon
    // sees connecting from 127.0.0.1: were the proxy's address counted, they would share one bucket.
    const startDevice = (extra: string[] = []) => h.curlVia(`${apiUrl}/v1/auth/device`, { cacert: caPath, extra: ['-X', 'POST', ...extra] });
    const first: number[] = [];
    for (let i = 0; i < 3; i++) first.push((await startDevice(['-H', `X-Forwarded-For: 203.0.113.${10 + i}`])).status);
    assert.ok(first.every((s) => s !== 429), `the first 3 are within the limit: ${first.join(',')}`);
    const over = await startDevice(['-H', 'X-Forwarded-For: 203.0.113.99']);
    assert.equal(over.status, 429, 'the 4th from the same client is limited, whatever X-Forwarded-For it sends (Caddy replaces it)');
    assert.equal(JSON.parse(over.body).code, 'rate_limited');
    const other = await inNs('curl', ['-sS', '--max-time', '20', '--cacert', caPath, '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', `${apiUrl}/v1/auth/device`], {});
    assert.equal(other.code, 0, other.stderr);
    assert.notEqual(other.stdout, '429', 'another client through the same Caddy has its own bucket');
  });

  test('fcm refuses the certificate without the CA (and says how to fix it); login --ca-file stores token and CA for that host', async () => {
    const bare = await fcmIn(['ls'], { env: { FCM_HOST: apiUrl, FCM_TOKEN: h.token, HOME: tempDir('fcm-other-home-') } });
    assert.equal(bare.code, 1);
    assert.match(bare.stderr, new RegExp(`^Error: Cannot reach the fcm daemon at ${apiUrl.replace(/\./g, '\\.')} \\[unreachable\\]\\n`));
    assert.match(bare.stderr, /Hint: the server's certificate is not trusted here: pass its CA with --ca-file/);

    const login = await fcmIn(['login', '--host', apiHost, '--ca-file', caPath, '--with-token'], { input: h.token });
    assert.equal(login.code, 0, login.stderr);
    assert.equal(login.stdout, `Logged in to ${apiUrl} as admin (admin token), admin.\n`, 'a bare host name means https');
    const hosts = await fcmIn(['hosts']);
    assert.match(hosts.stdout, new RegExp(`^\\*\\s+${apiUrl.replace(/\./g, '\\.')}\\s+admin\\s+${home}/\\.config/fcm/ca/https_${apiHost.replace(/\./g, '\\.')}\\.pem$`, 'm'));
  });

  test('create, git push over HTTPS (credential helper, CA for that URL only), the app through Caddy, logs, the console over wss', async () => {
    const repo = tempDir('fcm-laptop-app-');
    execFileSync('git', ['init', '-q', '-b', 'main', repo]);
    writeFileSync(join(repo, 'requirements.txt'), '# standard library only\n');
    writeFileSync(join(repo, 'Procfile'), 'web: python3 app.py\n');
    writeFileSync(
      join(repo, 'app.py'),
      'import os\nfrom http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n\n\nclass App(BaseHTTPRequestHandler):\n    def do_GET(self):\n' +
        '        body = b"hello over https\\n"\n        self.send_response(200)\n        self.send_header("Content-Length", str(len(body)))\n        self.end_headers()\n        self.wfile.write(body)\n        print("served", self.path, flush=True)\n\n\n' +
        'ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), App).serve_forever()\n',
    );
    execFileSync('git', ['-C', repo, '-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qm', 'v1', '--allow-empty'], { stdio: 'pipe' });
    execFileSync('git', ['-C', repo, 'add', '.'], { stdio: 'pipe' });
    execFileSync('git', ['-C', repo, '-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qm', 'app'], { stdio: 'pipe' });

    const c = await fcmIn(['create', vm, '--memory-mib', '512', '--swap-mib', '256'], { cwd: repo });
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, new RegExp(`^VM created: ${vm}\\nURL: https://${vmHost.replace(/\./g, '\\.')}\\n$`));
    const show = JSON.parse((await fcmIn(['show', '--json'], { cwd: repo })).stdout) as { gitHttpUrl: string; gitUrl: string };
    assert.equal(show.gitHttpUrl, `${apiUrl}/git/${vm}.git`, 'FCM_PUBLIC_URL defaults to the HTTPS API');
    assert.equal(show.gitUrl, `root@${h.daemonIp}:${vm}.git`, 'SSH goes to the host itself');

    const remote = await fcmIn(['git-remote'], { cwd: repo });
    assert.equal(remote.code, 0, remote.stderr);
    assert.equal(remote.stdout, `Added git remote fcm: ${show.gitHttpUrl}\n`);
    const cfg = execFileSync('git', ['-C', repo, 'config', '--local', '--list'], { encoding: 'utf8' });
    assert.match(cfg, new RegExp(`^http\\.${apiUrl.replace(/\./g, '\\.')}/\\.sslcainfo=${home}/\\.config/fcm/ca/`, 'm'));
    assert.match(cfg, new RegExp(`^credential\\.${apiUrl.replace(/\./g, '\\.')}\\.helper=!.* git-credential --host`, 'm'));
    assert.doesNotMatch(cfg, new RegExp(h.token), 'no token in the repository config');

    const push = await inNs('git', ['-C', repo, 'push', 'fcm', 'main'], { HOME: home, GIT_TERMINAL_PROMPT: '0' }, { timeoutMs: 600_000 });
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stderr, /-----> Deploy successful!/);
    const page = await inNs('curl', ['-sS', '--max-time', '20', '--cacert', caPath, `https://${vmHost}/`], {});
    assert.equal(page.stdout, 'hello over https\n', page.stderr);

    await eventually('the request in fcm logs', async () => (await fcmIn(['logs', '-n', '50'], { cwd: repo })).stdout, (out) => /served \//.test(out), 30_000);

    // `fcm logs -f` streams through Caddy, and survives Caddy loading new configs (a VM created and destroyed meanwhile).
    const pairs = Object.entries({ PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}`, HOME: home }).map(([k, v]) => `${k}=${v}`);
    const follow = spawn('ip', ['netns', 'exec', h.ns, 'env', '-i', ...pairs, 'fcm', 'logs', '-f', '-n', '1'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let streamed = '';
    follow.stdout.on('data', (d) => (streamed += d));
    try {
      await eventually('logs -f started', async () => streamed, (v) => v.length > 0, 30_000);
      assert.equal((await fcmIn(['create', 'reload-trigger', '--no-wait'], { cwd: tempDir() })).code, 0);
      assert.equal((await fcmIn(['destroy', 'reload-trigger', '-y'], { cwd: tempDir() })).code, 0);
      const again = await inNs('curl', ['-sS', '--max-time', '20', '--cacert', caPath, `https://${vmHost}/after-reload`], {});
      assert.equal(again.stdout, 'hello over https\n', again.stderr);
      await eventually('the new line streamed to logs -f', async () => streamed, (v) => v.includes('served /after-reload'), 30_000);
      assert.equal(follow.exitCode, null, 'the stream is still open');
    } finally {
      follow.kill('SIGTERM');
    }

    // The console's WebSocket through Caddy (TLS with the CA, routed by the API's name; from the test process over the veth).
    const hello = await new Promise<{ type?: string }>((resolve, reject) => {
      const ws = new WebSocket(`wss://${h.daemonIp}/v1/vms/${vm}/console`, {
        headers: { host: apiHost, authorization: `Bearer ${h.token}` },
        servername: apiHost,
        ca: readFileSync(caPath, 'utf8'),
        handshakeTimeout: 15_000,
      } as WebSocket.ClientOptions);
      ws.once('message', (d) => {
        resolve(JSON.parse(String(d)));
        ws.close();
      });
      ws.once('error', reject);
      ws.once('unexpected-response', (_q, r) => reject(new Error(`console upgrade answered ${r.statusCode}`)));
    });
    assert.equal(hello.type, 'hello');
  });

  test('Terraform with the mirrored provider reads the VM over HTTPS with the stored login (host, token, CA)', async (t) => {
    const missing = terraformMissing();
    if (missing) return t.skip(missing);
    const mirror = join(tempDir('fcm-tf-mirror-'), 'mirror');
    assert.equal((await fcmIn(['terraform', 'install', '--mirror', mirror])).code, 0);
    const work = tempDir('fcm-tf-https-');
    writeFileSync(join(work, 'terraformrc'), `provider_installation {\n  filesystem_mirror {\n    path    = "${mirror}"\n    include = ["registry.terraform.io/fcm/fcm"]\n  }\n}\n`);
    writeFileSync(
      join(work, 'main.tf'),
      `terraform {\n  required_providers {\n    fcm = { source = "fcm/fcm", version = "${VERSION}" }\n  }\n}\n\ndata "fcm_vm" "app" { name = "${vm}" }\n\noutput "url" { value = data.fcm_vm.app.url }\noutput "git" { value = data.fcm_vm.app.git_http_url }\n`,
    );
    const env = { HOME: home, CHECKPOINT_DISABLE: '1', TF_CLI_CONFIG_FILE: join(work, 'terraformrc'), TF_IN_AUTOMATION: '1', TF_INPUT: '0' };
    const init = await inNs('terraform', ['init', '-no-color'], env, { cwd: work });
    assert.equal(init.code, 0, `${init.stdout}\n${init.stderr}`);
    assert.ok(existsSync(join(work, '.terraform.lock.hcl')));
    const apply = await inNs('terraform', ['apply', '-auto-approve', '-no-color'], env, { cwd: work });
    assert.equal(apply.code, 0, `${apply.stdout}\n${apply.stderr}`);
    assert.match(apply.stdout, new RegExp(`url = "https://${vmHost.replace(/\./g, '\\.')}"`));
    assert.match(apply.stdout, new RegExp(`git = "${apiUrl.replace(/\./g, '\\.')}/git/${vm}\\.git"`));
  });
});
