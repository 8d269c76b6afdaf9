/**
 * The web dashboard (`/dashboard/`): one static page, its script and style,
 * all served by the daemon itself — no CDN, no external font or script, so it
 * works on a host without internet and leaks nothing to third parties. The
 * page is a client of the REST API like the CLI (session cookie instead of a
 * bearer header; http/session-cookie.ts), so what a user sees through it is
 * exactly what the API lets them see.
 *
 * Every answer carries a strict Content-Security-Policy: scripts and styles
 * only from this origin (no inline script or style, no eval), requests only
 * to this origin, no frames of it anywhere (clickjacking), no forms posted
 * anywhere, no plugins, no <base>; and no referrer, nosniff, no caching of
 * the page.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { FcmError } from '../../core/errors.js';
import { browserPageHeaders } from '../page-headers.js';
import { DASHBOARD_APP_JS } from '../dashboard/app.js';
import { DASHBOARD_LIB_JS } from '../dashboard/lib.js';
import { DASHBOARD_CSS, DASHBOARD_HTML } from '../dashboard/page.js';

export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ASSETS: Record<string, { type: string; body: string }> = {
  'app.js': { type: 'text/javascript; charset=utf-8', body: DASHBOARD_APP_JS },
  'lib.js': { type: 'text/javascript; charset=utf-8', body: DASHBOARD_LIB_JS },
  'dashboard.css': { type: 'text/css; charset=utf-8', body: DASHBOARD_CSS },
};

function secure(reply: FastifyReply, type: string): FastifyReply {
  return browserPageHeaders(reply, type, DASHBOARD_CSP);
}

export function dashboardRoutes(app: FastifyInstance): void {
  app.get('/', { logLevel: 'warn' }, async (_req, reply) => reply.redirect('/dashboard/'));
  app.get('/dashboard', { logLevel: 'warn' }, async (_req, reply) => secure(reply, 'text/html; charset=utf-8').header('cache-control', 'no-store').send(DASHBOARD_HTML));
  app.get('/dashboard/assets/:file', { logLevel: 'warn' }, async (req, reply) => {
    const asset = Object.hasOwn(ASSETS, (req.params as { file: string }).file) ? ASSETS[(req.params as { file: string }).file]! : null;
    if (!asset) throw new FcmError('not_found', 'No such dashboard asset.');
    return secure(reply, asset.type).header('cache-control', 'no-cache').send(asset.body);
  });
}
