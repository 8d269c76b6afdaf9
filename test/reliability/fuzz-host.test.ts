/**
 * The fuzzer (see fuzz-api.test.ts) against a real daemon with a real
 * Caddy in the harness's namespace, for what only a real host can show:
 * after thousands of hostile requests nothing leaked — no tap, nft chain,
 * QEMU process, disk, run dir, Caddy route or VM row beyond what 2xx
 * answers made — and the daemon still serves.
 *
 * Shorter than the in-memory pass: per operation every header, framing and
 * malformed-body case plus a deterministic sample of the parameter and
 * property mutations. Requests the spec allows can boot real guests, so at
 * most MAX_CREATES accepted creates are sent and every VM they make is
 * deleted at once; other state-changing operations (stop, restart, resize
 * of the real guest take seconds each) stop getting requests the spec
 * allows after MAX_ACCEPTED_PER_OP were accepted (counted as skipped); so do
 * reads that cost as much (COSTLY_READS: a backup export sleeps the guest).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spec } from '../../api/spec.gen.js';
import { hostLeftovers, hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { generateCases, type FuzzCase } from './lib/fuzz-cases.js';
import { formatFailures, formatStats, runFuzz } from './lib/fuzz-run.js';
import { assertConsistent, caddyRoutes, eventually, listVms } from './lib/host-checks.js';
import type { RawResponse } from './lib/raw-http.js';

const skip = hostSkipReason();
const TARGET = 'fuzz-target';
const MAX_CREATES = 3;
const MAX_TARGET_RECREATES = 5;
/** Accepted state-changing requests per operation (a stop or restart of the real guest costs seconds); the in-memory pass has no cap. */
const MAX_ACCEPTED_PER_OP = 4;
const PER_OP = 70;
const ALWAYS = /^(auth=|header=|content-length|content-type=|chunked=|body=|http\/1\.0|no-host|duplicate-host|head|valid$)/;
/**
 * Reads that cost like a state change on a real host, capped the same way: exporting a backup puts the
 * guest to sleep and copies its disk (seconds each; ~70 of them would take a quarter of an hour).
 */
const COSTLY_READS = new Set(['exportBackup']);
const costly = (c: FuzzCase) => (c.method !== 'GET' && c.method !== 'HEAD') || COSTLY_READS.has(c.op);

/** Every framing/header/body case, plus an evenly spread sample of the rest, up to PER_OP per operation. */
function sampleForHost(cases: FuzzCase[]): FuzzCase[] {
  const byOp = new Map<string, FuzzCase[]>();
  for (const c of cases) byOp.set(c.op, [...(byOp.get(c.op) ?? []), c]);
  const out: FuzzCase[] = [];
  for (const [op, list] of byOp) {
    if (op.startsWith('(')) {
      out.push(...list);
      continue;
    }
    const fixed = list.filter((c) => ALWAYS.test(c.label));
    const rest = list.filter((c) => !ALWAYS.test(c.label));
    const room = Math.max(10, PER_OP - fixed.length);
    const step = Math.max(1, rest.length / room);
    const picked: FuzzCase[] = [];
    for (let i = 0; i < rest.length && picked.length < room; i += step) picked.push(rest[Math.floor(i)]!);
    out.push(...fixed, ...picked);
  }
  // DELETEs last, so the target VM is not deleted (and re-booted) under every other operation's cases.
  return [...out.filter((c) => c.method !== 'DELETE'), ...out.filter((c) => c.method === 'DELETE')];
}

describe('fuzzing a real daemon: nothing leaks (real QEMU, real Caddy)', { skip: skip ?? false }, () => {
  let h: HostHarness;
  let run: Awaited<ReturnType<typeof runFuzz>>;
  let sent = 0;
  const made = new Set<string>();
  let creates = 0;
  let targetRecreates = 0;
  let tokenRotations = 0;
  const accepted = new Map<string, number>();

  before(async () => {
    // Limits off, as in fuzz-api.test.ts: the fuzzer is for validation and handlers (limits: api/rate-limits.test.ts).
    h = await startHostHarness({ caddy: true, env: { FCM_RESTART_POLICY: 'never', FCM_RATE_LOGIN: 'off', FCM_RATE_PUBLIC: 'off', FCM_RATE_USER: 'off' } });
    const t = await h.api('POST', '/v1/vms', { name: TARGET, memoryMib: 192, swapMib: 0 });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    assert.equal((await h.api('GET', `/v1/vms/${TARGET}/wait?state=running&timeout=300`)).status, 200);
    const [host, port] = [h.daemonIp, 7777];
    const cases = sampleForHost(generateCases(spec, { host: `${host}:${port}`, token: () => h.token, targetVm: TARGET }));
    sent = cases.length;
    const afterCase = async (c: FuzzCase, r: RawResponse) => {
      if (r.status !== null && r.status >= 200 && r.status < 300) accepted.set(c.op, (accepted.get(c.op) ?? 0) + 1);
      if (c.creates && r.status === 201) {
        creates++;
        const name = JSON.parse(r.body.toString('utf8')).name as string;
        made.add(name);
        if (name !== TARGET) await h.api('DELETE', `/v1/vms/${name}`);
      }
      if (r.status === null || r.status >= 300 || c.method === 'GET' || c.method === 'HEAD') return;
      // A case may have revoked the admin token (logout): a new one is minted by deleting .token and restarting.
      if ((await h.api('GET', '/v1/auth/whoami')).status === 401) {
        rmSync(join(h.stateDir, '.token'));
        await h.restartDaemon();
        tokenRotations++;
      }
      if ((await h.api('GET', `/v1/vms/${TARGET}`)).status === 404 && targetRecreates < MAX_TARGET_RECREATES) {
        targetRecreates++;
        await h.api('POST', '/v1/vms', { name: TARGET, memoryMib: 192, swapMib: 0 });
      }
    };
    run = await runFuzz(cases, {
      host,
      port,
      token: () => h.token,
      after: afterCase,
      timeoutMs: 60_000, // stop/restart/resize of the real guest take seconds
      holdMs: 1000,
      skip: (c) =>
        c.expect !== 'invalid' &&
        ((c.creates && creates >= MAX_CREATES) || (costly(c) && (accepted.get(c.op) ?? 0) >= MAX_ACCEPTED_PER_OP)),
    });
  });
  after(async () => {
    await h?.close();
  });

  test('no 5xx but 501, every error is problem+json with its code, nothing forbidden is accepted', (t) => {
    t.diagnostic(`${sent} requests in ${(run.ms / 1000).toFixed(1)} s; ${creates} creates accepted, target VM re-created ${targetRecreates}×, admin token rotated ${tokenRotations}× (logout)`);
    for (const line of formatStats(run.stats).split('\n')) t.diagnostic(line);
    assert.deepEqual(run.failures, [], `\n${formatFailures(run.failures)}`);
  });

  test('nothing leaked: rows, processes, taps, chains, disks and routes match what 2xx answers left; then none at all', async () => {
    const vms = await listVms(h);
    for (const vm of vms) assert.ok(vm.name === TARGET || made.has(vm.name), `VM ${vm.name} exists but no 2xx answer made it`);
    await eventually('consistent, routes included', () => assertConsistent(h, { caddy: true }).then(() => true), (ok) => ok, 20_000);
    for (const vm of vms) assert.equal((await h.api('DELETE', `/v1/vms/${vm.name}`)).status, 204);
    assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] });
    await eventually('no routes left', () => caddyRoutes(h), (r) => JSON.stringify(r) === '[]');
    assert.equal((await h.api('GET', '/v1/health', undefined, null)).status, 200, 'the daemon still serves');
  });
});
