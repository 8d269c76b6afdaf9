/**
 * The exec frames (daemon/drivers/exec-frames.ts, the daemon's side of
 * rootfs/guest/oneoff.py's framing), the exit report's shape check, and the
 * CLI's duration and exit-code rules for `fcm run`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseExit } from '../../daemon/drivers/agent-exec.js';
import { encodeFrame, FRAME, FrameDecoder, MAX_FRAME_BYTES, stdinFrames } from '../../daemon/drivers/exec-frames.js';
import { exitCodeOf, parseDuration } from '../../api/cli/run-command.js';
import { UsageError } from '../../api/cli/parse.js';
import { ROOT_DIR } from '../helpers/agent-contract.js';

test('frames survive any cut of the byte stream, empty payloads included', () => {
  const sent = [
    { type: FRAME.stdout, payload: Buffer.from('hello\n') },
    { type: FRAME.stdinEof, payload: Buffer.alloc(0) },
    { type: FRAME.stderr, payload: randomBytes(70_000) },
    { type: FRAME.exit, payload: Buffer.from('{"code":0,"signal":null,"timedOut":false}') },
  ];
  const wire = Buffer.concat(sent.map((f) => encodeFrame(f.type, f.payload)));
  for (const step of [1, 2, 3, 5, 7, 4096, wire.length]) {
    const d = new FrameDecoder();
    const got = [];
    for (let i = 0; i < wire.length; i += step) got.push(...d.push(wire.subarray(i, i + step)));
    assert.deepEqual(got, sent, `cut every ${step} bytes`);
    assert.equal(d.pending, 0);
  }
});

test('a frame header announcing more than the bound is refused before its payload is buffered', () => {
  const d = new FrameDecoder(1024);
  const head = Buffer.alloc(5);
  head.writeUInt8(FRAME.stdout, 0);
  head.writeUInt32BE(1025, 1);
  assert.throws(() => d.push(head), /a frame of 1025 bytes \(at most 1024\)/);
  assert.throws(() => encodeFrame(FRAME.stdin, Buffer.alloc(MAX_FRAME_BYTES + 1)), RangeError);
});

test('stdin is cut into frames of at most 64 KiB, in order', () => {
  const data = randomBytes(200_000);
  const frames = new FrameDecoder().push(stdinFrames(data));
  assert.deepEqual(frames.map((f) => f.payload.length), [65536, 65536, 65536, 200_000 - 3 * 65536]);
  assert.ok(frames.every((f) => f.type === FRAME.stdin));
  assert.deepEqual(Buffer.concat(frames.map((f) => f.payload)), data);
  assert.equal(stdinFrames(Buffer.alloc(0)).length, 0);
});

test('the Python side frames the same bytes (oneoff.frame / read_frame)', () => {
  const script = `
import io, sys
sys.path.insert(0, ${JSON.stringify(join(ROOT_DIR, 'rootfs', 'guest'))})
import oneoff
wire = sys.stdin.buffer.read()
r = io.BytesIO(wire)
out = []
while True:
    f = oneoff.read_frame(r)
    if f is None:
        break
    out.append(oneoff.frame(f[0] ^ 0x11 if f[0] == 0x10 else f[0], f[1]))
sys.stdout.buffer.write(b"".join(out))
`;
  const wire = Buffer.concat([encodeFrame(FRAME.stdin, Buffer.from('abc')), encodeFrame(FRAME.signal, Buffer.from('INT')), encodeFrame(FRAME.stdin, randomBytes(100_000))]);
  const back = execFileSync('python3', ['-c', script], { input: wire, maxBuffer: 1 << 22 });
  const frames = new FrameDecoder().push(back);
  // stdin (0x10) came back as 0x01 (stdout): the same payloads, through Python's reader and writer
  assert.deepEqual(frames.map((f) => f.type), [FRAME.stdout, FRAME.signal, FRAME.stdout]);
  assert.deepEqual(Buffer.concat([frames[0]!.payload, frames[2]!.payload]), Buffer.concat([Buffer.from('abc'), wire.subarray(wire.length - 100_000)]));
});

test('exit reports: exactly one of code and signal; anything else is not a report', () => {
  assert.deepEqual(parseExit(Buffer.from('{"code":7,"signal":null,"timedOut":false}')), { code: 7, signal: null, timedOut: false });
  assert.deepEqual(parseExit(Buffer.from('{"code":null,"signal":"KILL","timedOut":true}')), { code: null, signal: 'KILL', timedOut: true });
  for (const bad of ['{"code":7,"signal":"TERM","timedOut":false}', '{"code":null,"signal":null,"timedOut":false}', '{"code":256,"signal":null,"timedOut":false}', '{"code":1.5,"signal":null,"timedOut":false}', '{"code":0,"signal":null}', '{"code":0,"signal":"sig term","timedOut":false}', '[]', 'not json', '{"code":0,"signal":null,"timedOut":false,"x":"' + 'y'.repeat(5000) + '"}']) {
    assert.equal(parseExit(Buffer.from(bad)), null, bad.slice(0, 80));
  }
});

test('fcm run --timeout durations and the exit code it passes on', () => {
  assert.deepEqual(['90', '90s', '10m', '2h', '1h30m', '24h'].map(parseDuration), [90, 90, 600, 7200, 5400, 86400]);
  for (const bad of ['', '0', '0s', '25h', '10x', 'm', '-5', '1.5h']) assert.throws(() => parseDuration(bad), UsageError, bad);
  assert.equal(exitCodeOf({ code: 7, signal: null, timedOut: false }), 7);
  assert.equal(exitCodeOf({ code: null, signal: 'TERM', timedOut: false }), 143);
  assert.equal(exitCodeOf({ code: null, signal: 'KILL', timedOut: true }), 124);
});
