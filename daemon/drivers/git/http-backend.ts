import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAbsolute, relative } from 'node:path';
import type { Duplex } from 'node:stream';
import type { GitService } from '../../core/git-wire.js';
import type { GitHttpRequest, GitSmartHttp } from '../../core/ports/git-smart-http.js';
import { PUSH_TICKET_ENV } from '../../core/git-wire.js';
import type { Logger } from '../../log.js';
import { asUser, type GitUser } from './git-user.js';

const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Git smart HTTP through `git http-backend` (CGI), run as the git user: the
 * request body streams into its stdin (gzip request bodies are git's
 * business: it gets HTTP_CONTENT_ENCODING), its stdout is CGI headers then
 * the body, streamed to the client as produced. argv and environment only;
 * a client that goes away kills the backend.
 */
export class GitHttpBackend implements GitSmartHttp {
  constructor(
    /** The repositories' directory (GIT_PROJECT_ROOT). */
    private readonly projectRoot: string,
    private readonly user: GitUser | null,
    private readonly log: Logger,
  ) {}

  tunnel(stream: Duplex, r: GitTunnelRequest): Promise<number> {
    return tunnelGit(this.projectRoot, this.user, this.log, stream, r);
  }

  serve(req: IncomingMessage, res: ServerResponse, r: GitHttpRequest): Promise<void> {
    const repo = relative(this.projectRoot, r.repo);
    if (!repo || repo.startsWith('..') || isAbsolute(repo) || repo.includes('/')) {
      this.log.error({ repo: r.repo, root: this.projectRoot }, 'git smart HTTP: repository outside the project root');
      res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error\n');
      return Promise.resolve();
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const h = (name: string) => {
      const v = req.headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: this.user?.home ?? process.env.HOME ?? '/',
      LANG: 'C.UTF-8',
      GIT_PROJECT_ROOT: this.projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: `/${repo}/${r.path}`,
      QUERY_STRING: url.search.slice(1),
      REMOTE_USER: r.remoteUser,
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
      ...(h('content-type') ? { CONTENT_TYPE: h('content-type')! } : {}),
      // Chunked uploads have no length: git then reads the body to EOF.
      ...(h('content-length') ? { CONTENT_LENGTH: h('content-length')! } : {}),
      ...(h('content-encoding') ? { HTTP_CONTENT_ENCODING: h('content-encoding')! } : {}),
      ...(h('git-protocol') && /^[a-z0-9=:.-]+$/i.test(h('git-protocol')!) ? { GIT_PROTOCOL: h('git-protocol')! } : {}),
      ...(r.ticket ? { [PUSH_TICKET_ENV]: r.ticket } : {}),
    };
    const argv = asUser(this.user, 'git', ['http-backend']);
    return new Promise((resolve) => {
      const child = spawn(argv.cmd, argv.args, { env, cwd: this.projectRoot, stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      let head = Buffer.alloc(0);
      let headersSent = false;
      let finished = false;
      const done = () => {
        if (finished) return;
        finished = true;
        resolve();
      };

      req.pipe(child.stdin);
      child.stdin.on('error', () => {}); // git may stop reading early (refused push): not our error
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (c: string) => {
        if (stderr.length < 8192) stderr += c;
      });
      child.stdout.on('data', (chunk: Buffer) => {
        if (headersSent) {
          if (!res.write(chunk)) {
            child.stdout.pause();
            res.once('drain', () => child.stdout.resume());
          }
          return;
        }
        head = Buffer.concat([head, chunk]);
        const end = headerEnd(head);
        if (end === null) {
          if (head.length > MAX_HEADER_BYTES) child.kill('SIGKILL');
          return;
        }
        const { status, headers } = parseCgiHeaders(head.subarray(0, end.at).toString('latin1'));
        res.writeHead(status, headers);
        headersSent = true;
        const rest = head.subarray(end.at + end.len);
        if (rest.length) res.write(rest);
      });
      child.on('error', (err) => {
        this.log.error({ err }, 'cannot run git http-backend');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('git is not available on the server\n');
        done();
      });
      child.on('close', (code, signal) => {
        if (!headersSent) {
          this.log.error({ code, signal, stderr: stderr.trim().slice(-500) }, 'git http-backend produced no response');
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        } else if (code !== 0 && stderr.trim()) {
          this.log.warn({ code, stderr: stderr.trim().slice(-500) }, 'git http-backend');
        }
        res.end();
        done();
      });
      res.on('close', () => {
        if (!res.writableFinished) child.kill('SIGTERM');
        done();
      });
    });
  }
}

export interface GitTunnelRequest {
  repo: string;
  service: GitService;
  ticket: string | null;
}

/**
 * GitSmartHttp.tunnel for GitHttpBackend: `git <service> <repo>` as the git
 * user, its stdin and stdout the stream (what the forced command does over
 * SSH), with the same environment the forced command gives it. git's stderr
 * is logged (a push's own messages travel in its side band).
 */
export function tunnelGit(projectRoot: string, user: GitUser | null, log: Logger, stream: Duplex, r: GitTunnelRequest): Promise<number> {
  const repo = relative(projectRoot, r.repo);
  if (!repo || repo.startsWith('..') || isAbsolute(repo) || repo.includes('/')) {
    log.error({ repo: r.repo, root: projectRoot }, 'git tunnel: repository outside the project root');
    stream.destroy();
    return Promise.resolve(1);
  }
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: user?.home ?? process.env.HOME ?? '/',
    LANG: 'C.UTF-8',
    ...(r.ticket ? { [PUSH_TICKET_ENV]: r.ticket } : {}),
  };
  const argv = asUser(user, 'git', [r.service, r.repo]);
  return new Promise((resolve) => {
    const child = spawn(argv.cmd, argv.args, { env, cwd: projectRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      if (stderr.length < 8192) stderr += c;
    });
    child.stdin.on('error', () => {});
    stream.on('error', () => child.kill('SIGTERM'));
    stream.pipe(child.stdin);
    child.stdout.pipe(stream);
    // The pusher went away: so does git (its pre-receive hook's deploy carries on, as over SSH).
    stream.on('close', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    });
    child.on('error', (err) => {
      log.error({ err }, 'cannot run git for a tunnelled push');
      stream.destroy();
      resolve(1);
    });
    child.on('close', (code) => {
      if (code !== 0 && stderr.trim()) log.warn({ code, stderr: stderr.trim().slice(-500) }, `git ${r.service} (tunnel)`);
      stream.end();
      resolve(code ?? 1);
    });
  });
}

function headerEnd(b: Buffer): { at: number; len: number } | null {
  const crlf = b.indexOf('\r\n\r\n');
  const lf = b.indexOf('\n\n');
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return { at: crlf, len: 4 };
  if (lf !== -1) return { at: lf, len: 2 };
  return null;
}

/** CGI response headers: `Status: 404 Not Found` sets the status; the rest are passed on. */
export function parseCgiHeaders(text: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    if (k === 'status') status = Number(/^\d{3}/.exec(v)?.[0] ?? 500);
    else if (/^[a-z0-9-]+$/.test(k)) headers[k] = v;
  }
  return { status, headers };
}
