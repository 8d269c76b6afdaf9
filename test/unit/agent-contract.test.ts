/**
 * The guest agent's contract, rootfs/guest/agent-openapi.yaml, held both ways:
 *
 * - drift: the document, the Python agent (its route table, constants and the
 *   codes its source can answer: test/guest/serve_agent.py --describe) and the
 *   daemon (openapi.yaml's EnvKey, the stream parser's result prefix) agree;
 *   each planted mismatch in test/fixtures/agent-contract/ is reported.
 * - the Python agent: the real agent.py (its own HTTP server and app side) runs
 *   on loopback in a temporary directory (serve_agent.py); every answer to the
 *   requests below is checked against the document, every documented
 *   operation must answer, and nothing undocumented is served.
 * - the daemon's clients: they talk to the fake agent built from the document
 *   (test/helpers/fake-agent.ts), which refuses what the document does not
 *   allow; here AgentGuest's readiness check, and the refusals themselves on
 *   planted documents. GuestAgentRuntime's and SocketConsole's suites talk to
 *   the same fake (contracts/app-runtime.test.ts, console-contract.test.ts).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { RESULT_PREFIX } from '../../daemon/core/deploys-output.js';
import { AppRuntimeError } from '../../daemon/core/ports/app-runtime.js';
import { AgentGuest } from '../../daemon/drivers/agent-guest.js';
import { GuestAgentRuntime } from '../../daemon/drivers/guest-agent-runtime.js';
import {
  agentContract,
  contractDrift,
  loadAgentDoc,
  mutate,
  ROOT_DIR,
  type AgentResponse,
  type DaemonFacts,
  type GuestFacts,
  type Mutation,
} from '../helpers/agent-contract.js';
import { startFakeAgent } from '../helpers/fake-agent.js';
import { encodeFrame, FRAME, FrameDecoder, type Frame } from '../../daemon/drivers/exec-frames.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { makeTar } from '../helpers/tar.js';

const SERVE = join(ROOT_DIR, 'test', 'guest', 'serve_agent.py');
const FIXTURES = join(ROOT_DIR, 'test', 'fixtures', 'agent-contract');
const PYTHON = 'python3';
const doc = loadAgentDoc();
const contract = agentContract(doc);

async function guestFacts(plant?: string): Promise<GuestFacts> {
  const { stdout } = await promisify(execFile)(PYTHON, [SERVE, '--describe', ...(plant ? ['--plant', plant] : [])], { timeout: 60_000 });
  return JSON.parse(stdout) as GuestFacts;
}

function daemonFacts(): DaemonFacts {
  const spec = parse(readFileSync(join(ROOT_DIR, 'openapi.yaml'), 'utf8'));
  return { envKeyPattern: spec.components.schemas.EnvKey.pattern, resultPrefix: RESULT_PREFIX };
}

// ---------------------------------------------------------------- drift

describe('agent-openapi.yaml: the document, the Python agent and the daemon agree', () => {
  test('no drift', async () => {
    assert.deepEqual(contractDrift(doc, await guestFacts(), daemonFacts()), []);
  });

  test('every planted mismatch (test/fixtures/agent-contract/planted.yaml) is reported', async () => {
    const planted = parse(readFileSync(join(FIXTURES, 'planted.yaml'), 'utf8')) as {
      name: string;
      doc?: Omit<Mutation, 'name'>;
      guest?: Partial<GuestFacts>;
      daemon?: Partial<DaemonFacts>;
      expect: string;
    }[];
    assert.ok(planted.length >= 10);
    const guest = await guestFacts();
    const daemon = daemonFacts();
    for (const p of planted) {
      const d = p.doc ? mutate(doc, { name: p.name, ...p.doc }) : doc;
      const g = { ...guest, ...p.guest, problemCodes: [...guest.problemCodes, ...(p.guest?.problemCodes ?? [])] };
      const drift = contractDrift(d, g, { ...daemon, ...p.daemon });
      assert.ok(drift.some((x) => x.startsWith(p.expect)), `${p.name}: expected "${p.expect}" among:\n${drift.join('\n')}`);
    }
  });

  test('a route the document lacks, planted in the Python agent, is reported', async () => {
    const drift = contractDrift(doc, await guestFacts(join(FIXTURES, 'planted_route.py')), daemonFacts());
    assert.deepEqual(drift, ['GET /v1/debug is served by the agent but not in the document']);
  });
});

// ---------------------------------------------------------------- the Python agent

interface Served {
  url: string;
  token: string;
  vmId: string;
  child: ChildProcess;
}

async function serveAgent(plant?: string): Promise<Served> {
  const child = spawn(PYTHON, [SERVE, ...(plant ? ['--plant', plant] : [])], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-20_000)));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`the agent did not start: ${stderr}`)), 60_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) {
        clearTimeout(t);
        resolve(out.split('\n')[0]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`the agent exited (${code}): ${stderr}`)));
  });
  return { ...(JSON.parse(line) as { url: string; token: string; vmId: string }), child };
}

async function stopAgent(s: Served | null): Promise<void> {
  if (!s || s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.stdin!.end(); // serve_agent.py cleans up (app processes, temp dir) when stdin closes
  const t = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

interface CallOptions {
  token?: string | null;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
}

function call(base: string, method: string, path: string, o: CallOptions = {}): Promise<AgentResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (Buffer.isBuffer(o.body)) headers['content-length'] = String(o.body.length);
    const req = request(`${base}${path}`, { method, headers, agent: false, timeout: 120_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as IncomingHttpHeaders as AgentResponse['headers'], body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer')));
    req.on('error', reject);
    if (o.body instanceof Readable) o.body.pipe(req);
    else req.end(o.body);
  });
}

const text = (r: AgentResponse) => r.body.toString('utf8');
const resultOf = (r: AgentResponse) => JSON.parse(text(r).trimEnd().split('\n').at(-1)!.slice(RESULT_PREFIX.length));

// A web process that answers on 127.0.0.1 only (the probe address of the served agent).
const WEB_APP = `import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("release " + os.environ["FCM_RELEASE"]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
print("listening on", os.environ["PORT"], flush=True)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`;
const app = (extra: Record<string, string> = {}) => makeTar({ 'app.py': WEB_APP, Procfile: 'web: /usr/bin/python3 app.py\n', ...extra });
const TAR = { 'content-type': 'application/x-tar', 'x-fcm-commit': 'c0ffee' + '0'.repeat(34) };

const noRoot = process.getuid?.() !== 0 ? 'the guest agent runs app processes as another uid: needs root' : null;

describe('the Python guest agent answers as agent-openapi.yaml says', { skip: noRoot ?? false }, () => {
  let s: Served | null = null;
  /** operationId → statuses answered (checked against the document). */
  const answered = new Map<string, Set<number>>();
  const exchanges: { operationId: string; res: AgentResponse }[] = [];

  before(async () => {
    s = await serveAgent();
  });
  after(async () => stopAgent(s));

  /** A request whose answer must be the documented one: status (and code) as expected, body per the document. */
  async function expectAnswer(method: string, path: string, status: number, o: CallOptions & { code?: string } = {}): Promise<AgentResponse> {
    const res = await call(s!.url, method, path, { token: s!.token, ...o });
    const opId = contract.checkRequest({ method, url: path, headers: {} }).operationId;
    const errors = opId ? contract.checkResponse(opId, res) : contract.checkProblem(res);
    assert.deepEqual(errors, [], `${method} ${path} → ${res.status}: ${text(res).slice(0, 2000)}`);
    assert.equal(res.status, status, `${method} ${path}: ${text(res).slice(0, 2000)}`);
    if (o.code) assert.equal(JSON.parse(text(res)).code, o.code);
    if (opId) {
      answered.set(opId, (answered.get(opId) ?? new Set()).add(res.status));
      exchanges.push({ operationId: opId, res });
    }
    return res;
  }

  test('health is public; everything else needs the token, also paths that do not exist', async () => {
    const health = JSON.parse(text(await expectAnswer('GET', '/health', 200, { token: null })));
    assert.equal(health.vmId, s!.vmId);
    for (const op of contract.operations.filter((o) => !o.public)) {
      const path = op.path.replace('{version}', '1');
      await expectAnswer(op.method, path, 401, { token: null, code: 'unauthorized' });
      await expectAnswer(op.method, path, 401, { token: `${s!.token}x`, code: 'unauthorized' });
    }
    await expectAnswer('GET', '/v1/nothing-here', 401, { token: null, code: 'unauthorized' });
  });

  test('what the document does not list is not served: 404, or 405 with Allow', async () => {
    for (const path of ['/v1/nothing-here', '/v1/releases/abc', '/v1/releases/1/rollback', '/v1', '/openapi.json', '/v1/health']) {
      await expectAnswer('GET', path, 404, { code: 'not_found' });
    }
    const res = await expectAnswer('GET', '/v1/restart', 405, { code: 'method_not_allowed' });
    assert.equal(res.headers.allow, 'POST');
    assert.equal((await expectAnswer('DELETE', '/health', 405, { code: 'method_not_allowed' })).headers.allow, 'GET');
  });

  test('putEnv: the complete set; names as in openapi.yaml; bad bodies are problems', async () => {
    const json = { 'content-type': 'application/json' };
    const body = (v: unknown) => Buffer.from(JSON.stringify(v));
    await expectAnswer('PUT', '/v1/env', 204, { headers: json, body: body({ vars: { GREETING: 'hi', ['K'.repeat(128)]: 'longest name' } }) });
    await expectAnswer('PUT', '/v1/env', 400, { headers: json, body: body({ vars: { ['K'.repeat(129)]: 'x' } }), code: 'validation_failed' });
    await expectAnswer('PUT', '/v1/env', 400, { headers: json, body: body({ vars: { '1X': 'x' } }), code: 'validation_failed' });
    await expectAnswer('PUT', '/v1/env', 400, { headers: json, body: Buffer.from('{"vars": '), code: 'validation_failed' });
    await expectAnswer('PUT', '/v1/env', 400, { headers: json, code: 'validation_failed' });
    await expectAnswer('PUT', '/v1/env', 413, { headers: json, body: body({ vars: { A: 'x'.repeat(1 << 20) } }), code: 'payload_too_large' });
    await expectAnswer('PUT', '/v1/env', 204, { headers: json, body: Readable.from([Buffer.from('{"vars":'), Buffer.from('{"GREETING":"chunked"}}')]) });
  });

  test('resizeConsole: rows and cols from 1 to 1000', async () => {
    const json = { 'content-type': 'application/json' };
    await expectAnswer('POST', '/v1/console/resize', 204, { headers: json, body: Buffer.from('{"rows":40,"cols":120}') });
    await expectAnswer('POST', '/v1/console/resize', 400, { headers: json, body: Buffer.from('{"rows":0,"cols":120}'), code: 'validation_failed' });
    await expectAnswer('POST', '/v1/console/resize', 400, { headers: json, body: Buffer.from('{"rows":true,"cols":120}'), code: 'validation_failed' });
  });

  test('setClock: ms since 1970 (after 2020), nothing else; answers the clock before (the served agent never sets the host clock)', async () => {
    const json = { 'content-type': 'application/json' };
    const body = (v: unknown) => Buffer.from(JSON.stringify(v));
    const now = Date.now();
    const r = JSON.parse(text(await expectAnswer('PUT', '/v1/clock', 200, { headers: json, body: body({ epochMs: now }) })));
    assert.equal(r.epochMs, now);
    assert.ok(Math.abs(r.previousEpochMs - now) < 60_000);
    for (const bad of [{ epochMs: 1000 }, { epochMs: 'now' }, { epochMs: now + 0.5 }, { epochMs: now, extra: 1 }, {}, []]) {
      await expectAnswer('PUT', '/v1/clock', 400, { headers: json, body: body(bad), code: 'validation_failed' });
    }
  });

  test('armIdentityWatch: 1..600 seconds, answers the seed\'s vmId; disarmIdentityWatch: 204, also with none armed', async () => {
    const json = { 'content-type': 'application/json' };
    const body = (v: unknown) => Buffer.from(JSON.stringify(v));
    const r = JSON.parse(text(await expectAnswer('POST', '/v1/identity/watch', 200, { headers: json, body: body({ seconds: 5 }) })));
    assert.deepEqual(r, { vmId: s!.vmId, seconds: 5 });
    for (const bad of [{ seconds: 0 }, { seconds: 601 }, { seconds: 1.5 }, { seconds: true }, { seconds: 5, extra: 1 }, {}, []]) {
      await expectAnswer('POST', '/v1/identity/watch', 400, { headers: json, body: body(bad), code: 'validation_failed' });
    }
    await expectAnswer('DELETE', '/v1/identity/watch', 204);
    await expectAnswer('DELETE', '/v1/identity/watch', 204);
  });

  test('syncDisks: 204', async () => {
    await expectAnswer('POST', '/v1/sync', 204);
  });

  test('execCommand: an Upgrade to fcm-exec.v1 answers 101 and frames; without the Upgrade or with a bad argv, a problem', async () => {
    const json = { 'content-type': 'application/json' };
    const upgrade = { ...json, connection: 'Upgrade', upgrade: 'fcm-exec.v1' };
    const body = (v: unknown) => Buffer.from(JSON.stringify(v));
    await expectAnswer('POST', '/v1/exec', 400, { headers: json, body: body({ argv: ['true'] }), code: 'validation_failed' });
    for (const bad of [{ argv: [] }, { argv: [''] }, { argv: ['a\u0000b'] }, { argv: 'true' }, { argv: ['true'], timeoutSec: 0 }, { argv: ['true'], extra: 1 }, { argv: ['x'.repeat(70_000)] }]) {
      await expectAnswer('POST', '/v1/exec', 400, { headers: upgrade, body: body(bad), code: 'validation_failed' });
    }
    // the 101 and the frames, spoken by hand (the daemon's client, AgentExec, has its own test: agent-exec.test.ts)
    const { res, frames } = await new Promise<{ res: AgentResponse; frames: Frame[] }>((resolve, reject) => {
      const payload = body({ argv: ['sh', '-c', 'cat; echo oops >&2; exit 3'], timeoutSec: 60 });
      const req = request(`${s!.url}/v1/exec`, { method: 'POST', agent: false, headers: { ...upgrade, authorization: `Bearer ${s!.token}`, 'content-length': String(payload.length) } });
      req.on('upgrade', (r, socket, head) => {
        const decoder = new FrameDecoder();
        const got: Frame[] = decoder.push(head);
        socket.on('data', (c: Buffer) => got.push(...decoder.push(c)));
        socket.on('end', () => resolve({ res: { status: r.statusCode ?? 0, headers: r.headers as AgentResponse['headers'], body: Buffer.alloc(0) }, frames: got }));
        socket.on('error', reject);
        socket.write(Buffer.concat([encodeFrame(FRAME.stdin, Buffer.from('hello\n')), encodeFrame(FRAME.stdinEof)]));
      });
      req.on('response', (r) => reject(new Error(`no upgrade: ${r.statusCode}`)));
      req.on('error', reject);
      req.end(payload);
    });
    assert.deepEqual(contract.checkResponse('execCommand', res), []);
    answered.set('execCommand', (answered.get('execCommand') ?? new Set()).add(res.status));
    const joined = (t: number) => Buffer.concat(frames.filter((f) => f.type === t).map((f) => f.payload)).toString();
    assert.equal(joined(FRAME.stdout), 'hello\n');
    assert.equal(joined(FRAME.stderr), 'oops\n');
    assert.equal(frames.at(-1)!.type, FRAME.exit);
    const exit = JSON.parse(frames.at(-1)!.payload.toString());
    const v = new Ajv2020({ strict: false });
    assert.ok(v.validate(contract.doc.components.schemas.ExecExit, exit), JSON.stringify(v.errors));
    assert.deepEqual(exit, { code: 3, signal: null, timedOut: false });
  });

  test('getStatus and getLogs before any deploy; bad log queries are problems', async () => {
    assert.deepEqual(JSON.parse(text(await expectAnswer('GET', '/v1/status', 200))), { release: null, commit: null, deployInProgress: false, processes: [] });
    await expectAnswer('GET', '/v1/logs?lines=5', 200);
    for (const q of ['lines=abc', 'lines=10001', 'lines=-1', 'follow=maybe']) await expectAnswer('GET', `/v1/logs?${q}`, 400, { code: 'validation_failed' });
  });

  test('restartApp with nothing deployed', async () => {
    const r = await expectAnswer('POST', '/v1/restart', 200);
    assert.deepEqual(resultOf(r), { ok: true, release: null, buildpack: 'none', processes: {} });
  });

  test('deployRelease: the stream ends with the result; refusals before it are problems', async () => {
    const r = await expectAnswer('POST', '/v1/releases/1', 200, { headers: TAR, body: app() });
    assert.equal(resultOf(r).ok, true, text(r));
    assert.match(text(r), /^-----> Received 2 files .*commit c0ffee0$/m);
    await expectAnswer('POST', '/v1/releases/1', 409, { headers: TAR, body: app(), code: 'release_exists' });
    await expectAnswer('POST', '/v1/releases/2', 415, { headers: { ...TAR, 'content-type': 'text/plain' }, body: app(), code: 'unsupported_media_type' });
    await expectAnswer('POST', '/v1/releases/2', 400, { headers: { ...TAR, 'x-fcm-commit': 'not-hex' }, body: app(), code: 'validation_failed' });
    await expectAnswer('POST', '/v1/releases/2', 400, { headers: TAR, code: 'validation_failed' });
    await expectAnswer('POST', '/v1/releases/0', 400, { headers: TAR, body: app(), code: 'validation_failed' });
    const status = JSON.parse(text(await expectAnswer('GET', '/v1/status', 200)));
    assert.equal(status.release, 1);
    const logs = text(await expectAnswer('GET', '/v1/logs?lines=50', 200));
    assert.match(logs, /fcm\[release\]: v1 is live/);
  });

  test('failed operations are results, with the documented codes', async () => {
    const bad = makeTar({ 'ok.txt': 'x', '../escape.txt': 'y' });
    assert.equal(resultOf(await expectAnswer('POST', '/v1/releases/2', 200, { headers: TAR, body: bad })).code, 'invalid_archive');
    assert.equal(resultOf(await expectAnswer('POST', '/v1/releases/3', 200, { headers: TAR, body: app({ Procfile: 'web: exit 3\n' }) })).code, 'start_failed');
    assert.equal(resultOf(await expectAnswer('POST', '/v1/releases/4', 200, { headers: TAR, body: app({ Procfile: 'release: exit 2\nweb: /usr/bin/python3 app.py\n' }) })).code, 'release_failed');
    assert.equal(resultOf(await expectAnswer('POST', '/v1/releases/5', 200, { headers: TAR, body: app({ 'package.json': '{not json' }) })).code, 'build_failed');
    assert.equal(JSON.parse(text(await expectAnswer('GET', '/v1/status', 200))).release, 1, 'v1 keeps serving');
  });

  test('activateRelease and restartApp switch with the current config vars', async () => {
    assert.equal(resultOf(await expectAnswer('POST', '/v1/releases/6', 200, { headers: TAR, body: app({ 'v6.txt': '' }) })).release, 6);
    const back = await expectAnswer('POST', '/v1/releases/1/activate', 200);
    assert.match(text(back), /^-----> Activating v1 \(commit c0ffee0\) with the current config vars$/m);
    assert.equal(resultOf(back).release, 1);
    await expectAnswer('POST', '/v1/releases/99/activate', 404, { code: 'release_not_found' });
    assert.equal(resultOf(await expectAnswer('POST', '/v1/restart', 200)).release, 1);
  });

  test('one operation at a time: 409 while a deploy is still receiving its tree', async () => {
    const upload = new Readable({ read() {} });
    const tar = app({ 'v7.txt': '' });
    upload.push(tar.subarray(0, 1024));
    const deploying = expectAnswer('POST', '/v1/releases/7', 200, { headers: TAR, body: upload });
    await waitFor(async () => JSON.parse(text(await call(s!.url, 'GET', '/v1/status', { token: s!.token }))).deployInProgress === true);
    assert.equal(JSON.parse(text(await expectAnswer('GET', '/v1/status', 200))).deployInProgress, true);
    await expectAnswer('POST', '/v1/restart', 409, { code: 'deploy_in_progress' });
    await expectAnswer('POST', '/v1/releases/1/activate', 409, { code: 'deploy_in_progress' });
    upload.push(tar.subarray(1024));
    upload.push(null);
    assert.equal(resultOf(await deploying).release, 7);
  });

  test('getLogs with follow streams new lines until the client goes away', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const req = request(`${s!.url}/v1/logs?lines=0&follow=1`, { headers: { authorization: `Bearer ${s!.token}` }, agent: false }, (res) => {
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['transfer-encoding'], 'chunked');
        let seen = '';
        res.on('data', (c: Buffer) => {
          seen += c.toString();
          if (seen.includes('is live')) {
            req.destroy();
            resolve(seen);
          }
        });
        void call(s!.url, 'POST', '/v1/restart', { token: s!.token });
      });
      req.on('error', (e) => (e.message === 'socket hang up' ? undefined : reject(e)));
      req.end();
    });
    assert.deepEqual(contract.checkResponse('getLogs', { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: Buffer.from(got.slice(0, got.lastIndexOf('\n') + 1)) }), []);
    answered.get('getLogs')!.add(200);
    await waitFor(async () => JSON.parse(text(await call(s!.url, 'GET', '/v1/status', { token: s!.token }))).deployInProgress === false);
  });

  test('every operation in the document answered its success status; the answers fail a planted stricter document', () => {
    for (const op of contract.operations) {
      // 2xx, or 101 for the one upgrade (execCommand)
      const ok = Object.keys(op.responses).find((c) => /^(2\d\d|101)$/.test(c))!;
      assert.ok(answered.get(op.operationId)?.has(Number(ok)), `${op.operationId} never answered ${ok}: ${JSON.stringify([...(answered.get(op.operationId) ?? [])])}`);
    }
    const stricter = agentContract(mutate(doc, { name: 'uptime in seconds', op: 'set', pointer: '/components/schemas/Health/properties/uptimeMs', value: { type: 'string' } }));
    const health = exchanges.find((e) => e.operationId === 'getHealth')!;
    assert.deepEqual(stricter.checkResponse('getHealth', health.res), ['getHealth → 200: body/uptimeMs must be string']);
    const deploy = exchanges.find((e) => e.operationId === 'deployRelease' && e.res.status === 200)!;
    const noTimings = agentContract(mutate(doc, { name: 'no timings', op: 'remove', pointer: '/components/schemas/OperationResult/oneOf/0/properties/timingsMs' }));
    assert.ok(noTimings.checkResponse('deployRelease', deploy.res).some((e) => e.includes('result must NOT have additional properties')));
  });
});

