/**
 * fcm.service as daemon/host-setup.sh writes it: systemd accepts every
 * directive (`systemd-analyze verify` warns, on stderr, about unknown or
 * malformed ones and exits 0 anyway, so stderr must be empty), and its
 * exposure score (`systemd-analyze security --offline`) is printed next to
 * the unhardened unit's, measured in the same run, and must be lower.
 * systemd is not PID 1 on the development machine, so the unit is checked
 * offline; the hardening's effect on a running daemon was checked by running
 * the confined QEMU launch under the same capability bounding set and
 * no_new_privs (SECURITY.md).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SETUP = join(ROOT, 'daemon', 'host-setup.sh');
const work = mkdtempSync(join(tmpdir(), 'fcm-unit-'));

function sh(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_COLORS: '0' } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The unit exactly as host-setup.sh writes it (its fcm_env and fcm_unit functions, nothing else of the script). */
async function unitText(): Promise<string> {
  const script = `source <(sed -n '/^fcm_env()/p; /^fcm_unit()/,/^}/p' "$1"); fcm_unit "$2" "$3"`;
  const r = await sh('bash', ['-c', script, 'unit', SETUP, process.execPath, join(ROOT, 'package.json')]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

const analyze = await sh('systemd-analyze', ['--version']);
const skip = analyze.code === 0 ? false : 'systemd-analyze is not installed (Debian: systemd)';

describe('fcm.service hardening', { skip }, () => {
  after(() => rmSync(work, { recursive: true, force: true }));

  test('systemd-analyze verify accepts every directive', async () => {
    const path = join(work, 'fcm.service');
    writeFileSync(path, await unitText());
    const r = await sh('systemd-analyze', ['verify', path]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warnings');
    // The check can fail: a misspelt directive is reported.
    const bad = join(work, 'bad.service');
    writeFileSync(bad, (await unitText()).replace('LockPersonality=yes', 'LockPersonalty=yes'));
    assert.match((await sh('systemd-analyze', ['verify', bad])).stderr, /Unknown key 'LockPersonalty'/);
  });

  test('keeps what the daemon needs, and the VMs alive across restarts', async () => {
    const text = await unitText();
    assert.match(text, /^KillMode=process$/m, 'VMs are detached children that outlive the daemon');
    for (const cap of ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_MKNOD', 'CAP_SETUID', 'CAP_SETGID', 'CAP_KILL', 'CAP_DAC_OVERRIDE']) {
      assert.match(text, new RegExp(`^CapabilityBoundingSet=.*\\b${cap}\\b`, 'm'), cap);
    }
    for (const off of ['PrivateDevices', 'ProtectKernelTunables', 'ProtectControlGroups', 'MemoryDenyWriteExecute', 'SystemCallFilter']) {
      assert.doesNotMatch(text, new RegExp(`^${off}=`, 'm'), `${off} would break the daemon (see host-setup.sh)`);
    }
    assert.match(text, /^ReadWritePaths=\/var\/lib\/fcm /m);
  });

  test('exposure score: hardened vs the unit without hardening (same run)', async (t) => {
    const hardened = join(work, 'fcm.service');
    writeFileSync(hardened, await unitText());
    const plain = join(work, 'plain.service');
    writeFileSync(plain, (await unitText()).split('\n').filter((l) => !/^(NoNewPrivileges|CapabilityBoundingSet|Protect|ReadWritePaths|PrivateTmp|Restrict|LockPersonality|SystemCallArchitectures)/.test(l)).join('\n'));
    const score = async (p: string) => {
      const r = await sh('systemd-analyze', ['security', '--offline=true', p]);
      const m = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout + r.stderr);
      assert.ok(m, r.stdout + r.stderr);
      return Number(m[1]);
    };
    const [h, p] = [await score(hardened), await score(plain)];
    t.diagnostic(`systemd-analyze security exposure: hardened ${h} vs unhardened ${p} (lower is better, 10 = no protection)`);
    assert.ok(h < p, `hardened ${h} < unhardened ${p}`);
  });
});
