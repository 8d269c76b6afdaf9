/**
 * The pre-receive hook of every fcm repository (their core.hooksPath). git
 * runs it as the git user, with `<old> <new> <ref>` lines on stdin, while the
 * pushed objects are still in quarantine (git archive can read them). It
 * refuses branches other than main/master, streams `git archive` of the
 * pushed commit to the daemon with the push ticket, and relays the deploy
 * output line by line as it comes. It exits 0 only when the daemon's last
 * line says the deploy succeeded: otherwise git does not update the ref and
 * the push is rejected, and the previous release keeps serving.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { resolve } from 'node:path';
import { error } from '../../../core/deploys-output.js';
import { DEPLOY_REFS, INTERNAL_ROUTES, parseResultLine, PUSH_HEADERS, PUSH_TICKET_ENV, RESULT_PREFIX, type PushResult } from '../../../core/git-wire.js';
import { mediaType, readAll, refusalOf, type HelperConfig } from './socket-client.js';

export interface RefUpdate {
  oldRev: string;
  newRev: string;
  ref: string;
}

export type Decision = { refuse: string[] } | { deploy: RefUpdate | null };

export function parseUpdates(stdin: string): RefUpdate[] {
  return stdin
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [oldRev = '', newRev = '', ref = ''] = l.split(' ');
      return { oldRev, newRev, ref };
    });
}

/** What a push may do: deploy one update of main or master (or nothing), or be refused with these lines. */
export function decide(updates: RefUpdate[]): Decision {
  const branch = (ref: string) => ref.replace(/^refs\/heads\//, '');
  const other = updates.filter((u) => !DEPLOY_REFS.includes(u.ref));
  if (other.length) {
    return {
      refuse: [
        `fcm deploys the main (or master) branch only; refused: ${other.map((u) => branch(u.ref)).join(', ')}`,
        `To deploy another branch, push it to main: git push fcm ${branch(other[0]!.ref)}:main`,
      ],
    };
  }
  if (updates.length > 1) return { refuse: ['Push main or master, not both.'] };
  const u = updates[0];
  if (!u) return { deploy: null };
  if (/^0+$/.test(u.newRev)) return { refuse: ['Deleting the deployed branch is not supported (fcm destroy removes the app).'] };
  return { deploy: u };
}

/**
 * Relays the daemon's deploy output line by line. The daemon's last line is
 * the result, and it escapes any other line that starts like one (git-wire
 * outputLine), so a result line is held back until the next line shows it
 * was not the last: only the real last line counts.
 */
export class OutputRelay {
  private partial = '';
  private held: string | null = null;

  /** `write` returns false when its destination is full (the caller then waits for it to drain). */
  constructor(private readonly write: (line: string) => boolean) {}

  /** Relays the complete lines of `chunk`; false when the destination asked to wait. */
  push(chunk: string): boolean {
    const text = this.partial + chunk;
    let ok = true;
    let start = 0;
    let i: number;
    while ((i = text.indexOf('\n', start)) !== -1) {
      ok = this.line(text.slice(start, i)) && ok;
      start = i + 1;
    }
    this.partial = text.slice(start);
    return ok;
  }

  /** The stream ended: the daemon's result, or null when its last line was none (it went away). */
  end(): PushResult | null {
    if (this.partial) this.line(this.partial);
    this.partial = '';
    const last = this.held;
    this.held = null;
    return last === null ? null : parseResultLine(last);
  }

  private line(l: string): boolean {
    let ok = true;
    if (this.held !== null) ok = this.write(this.held);
    this.held = null;
    if (l.startsWith(RESULT_PREFIX)) this.held = l;
    else ok = this.write(l) && ok;
    return ok;
  }
}

const say = (line: string) => process.stdout.write(`${line}\n`);

function refuse(...lines: string[]): never {
  for (const l of lines) say(error(l));
  process.exit(1);
}

function readStdin(): Promise<string> {
  return new Promise((ok) => {
    let input = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c: string) => (input += c));
    process.stdin.on('end', () => ok(input));
  });
}

export async function main(cfg: HelperConfig, env = process.env): Promise<void> {
  const input = await readStdin();
  const ticket = env[PUSH_TICKET_ENV];
  if (!ticket) refuse('This repository is managed by fcm: push to the app through its fcm remote (fcm show prints it).');
  const d = decide(parseUpdates(input));
  if ('refuse' in d) refuse(...d.refuse);
  if (!d.deploy) process.exit(0);
  const u = d.deploy;
  const archive = spawn('git', ['archive', '--format=tar', u.newRev], { stdio: ['ignore', 'pipe', 'inherit'] });
  const req = request(
    {
      socketPath: cfg.socketPath,
      method: 'POST',
      path: INTERNAL_ROUTES.push,
      headers: {
        'content-type': 'application/x-tar',
        [PUSH_HEADERS.ticket]: ticket,
        [PUSH_HEADERS.commit]: u.newRev,
        [PUSH_HEADERS.ref]: u.ref,
        [PUSH_HEADERS.repo]: resolve(env.GIT_DIR ?? '.'),
      },
    },
    (res) => {
      if (res.statusCode !== 200) {
        readAll(res).then(
          (text) => refuse(refusalOf({ status: res.statusCode ?? 0, type: mediaType(res), text }, 'the fcm daemon refused the push').detail),
          () => refuse('The deploy was interrupted (the fcm daemon went away); push again.'),
        );
        return;
      }
      res.setEncoding('utf8');
      // Lines go out as they come; when the pusher reads slowly, stop reading the daemon until stdout drains.
      const relay = new OutputRelay(say);
      res.on('data', (chunk: string) => {
        if (!relay.push(chunk)) {
          res.pause();
          process.stdout.once('drain', () => res.resume());
        }
      });
      res.on('end', () => {
        const result = relay.end();
        if (result) process.exit(result.ok ? 0 : 1);
        refuse('The deploy was interrupted (the fcm daemon went away); push again.');
      });
    },
  );
  req.on('error', (e) => refuse(`Cannot reach the fcm daemon (${e.message}); push again in a moment.`));
  archive.stdout.pipe(req);
  archive.on('exit', (code) => {
    if (code !== 0) {
      req.destroy();
      refuse(`git archive ${u.newRev} failed.`);
    }
  });
}