describe('the Python agent with a planted route serves it, and the route check catches it', { skip: noRoot ?? false }, () => {
  test('GET /v1/debug answers 200 and is not in the document', async () => {
    const s = await serveAgent(join(FIXTURES, 'planted_route.py'));
    try {
      const res = await call(s.url, 'GET', '/v1/debug', { token: s.token });
      assert.equal(res.status, 200);
      assert.equal(contract.checkRequest({ method: 'GET', url: '/v1/debug', headers: {} }).operationId, null);
    } finally {
      await stopAgent(s);
    }
  });
});

async function waitFor(fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---------------------------------------------------------------- the daemon's clients

describe("the daemon's agent clients, against the fake agent built from the document", () => {
  const token = (id: string) => `tok-${id}`;
  const VM = { id: 'vm_0123456789ab', ip: '127.0.0.1' };

  test('AgentGuest: ready once health answers with the VM id', async () => {
    const fake = await startFakeAgent({ token, vmId: VM.id });
    try {
      await new AgentGuest(Number(new URL(fake.url).port)).waitReady(VM, AbortSignal.timeout(10_000));
      // Only health is asked; more than once when an early answer takes longer than the 150 ms an
      // early attempt is given (by design: a lost SYN is not waited on) — which a loaded machine does.
      const asked = fake.requests.map((r) => `${r.method} ${r.path}`);
      assert.ok(asked.length >= 1 && asked.every((r) => r === 'GET /health'), asked.join(', '));
      assert.deepEqual(fake.violations, []);
    } finally {
      await fake.close();
    }
  });

  test('AgentGuest.setClock: PUT /v1/clock with the VM token; answers the guest clock before; an agent without the route rejects', async () => {
    const fake = await startFakeAgent({ token, vmId: VM.id });
    try {
      const guest = new AgentGuest(Number(new URL(fake.url).port), token);
      const now = Date.now();
      const before = await guest.setClock(VM, now, AbortSignal.timeout(10_000));
      assert.ok(now - before >= 90_000 - 1000, 'the fake guest was 90 s behind');
      assert.deepEqual(fake.clocks, [{ vmId: VM.id, epochMs: now }]);
      await guest.syncDisks(VM, AbortSignal.timeout(10_000));
      assert.deepEqual(fake.syncs, [VM.id]);
      assert.deepEqual(fake.violations, []);
      // Another VM's token: refused.
      await assert.rejects(new AgentGuest(Number(new URL(fake.url).port), () => token('vm_ba0000000000')).setClock(VM, now, AbortSignal.timeout(10_000)), /answered 401/);
    } finally {
      await fake.close();
    }
    const old = await startFakeAgent({ token, vmId: VM.id, doc: mutate(doc, { name: 'no clock', op: 'remove', pointer: '/paths/~1v1~1clock' }) });
    try {
      await assert.rejects(new AgentGuest(Number(new URL(old.url).port), token).setClock(VM, Date.now(), AbortSignal.timeout(10_000)), /answered 400/);
    } finally {
      await old.close();
    }
  });

  test('GuestAgentRuntime.logs, with and without follow, asks as the document says', async () => {
    const fake = await startFakeAgent({ token });
    try {
      const rt = new GuestAgentRuntime({ port: 7611, tokenFor: token, baseUrl: (vm) => fake.baseUrlFor(vm) });
      for (const follow of [false, true]) {
        const ac = new AbortController();
        const s = await rt.logs(VM, { lines: 10_000, follow }, ac.signal);
        s.on('error', () => {});
        s.resume();
        ac.abort();
      }
      await waitFor(async () => fake.requests.length === 2, 5000);
      assert.deepEqual(fake.violations, []);
    } finally {
      await fake.close();
    }
  });

  test('a request the document does not allow is refused and recorded (planted: restartApp removed)', async () => {
    const fake = await startFakeAgent({ token, doc: mutate(doc, { name: 'no restart', op: 'remove', pointer: '/paths/~1v1~1restart' }) });
    try {
      const rt = new GuestAgentRuntime({ port: 7611, tokenFor: token, baseUrl: (vm) => fake.baseUrlFor(vm) });
      await assert.rejects(rt.restart(VM, () => {}), (e: unknown) => e instanceof AppRuntimeError && e.code === 'validation_failed');
      assert.deepEqual(fake.violations, ['request: POST /v1/restart: no such path in the agent contract']);
    } finally {
      await fake.close();
    }
  });

  test('a body the document does not allow is refused and recorded (planted: shorter config var names)', async () => {
    const short = mutate(doc, { name: 'short names', op: 'set', pointer: '/components/schemas/EnvKey/pattern', value: '^[A-Z]{1,4}$' });
    const fake = await startFakeAgent({ token, doc: short });
    try {
      const rt = new GuestAgentRuntime({ port: 7611, tokenFor: token, baseUrl: (vm) => fake.baseUrlFor(vm) });
      await rt.putEnv(VM, { PORT: '1' });
      await assert.rejects(rt.putEnv(VM, { GREETING: 'hi' }), (e: unknown) => e instanceof AppRuntimeError && e.code === 'validation_failed');
      assert.ok(fake.violations.length > 0);
      for (const v of fake.violations) assert.match(v, /^request: putEnv: body\/vars /);
      assert.ok(fake.violations.includes('request: putEnv: body/vars must match pattern "^[A-Z]{1,4}$" (property name "GREETING")'), fake.violations.join('\n'));
    } finally {
      await fake.close();
    }
  });

  test('the fake itself is held to the document: an answer it may not give is recorded', async () => {
    const fake = await startFakeAgent({ token, doc: mutate(doc, { name: 'a release always', op: 'set', pointer: '/components/schemas/Status/properties/release', value: { type: 'integer' } }) });
    try {
      await new Promise<void>((resolve, reject) => {
        request(`${fake.url}/v1/status`, { headers: { authorization: `Bearer ${token('vm_000000000000')}` } }, (res) => res.resume().on('end', resolve)).on('error', reject).end();
      });
      await waitFor(async () => fake.violations.length > 0, 5000);
      assert.deepEqual(fake.violations, ["the fake's answer: getStatus → 200: body/release must be integer"]);
    } finally {
      await fake.close();
    }
  });
});

test('the serve helper exists where the tests expect it', () => {
  assert.ok(existsSync(SERVE));
});
