/**
 * The three small programs that connect git and sshd to the daemon. The
 * daemon writes them at start (root-owned, 0755, replaced atomically), with
 * the Node binary and the daemon's internal socket baked in:
 *
 *   fcm-ssh-keys       sshd's AuthorizedKeysCommand (`%u %f`): prints the
 *                      authorized_keys line of a registered key, restricted
 *                      to the forced command below — or nothing. A shell
 *                      script around curl: sshd runs it twice per connection
 *                      and curl starts in a third of Node's time.
 *   fcm-git-serve.cjs  the forced command (`<path> <key id>`): parses
 *                      SSH_ORIGINAL_COMMAND strictly (git-receive-pack or
 *                      git-upload-pack of '<app>.git', nothing else), asks
 *                      the daemon whether the key's owner may access that
 *                      app, then runs git on the app's repository.
 *   pre-receive        the hook of every repository (core.hooksPath): refuses
 *                      branches other than main/master, streams `git archive`
 *                      of the pushed commit to the daemon and relays the
 *                      deploy output; exits non-zero when the deploy fails,
 *                      so git does not update the ref and the push is rejected.
 *
 * The other two are plain CommonJS with no dependencies, run by the Node
 * binary the daemon runs on (~80 ms to start), in dev (tsx) and built
 * installs alike. All of them only talk to the Unix socket, which only root
 * can open.
 */
import { chmodSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';

export interface HelperPaths {
  binDir: string;
  hooksDir: string;
  sshKeysCommand: string;
  forcedCommand: string;
  preReceive: string;
}

const SAFE = /^\/[A-Za-z0-9/._-]+$/;

export function helperPaths(binDir: string, hooksDir: string): HelperPaths {
  return {
    binDir,
    hooksDir,
    sshKeysCommand: join(binDir, 'fcm-ssh-keys'),
    forcedCommand: join(binDir, 'fcm-git-serve.cjs'),
    preReceive: join(hooksDir, 'pre-receive'),
  };
}

/** Writes the helpers. Paths go into authorized_keys lines and shebangs: only plain characters are allowed. */
export function installHelpers(paths: HelperPaths, o: { socketPath: string; node: string }): void {
  for (const p of [paths.binDir, paths.hooksDir, o.node, o.socketPath]) {
    if (!SAFE.test(p)) throw new Error(`path not usable in sshd/git helpers (only A-Z a-z 0-9 / . _ -): ${p}`);
  }
  mkdirSync(paths.binDir, { recursive: true, mode: 0o755 });
  mkdirSync(paths.hooksDir, { recursive: true, mode: 0o755 });
  chmodSync(paths.binDir, 0o755);
  chmodSync(paths.hooksDir, 0o755);
  const head = `#!${o.node}\n'use strict';\nconst SOCKET = ${JSON.stringify(o.socketPath)};\n`;
  writeAtomic(paths.sshKeysCommand, SSH_KEYS.replace('@SOCKET@', o.socketPath));
  writeAtomic(paths.forcedCommand, head + GIT_SERVE);
  const hookJs = join(paths.binDir, 'fcm-pre-receive.cjs');
  writeAtomic(hookJs, head + PRE_RECEIVE);
  writeAtomic(paths.preReceive, `#!/bin/sh\n# fcm: deploy on push (see ${hookJs})\nexec ${o.node} ${hookJs}\n`);
}

/**
 * Why sshd would refuse `path` as AuthorizedKeysCommand, or null: it and
 * every directory above it must be owned by root and not group- or
 * world-writable (sshd's safe_path()).
 */
export function sshdUnsafeReason(path: string): string | null {
  let p = path;
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch {
      return `${p} does not exist`;
    }
    if (st.uid !== 0) return `${p} is not owned by root`;
    if (st.mode & 0o022) return `${p} is group- or world-writable`;
    if (p === sep) return null;
    p = dirname(p);
  }
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o755 });
  chmodSync(tmp, 0o755);
  renameSync(tmp, path);
}

// ---------------------------------------------------------------------------
// The programs. `SOCKET` is defined by the header above.

const SSH_KEYS = `#!/bin/sh
# fcm: sshd AuthorizedKeysCommand, called as: fcm-ssh-keys %u %f
# Prints the authorized_keys line of a key registered with fcm (restricted to
# fcm's git-only forced command), or nothing. Only root@ is fcm's git user;
# the fingerprint is what sshd offers: SHA256:<43 base64 characters>.
[ "$1" = root ] || exit 0
case "$2" in SHA256:*) ;; *) exit 0 ;; esac
fp=\${2#SHA256:}
case "$fp" in *[!A-Za-z0-9+/]*) exit 0 ;; esac
[ \${#fp} -eq 43 ] || exit 0
exec curl -sS --fail --max-time 5 --unix-socket '@SOCKET@' -H "X-Fcm-Fingerprint: $2" http://fcm/ssh/keys
`;

