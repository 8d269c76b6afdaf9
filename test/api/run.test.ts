/**
 * `runCommand` over the real HTTP layer (server.ts + routes/run.ts, listening
 * on loopback) with the in-memory VM service and the GuestExec twin: refusals
 * before the upgrade as problem+json (401, another user's VM 404, validation,
 * a stopped VM, the cap), the relay (stdout/stderr tags, stdin and eof,
 * signals, the exit report), a client leaving kills the command, and a
 * sleeping VM is woken first.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startConsoleApi } from '../helpers/console-api.js';

let t: Awaited<ReturnType<typeof startConsoleApi>>;

before(async () => {
  t = await startConsoleApi();
  await t.runningVm('job');
});
after(async () => {
  await t?.close();
});

const url = (name: string, argv: string[], extra = '') => {
  const u = new URL(`${t.base.replace(/^http/, 'ws')}/v1/vms/${name}/run`);
  for (const a of argv) u.searchParams.append('argv', a);
  return `${u}${extra}`;
};

interface Outcome {
  stdout: string;
  stderr: string;
  control: any[];
  close: number;
}

/** Opens a run; resolves with what came back, or rejects with the refusal's status and problem. */
function open(name: string, argv: string[], o: { token?: string | null; input?: string; eof?: boolean; extra?: string; onOpen?: (ws: WebSocket) => void } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const token = o.token === undefined ? t.tok.alice : o.token;
    const ws = new WebSocket(url(name, argv, o.extra), { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const out: Outcome = { stdout: '', stderr: '', control: [], close: 0 };
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => reject(Object.assign(new Error('refused'), { status: res.statusCode, type: res.headers['content-type'], problem: JSON.parse(body) })));
    });
    ws.on('error', reject);
    ws.on('open', () => {
      if (o.input) ws.send(Buffer.from(o.input), { binary: true });
      if (o.eof !== false) ws.send(JSON.stringify({ type: 'eof' }));
      o.onOpen?.(ws);
    });
    ws.on('message', (d: Buffer, binary) => {
      if (!binary) return void out.control.push(JSON.parse(d.toString()));
      if (d[0] === 1) out.stdout += d.subarray(1).toString();
      else if (d[0] === 2) out.stderr += d.subarray(1).toString();
      else reject(new Error(`unknown stream tag ${d[0]}`));
    });
    ws.on('close', (code) => resolve({ ...out, close: code }));
  });
}

const refusal = (p: Promise<unknown>) => p.then(() => assert.fail('accepted'), (e: any) => ({ status: e.status, code: e.problem?.code, detail: e.problem?.detail, type: e.type }));

test('exit codes, stdout and stderr apart, stdin and its end', async () => {
  const seven = await open('job', ['sh', '-c', 'exit 7']);
  assert.deepEqual(seven.control, [{ type: 'exit', code: 7, signal: null, timedOut: false }]);
  assert.equal(seven.close, 1000);
  const err = await open('job', ['sh', '-c', 'echo oops >&2']);
  assert.deepEqual([err.stdout, err.stderr], ['', 'oops\n']);
  const cat = await open('job', ['cat'], { input: 'a\nb\n' });
  assert.deepEqual([cat.stdout, cat.control.at(-1).code], ['a\nb\n', 0]);
  assert.deepEqual(t.exec.started.at(-1), { vmId: t.exec.started.at(-1)!.vmId, argv: ['cat'] });
});

test('a signal message reaches the command; a bad control message is answered, the run goes on', async () => {
  const r = await open('job', ['sleep', '100'], {
    eof: false,
    onOpen: (ws) => {
      ws.send('{"type":"dance"}');
      setTimeout(() => ws.send(JSON.stringify({ type: 'signal', signal: 'INT' })), 50);
    },
  });
  assert.equal(r.control[0].type, 'error');
  assert.match(r.control[0].message, /unknown control message/);
  assert.deepEqual(r.control.at(-1), { type: 'exit', code: null, signal: 'INT', timedOut: false });
});

