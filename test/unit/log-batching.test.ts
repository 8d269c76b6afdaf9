/**
 * log.ts batchedDestination (the daemon's stdout): pino's lines go out at the end of the turn
 * that logged them; the per-request lines (gather) wait for a batch — its size, its time limit,
 * or another line's turn end — and nothing is reordered or lost; flush() writes what is held.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { batchedDestination, createLogger, requestLines } from '../../daemon/log.js';

function sink() {
  const writes: string[] = [];
  return { writes, out: { write: (t: string) => void writes.push(t) } };
}

test('a pino line goes out at the end of its turn, with the request lines gathered before it, in order', async () => {
  const { writes, out } = sink();
  const d = batchedDestination(out, 1 << 20, 60_000);
  d.gather('a\n');
  d.gather('b\n');
  d.write('c\n');
  d.gather('d\n');
  assert.deepEqual(writes, [], 'nothing is written inside the turn');
  await nextTurn();
  assert.deepEqual(writes, ['a\nb\nc\nd\n'], 'one write at the turn end, in logging order');
});

test('request lines alone wait for the batch size or its time limit, not the turn end', async () => {
  const { writes, out } = sink();
  const d = batchedDestination(out, 10, 30);
  d.gather('1234\n');
  await nextTurn();
  assert.deepEqual(writes, [], 'held past the turn end');
  d.gather('5678\n');
  assert.deepEqual(writes, ['1234\n5678\n'], 'written once the batch reaches its size');
  d.gather('x\n');
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(writes, ['1234\n5678\n', 'x\n'], 'written when its time limit passes');
});

test('flush() writes what is held at once (exit, logger.flush)', () => {
  const { writes, out } = sink();
  const d = batchedDestination(out, 1 << 20, 60_000);
  d.gather('held\n');
  d.flush();
  assert.deepEqual(writes, ['held\n']);
  d.flush();
  assert.deepEqual(writes, ['held\n'], 'nothing twice, no empty write');
});

test('requestLines gathers through a batching destination; a logger on a plain destination gets each line', async () => {
  const { writes, out } = sink();
  const d = batchedDestination(out, 1 << 20, 60_000);
  const lines = requestLines(createLogger('info', d))!;
  lines.completed('req_000000000001', 200, 1.5);
  await nextTurn();
  assert.deepEqual(writes, [], 'a request line waits for its batch');
  d.flush();
  assert.equal(JSON.parse(writes[0]!).msg, 'request completed');

  const plain = sink();
  requestLines(createLogger('info', plain.out))!.completed('req_000000000002', 200, 1.5);
  assert.equal(plain.writes.length, 1, 'written at once: that destination does its own buffering, if any');
});