const GIT_SERVE = String.raw`// fcm: the forced command of fcm's SSH keys, called as: fcm-git-serve.cjs <key id>
const http = require('node:http');
const { spawn } = require('node:child_process');
const keyId = process.argv[2] || '';
const cmd = process.env.SSH_ORIGINAL_COMMAND || '';
const fail = (msg) => { process.stderr.write(msg.split('\n').map((l) => 'fcm: ' + l).join('\n') + '\n'); process.exit(1); };
if (!/^key_[0-9a-f]{12}$/.test(keyId)) fail('this key entry is misconfigured');
if (!cmd) fail('this key can only git push and fetch fcm apps; there is no shell here.\n  git remote add fcm root@<server>:<app>.git\n  git push fcm main');
// What git clients send: git-receive-pack '<path>' (or 'git receive-pack'), path '<app>.git' or '/<app>.git'.
const m = /^git[- ](receive-pack|upload-pack) '\/?([a-z](?:[a-z0-9-]{0,38}[a-z0-9])?)(?:\.git)?\/?'$/.exec(cmd);
if (!m) fail('only git push and git fetch of an app (<app>.git) are allowed here, not: ' + JSON.stringify(cmd.slice(0, 100)));
const service = m[1];
const body = JSON.stringify({ keyId, vm: m[2], service });
const req = http.request({
  socketPath: SOCKET, method: 'POST', path: '/ssh/authorize', timeout: 15000,
  headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
}, (res) => {
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (c) => { text += c; });
  res.on('end', () => {
    let r = {};
    try { r = JSON.parse(text); } catch (e) { /* not JSON */ }
    if (res.statusCode !== 200 || typeof r.repo !== 'string') fail(r.detail || 'the fcm daemon refused (HTTP ' + res.statusCode + ')');
    const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME || '/root', LANG: 'C.UTF-8' };
    if (r.ticket) env.FCM_PUSH_TICKET = r.ticket;
    const git = spawn('git', [service, r.repo], { stdio: 'inherit', env });
    git.on('error', (e) => fail('cannot run git: ' + e.message));
    git.on('exit', (code) => process.exit(code === null ? 1 : code));
  });
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (e) => fail('the fcm daemon is not answering (' + e.message + '); try again in a moment'));
req.end(body);
`;

const PRE_RECEIVE = String.raw`// fcm: pre-receive hook. stdin: "<old> <new> <ref>" lines. Objects are still in quarantine, which git archive can read.
const http = require('node:http');
const path = require('node:path');
const { spawn } = require('node:child_process');
const RESULT = 'fcm-result: ';
const say = (l) => process.stdout.write(l + '\n');
const refuse = (...lines) => { for (const l of lines) say(' !     ' + l); process.exit(1); };
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', main);

function main() {
  const ticket = process.env.FCM_PUSH_TICKET;
  if (!ticket) refuse('This repository is managed by fcm: push to the app through its fcm remote (fcm show prints it).');
  const updates = input.split('\n').filter(Boolean).map((l) => {
    const [oldRev, newRev, ref] = l.split(' ');
    return { oldRev, newRev, ref };
  });
  const branch = (ref) => ref.replace(/^refs\/heads\//, '');
  const other = updates.filter((u) => u.ref !== 'refs/heads/main' && u.ref !== 'refs/heads/master');
  if (other.length) {
    refuse('fcm deploys the main (or master) branch only; refused: ' + other.map((u) => branch(u.ref)).join(', '),
      'To deploy another branch, push it to main: git push fcm ' + branch(other[0].ref) + ':main');
  }
  if (updates.length > 1) refuse('Push main or master, not both.');
  if (!updates.length) process.exit(0);
  const u = updates[0];
  if (/^0+$/.test(u.newRev)) refuse('Deleting the deployed branch is not supported (fcm destroy removes the app).');
  const archive = spawn('git', ['archive', '--format=tar', u.newRev], { stdio: ['ignore', 'pipe', 'inherit'] });
  const req = http.request({
    socketPath: SOCKET, method: 'POST', path: '/push',
    headers: {
      'content-type': 'application/x-tar',
      'x-fcm-ticket': ticket,
      'x-fcm-commit': u.newRev,
      'x-fcm-ref': u.ref,
      'x-fcm-repo': path.resolve(process.env.GIT_DIR || '.'),
    },
  }, (res) => {
    res.setEncoding('utf8');
    if (res.statusCode !== 200) {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let p = {};
        try { p = JSON.parse(text); } catch (e) { /* not JSON */ }
        refuse(p.detail || 'the fcm daemon refused the push (HTTP ' + res.statusCode + ')');
      });
      return;
    }
    // Relay lines as they come. The daemon's last line is the result; it escapes any other line
    // that starts like one, so only a held-back result line that really is last counts.
    let partial = '';
    let held = null;
    const line = (l) => {
      if (held !== null) say(held);
      held = null;
      if (l.startsWith(RESULT)) held = l;
      else say(l);
    };
    res.on('data', (c) => {
      partial += c;
      let i;
      while ((i = partial.indexOf('\n')) !== -1) {
        line(partial.slice(0, i));
        partial = partial.slice(i + 1);
      }
    });
    res.on('end', () => {
      if (partial) line(partial);
      if (held !== null && held.startsWith(RESULT)) {
        let r = {};
        try { r = JSON.parse(held.slice(RESULT.length)); } catch (e) { /* malformed */ }
        process.exit(r.ok === true ? 0 : 1);
      }
      if (held !== null) say(held);
      refuse('The deploy was interrupted (the fcm daemon went away); push again.');
    });
  });
  req.on('error', (e) => refuse('Cannot reach the fcm daemon (' + e.message + '); push again in a moment.'));
  archive.stdout.pipe(req);
  archive.on('exit', (code) => {
    if (code !== 0) {
      req.destroy();
      refuse('git archive ' + u.newRev + ' failed.');
    }
  });
}
`;
