/**
 * Relaying to clients at their pace (daemon/http/backpressure.ts), on real
 * sockets: a writer that is full hands back a promise (the producer waits),
 * a client that reads again releases it, and a client that never reads is
 * cut off after the stall bound — its connection closed, nothing buffered
 * without end.
 */
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { pacedWriter } from '../../daemon/http/backpressure.js';

async function pair(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  return new Promise((resolve) => {
    const srv = createServer((server) => {
      server.on('error', () => {});
      resolve({ server, client, close: () => (server.destroy(), client.destroy(), srv.close()) });
    });
    let client: Socket;
    srv.listen(0, '127.0.0.1', () => {
      client = connect((srv.address() as { port: number }).port, '127.0.0.1');
      client.on('error', () => {});
    });
  });
}

test('a full writer makes the producer wait until the client reads again', async () => {
  const { server, client, close } = await pair();
  client.pause();
  const w = pacedWriter(server, 60_000);
  const chunk = Buffer.alloc(64 * 1024, 'a');
  let wait: Promise<void> | undefined;
  let written = 0;
  while (!(wait = w.write(chunk))) written += chunk.length;
  assert.ok(written < 64 * 1024 * 1024, 'the socket filled up before 64 MiB');
  let released = false;
  void wait.then(() => (released = true));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(released, false, 'still waiting while the client reads nothing');
  client.resume();
  await wait;
  assert.equal(w.gone, false);
  w.stop();
  close();
});

test('a client that never reads is cut off after the stall bound; later writes are dropped, nothing waits', async () => {
  const { server, client, close } = await pair();
  client.pause();
  let stalled = 0;
  const w = pacedWriter(server, 300, () => stalled++);
  const chunk = Buffer.alloc(64 * 1024, 'b');
  let wait: Promise<void> | undefined;
  while (!(wait = w.write(chunk)));
  const t0 = Date.now();
  await wait;
  const ms = Date.now() - t0;
  assert.equal(stalled, 1);
  assert.equal(w.gone, true);
  assert.ok(ms >= 250, `released after ${ms} ms`);
  assert.equal(w.write(chunk), undefined, 'writes to a cut-off client are dropped');
  const closed = await new Promise<boolean>((r) => {
    client.once('close', () => r(true));
    client.resume();
    setTimeout(() => r(false), 5000);
  });
  assert.equal(closed, true, 'the client sees its connection closed');
  close();
});
