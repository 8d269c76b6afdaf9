import type { FastifyReply } from 'fastify';

/**
 * The headers every page and asset the daemon serves to browsers carries (the dashboard, the API
 * reference): its content type, the page's Content-Security-Policy, no framing, no referrer, no
 * sniffing, and an origin of its own for openers and resources. One set, so the two surfaces
 * cannot drift apart; only the CSP differs between them.
 */
export function browserPageHeaders(reply: FastifyReply, type: string, csp: string): FastifyReply {
  return reply
    .type(type)
    .header('content-security-policy', csp)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin');
}
