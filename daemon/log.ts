import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

/**
 * Structured JSON logs. Secrets never reach them: request headers are not
 * logged at all, URLs are logged without their query string (the OIDC
 * callback carries an authorization code there), and anything named like a
 * credential is redacted.
 */
export function createLogger(level: string, dest?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { svc: 'fcmd' },
      redact: {
        paths: [
          'token', '*.token', 'secret', '*.secret', 'password', '*.password',
          'authorization', '*.authorization', 'req.headers', 'headers.authorization',
          'clientSecret', '*.clientSecret', 'authCode', '*.authCode', 'idToken', '*.idToken',
        ],
        censor: '[redacted]',
      },
      timestamp: isoTimeCached,
      serializers: {
        req: (req: { method?: string; url?: string; ip?: string; socket?: { remotePort?: number } }) => ({
          method: req.method,
          url: typeof req.url === 'string' ? req.url.split('?')[0] : req.url,
          remoteAddress: req.ip,
          remotePort: req.socket?.remotePort,
        }),
      },
    },
    dest,
  );
}

/**
 * pino's isoTime, formatted once per millisecond (a busy daemon logs several lines in the same
 * one: two per request). Same text: `,"time":"<ISO 8601>"`.
 */
let lastMs = -1;
let lastTime = '';
function isoTimeCached(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastTime = `,"time":"${new Date(ms).toISOString()}"`;
  }
  return lastTime;
}
