import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { daemonEntry, runDaemon } from '../../../api/cli/daemon.js';
import { eventually } from '../../helpers/wait.js';
import { tempDir } from './io-helpers.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');

test('the daemon entry is found next to the CLI: dist/daemon/main.js when built, daemon/main.ts (through tsx) from source', () => {
  const built = daemonEntry(pathToFileURL(join(root, 'dist', 'api', 'cli', 'daemon.js')).href);
  assert.deepEqual(built, { entry: join(root, 'dist', 'daemon', 'main.js'), execArgv: [] });
  const src = daemonEntry(pathToFileURL(join(root, 'api', 'cli', 'daemon.ts')).href);
  assert.equal(src.entry, join(root, 'daemon', 'main.ts'));
  assert.equal(src.execArgv[0], '--import');
  assert.match(src.execArgv[1]!, /^file:\/\/.*\/tsx\/.*loader\.mjs$/);
});

test('runDaemon: inherited stdio, signals forwarded once, the exit code passed on', async () => {
  const dir = tempDir();
  const entry = join(dir, 'fake-daemon.mjs');
  const log = join(dir, 'log');
  writeFileSync(
    entry,
    `import { appendFileSync } from 'node:fs';
     appendFileSync(${JSON.stringify(log)}, 'args:' + process.argv.slice(2).join(',') + '\\n');
     let n = 0;
     process.on('SIGTERM', () => { appendFileSync(${JSON.stringify(log)}, 'SIGTERM ' + (++n) + '\\n'); setTimeout(() => process.exit(7), 50); });
     appendFileSync(${JSON.stringify(log)}.replace(/log$/, 'ready'), '');
     setInterval(() => {}, 1000);`,
  );
  const p = runDaemon(['--x', 'y'], { entry: { entry, execArgv: [] } });
  // Signal only once the child's handler is installed (a loaded machine can take seconds to start node).
  await eventually('the fake daemon installs its SIGTERM handler', async () => existsSync(join(dir, 'ready')), Boolean, 30_000, 20);
  process.kill(process.pid, 'SIGTERM'); // as a service manager would signal `fcm daemon`
  assert.equal(await p, 7);
  assert.equal(readFileSync(log, 'utf8'), 'args:--x,y\nSIGTERM 1\n');
  assert.equal(process.listenerCount('SIGTERM'), 0, 'handlers removed afterwards');
});

test('runDaemon: a missing entry is a clear error, exit 1', async () => {
  let err = '';
  assert.equal(await runDaemon([], { entry: { entry: '/nonexistent/main.js', execArgv: [] }, stderr: { write: (s: string) => (err += s) } }), 1);
  assert.equal(
    err,
    'Error: the daemon is not where fcm expects it: /nonexistent/main.js\n' +
      'Hint: the daemon runs on the server, from a clone of the fcm repository (npm run build there, then sudo fcm daemon);\n' +
      '      the fcm-cli package is the client only\n',
  );
});

test('fcm daemon from source runs daemon/main.ts: its config errors and exit code come through', () => {
  const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  const r = spawnSync(process.execPath, ['--import', tsx, join(root, 'api', 'cli', 'main.ts'), 'daemon'], {
    cwd: tempDir(),
    env: { PATH: process.env.PATH, FCM_PORT: 'not-a-port' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /fcm daemon: FCM_PORT must be an integer/);
});
