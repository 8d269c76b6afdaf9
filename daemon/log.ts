import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

/**
 * Structured JSON logs. Secrets never reach them: request headers are not
 * logged at all, and anything named like a credential is redacted.
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
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    dest,
  );
}