test('refusals come before the upgrade, as problem+json with stable codes', async () => {
  assert.deepEqual(await refusal(open('job', ['true'], { token: null })), { status: 401, code: 'unauthorized', detail: 'fcm run needs "Authorization: Bearer <token>" of a valid login. Run: fcm login', type: 'application/problem+json' });
  const bob = await refusal(open('job', ['true'], { token: t.tok.bob }));
  assert.deepEqual([bob.status, bob.code], [404, 'vm_not_found'], "another user's VM does not exist for them");
  assert.deepEqual([(await refusal(open('nope', ['true']))).code], ['vm_not_found']);
  const none = await refusal(open('job', []));
  assert.deepEqual([none.status, none.code], [400, 'validation_failed']);
  const empty = await refusal(open('job', ['']));
  assert.deepEqual([empty.status, empty.code], [400, 'validation_failed']);
  const long = await refusal(open('job', ['echo', 'x'.repeat(5000), 'y'.repeat(5000)]));
  assert.deepEqual([long.status, long.code], [400, 'validation_failed']);
  assert.match(long.detail, /at most 8192/);
  const timeout = await refusal(open('job', ['true'], { extra: '&timeout=0' }));
  assert.deepEqual([timeout.status, timeout.code], [400, 'validation_failed']);
  const plain = await t.api('GET', '/v1/vms/job/run?argv=true', t.tok.alice);
  assert.deepEqual([plain.status, plain.body.code], [400, 'validation_failed']);
  assert.equal(t.exec.started.filter((s) => s.argv[0] === 'echo').length, 0, 'nothing refused reached the guest');
});

test('a stopped VM: invalid_state that says how to start it', async () => {
  await t.runningVm('halted');
  assert.equal((await t.api('POST', '/v1/vms/halted/stop', t.tok.alice)).status, 200);
  const r = await refusal(open('halted', ['true']));
  assert.deepEqual([r.status, r.code], [409, 'invalid_state']);
  assert.match(r.detail, /is stopped; fcm run needs it running: start it with fcm start halted/);
});

test('at most 4 at once per VM (too_many_runs); a client leaving kills its command and frees its place', async () => {
  await t.runningVm('busy');
  const sockets: WebSocket[] = [];
  const runs = Array.from({ length: 4 }, () => open('busy', ['sleep', '100'], { eof: false, onOpen: (ws) => sockets.push(ws) }));
  for (let i = 0; i < 500 && sockets.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(sockets.length, 4);
  const id = t.exec.started.at(-1)!.vmId;
  assert.equal(t.runs.count(id), 4);
  const fifth = await refusal(open('busy', ['true']));
  assert.deepEqual([fifth.status, fifth.code], [429, 'too_many_runs']);
  const killedBefore = t.exec.killed;
  for (const ws of sockets) ws.terminate();
  await Promise.all(runs);
  for (let i = 0; i < 500 && t.runs.count(id) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(t.runs.count(id), 0);
  assert.equal(t.exec.killed - killedBefore, 4);
  assert.equal(t.exec.count(id), 0);
  assert.equal((await open('busy', ['true'])).control.at(-1).code, 0);
});

test('a sleeping VM is woken first', async () => {
  await t.runningVm('dozy');
  const s = await t.api('POST', '/v1/vms/dozy/sleep', t.tok.alice);
  assert.equal(s.status, 200, JSON.stringify(s.body));
  assert.equal((await t.api('GET', '/v1/vms/dozy', t.tok.alice)).body.state, 'sleeping');
  const r = await open('dozy', ['echo', 'awake']);
  assert.equal(r.stdout, 'awake\n');
  assert.equal((await t.api('GET', '/v1/vms/dozy', t.tok.alice)).body.state, 'running');
});

test('revoking the token that started a run (logout) ends it (1008, after saying why) and kills the command', async () => {
  const token = t.auth.accounts.mint(t.users.upsert({ issuer: 'https://i.test', subject: 'alice@example.com', email: 'alice@example.com', name: null }, new Date().toISOString()), 'test').token;
  const killed = t.exec.killed;
  let opened: () => void = () => {};
  const isOpen = new Promise<void>((r) => (opened = r));
  const running = open('job', ['sleep', '100'], { token, eof: false, onOpen: () => opened() });
  await isOpen;
  assert.equal((await t.api('POST', '/v1/auth/logout', token)).status, 204);
  const r = await running;
  assert.equal(r.close, 1008);
  assert.match(r.control[0].message, /^Run ended: /);
  // The server's side of the close handshake ends a moment after the client's.
  for (let i = 0; i < 500 && t.exec.killed === killed; i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal(t.exec.killed, killed + 1);
});
