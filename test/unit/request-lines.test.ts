/**
 * log.ts requestLines writes the per-request lines itself (no pino call): they must be the
 * very bytes the logger writes for the same fields through pino. And http/request-log.ts
 * LazyRequestLogger: req.log as fastify's pino child would be (bindings, level), made only
 * when something logs through it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger, msToMicros, requestLines } from '../../daemon/log.js';
import { LazyRequestLogger } from '../../daemon/http/request-log.js';
import { pino } from 'pino';

function capture(level = 'info') {
  const lines: string[] = [];
  const log = createLogger(level, { write: (s: string) => void lines.push(s) });
  return { lines, log };
}

/** The time field aside (two calls may fall in different milliseconds), byte for byte. */
const untimed = (line: string) => line.replace(/,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/, ',"time":"T"');

describe('requestLines: the same bytes as pino', () => {
  const requests = [
    { method: 'GET', url: '/v1/vms', ip: '192.0.2.7', socket: { remotePort: 51824 } },
    { method: 'POST', url: '/v1/vms?token=secret&x=1', ip: '2001:db8::1', socket: { remotePort: 1 } },
    { method: 'GET', url: '/odd/"quoted"/\\back/\u00e9t\u00e9/%00', ip: '10.0.0.1', socket: {} },
    { method: 'DELETE', url: '/v1/vms/a', ip: undefined, socket: undefined },
    { method: 'GET', url: '/x'.repeat(300), ip: '127.0.0.1', socket: { remotePort: 65535 } },
    { method: 'GET', url: '?only=query', ip: '::ffff:10.1.2.3', socket: { remotePort: 0 } },
    {},
    { method: 'GET', url: '/ctl/\u0001\u001f\u007f/tab\t/emoji\ud83d\ude00/lone\ud800/end', ip: '10.0.0.2', socket: { remotePort: 2 } },
  ];

  test('"incoming request": reqId, the req serializer (no query, no headers), msg', () => {
    const { lines, log } = capture();
    const fast = requestLines(log)!;
    assert.ok(fast, 'a createLogger logger has the direct writer');
    for (const req of requests) {
      lines.length = 0;
      fast.incoming('req_0a1b2c000001', req);
      log.info({ reqId: 'req_0a1b2c000001', req }, 'incoming request');
      assert.equal(lines.length, 2);
      assert.equal(untimed(lines[0]!), untimed(lines[1]!));
      assert.match(lines[0]!, /^\{"level":30,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","svc":"fcmd","reqId":"req_0a1b2c000001","req":\{/);
      assert.ok(lines[0]!.endsWith('"msg":"incoming request"}\n'));
      assert.ok(!lines[0]!.includes('secret'), 'the query string is never logged');
    }
  });

  test('"incoming request" of many requests on one connection: the same bytes each time, also when its address or port reads otherwise', () => {
    const { lines, log } = capture();
    const fast = requestLines(log)!;
    const socket: { remotePort?: number } = { remotePort: 40000 };
    for (const [ip, port] of [['192.0.2.7', 40000], ['192.0.2.7', 40000], ['192.0.2.8', 40000], ['192.0.2.8', 40001], [undefined, 40001], ['192.0.2.8', undefined], ['192.0.2.8', 40001]] as const) {
      if (port === undefined) delete socket.remotePort;
      else socket.remotePort = port;
      const req = { method: 'GET', url: '/v1/vms?x=1', ip, socket };
      lines.length = 0;
      fast.incoming('req_0a1b2c000003', req);
      fast.incomingOf('req_0a1b2c000003', 'GET', '/v1/vms?x=1', ip, socket);
      log.info({ reqId: 'req_0a1b2c000003', req }, 'incoming request');
      assert.equal(lines.length, 3);
      assert.equal(untimed(lines[0]!), untimed(lines[2]!), `${ip}:${port}`);
      assert.equal(untimed(lines[1]!), untimed(lines[2]!), `${ip}:${port}`);
    }
  });

  test('"request completed": reqId, status, response time (to the microsecond), msg', () => {
    const { lines, log } = capture();
    const fast = requestLines(log)!;
    for (const [status, ms] of [[200, 0.13928999999916414], [304, 12], [500, 1e-7], [429, 123456.789], [200, 0], [200, -0], [200, 1e21], [200, NaN], [200, Infinity], [200, 0.0995], [200, 2.0004999]] as const) {
      lines.length = 0;
      fast.completed('req_0a1b2c000002', status, ms);
      log.info({ reqId: 'req_0a1b2c000002', res: { statusCode: status }, responseTime: Math.round(ms * 1000) / 1000 }, 'request completed');
      assert.equal(untimed(lines[0]!), untimed(lines[1]!));
      assert.deepEqual(Object.keys(JSON.parse(lines[0]!)), ['level', 'time', 'svc', 'reqId', 'res', 'responseTime', 'msg']);
    }
  });

  test('msToMicros: JSON.stringify of the time rounded to the microsecond', () => {
    const samples = [0, 0.001, 0.01, 0.1, 0.45, 0.0005, 0.0004999, 1, 9.99, 10.05, 999.999, 1000, 1073741.823, 1073741.824, 5e6 + 0.1, -1, -0.0004];
    for (let i = 0; i < 20_000; i++) samples.push(Math.random() * 10 ** Math.floor(Math.random() * 8));
    for (const ms of samples) assert.equal(msToMicros(ms), JSON.stringify(Math.round(ms * 1000) / 1000), String(ms));
  });

  test('the same URL asked with another method, and another URL, after one: fields of the request at hand', () => {
    const { lines, log } = capture();
    const fast = requestLines(log)!;
    const socket = { remotePort: 1234 };
    for (const [method, url] of [['GET', '/v1/vms'], ['GET', '/v1/vms'], ['HEAD', '/v1/vms'], ['HEAD', '/v1/vms/a'], [undefined, '/v1/vms/a'], [undefined, undefined], ['GET', '/v1/vms']] as const) {
      lines.length = 0;
      fast.incomingOf('req_0a1b2c000004', method, url, '192.0.2.9', socket);
      log.info({ reqId: 'req_0a1b2c000004', req: { method, url, ip: '192.0.2.9', socket } }, 'incoming request');
      assert.equal(untimed(lines[0]!), untimed(lines[1]!), `${method} ${url}`);
    }
  });

  test('loggers not made by createLogger (or their children) have none: they go through pino', () => {
    assert.equal(requestLines(pino({ level: 'info' }, { write: () => {} })), null);
    assert.equal(requestLines(capture().log.child({ svc: 'x' })), null);
  });
});

describe('LazyRequestLogger', () => {
  test('no child until something logs; then the child with the bindings, its lines redacted as before', () => {
    const { lines, log } = capture();
    let made = 0;
    const parent = Object.assign(Object.create(log), { child: (b: object, o: object) => (made++, log.child(b, o)) });
    const l = new LazyRequestLogger(parent, { reqId: 'req_000000000009' }, {});
    assert.equal(l.isLevelEnabled('info'), true);
    assert.equal(l.isLevelEnabled('debug'), false);
    assert.equal(l.level, 'info');
    assert.equal(made, 0, 'level checks make no child');
    l.info({ token: 'fcm_abc', n: 1 }, 'handler line');
    l.error('second');
    assert.equal(made, 1, 'one child, made once');
    const [first, second] = lines.map((x) => JSON.parse(x));
    assert.equal(first.reqId, 'req_000000000009');
    assert.equal(first.token, '[redacted]');
    assert.equal(first.n, 1);
    assert.equal(second.level, 50);
    assert.equal(second.reqId, 'req_000000000009');
  });

  test("a route's own level (fastify's child option) decides, before and after the child exists", () => {
    const { lines, log } = capture('info');
    const l = new LazyRequestLogger(log, { reqId: 'req_00000000000a' }, { level: 'warn' });
    assert.equal(l.isLevelEnabled('info'), false);
    assert.equal(l.isLevelEnabled('warn'), true);
    assert.equal(l.isLevelEnabled('fatal'), true);
    assert.equal(l.level, 'warn');
    l.info('hidden');
    assert.deepEqual(lines, []);
    l.warn('shown');
    assert.equal(JSON.parse(lines[0]!).msg, 'shown');
    assert.equal(l.isLevelEnabled('info'), false);
    const silent = new LazyRequestLogger(log, {}, { level: 'silent' });
    assert.equal(silent.isLevelEnabled('fatal'), false);
    assert.equal(new LazyRequestLogger(log, {}, { level: 'debug' }).isLevelEnabled('debug'), true);
  });

  test("the server's level is read live when the route has none", () => {
    const { log } = capture('info');
    const l = new LazyRequestLogger(log, {}, {});
    assert.equal(l.isLevelEnabled('debug'), false);
    log.level = 'debug';
    assert.equal(l.isLevelEnabled('debug'), true);
  });
});
