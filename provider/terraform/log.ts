/**
 * Plugin logging. A plugin's stdout belongs to the go-plugin handshake, so all
 * logs go to stderr. Lines are written in hclog's JSON shape
 * (`{"@level","@message","@timestamp",...}`): go-plugin parses such lines and
 * re-emits them at the right level in Terraform's own log (TF_LOG=debug,
 * TF_LOG_PROVIDER=trace, ...). Anything else written to stderr still shows up,
 * as a debug line.
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

export interface Logger {
  trace(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

function envLevel(): LogLevel {
  const v = (process.env['FCM_PLUGIN_LOG'] ?? 'debug').toLowerCase();
  return v in ORDER ? (v as LogLevel) : 'debug';
}

/**
 * go-plugin only accepts a JSON line as a log entry if @timestamp parses with
 * Go layout "2006-01-02T15:04:05.000000Z07:00": exactly six fractional digits
 * (toISOString has three). Otherwise the whole line is logged raw at DEBUG.
 */
export function hclogTimestamp(d: Date = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function createLogger(module: string, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = ORDER[envLevel()];
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    const entry: Record<string, unknown> = { '@level': level, '@message': msg, '@module': module, '@timestamp': hclogTimestamp() };
    if (fields) {
      for (const [k, v] of Object.entries(fields)) entry[k] = v instanceof Error ? v.message : typeof v === 'bigint' ? v.toString() : v;
    }
    let line: string;
    try {
      line = JSON.stringify(entry);
    } catch {
      line = JSON.stringify({ '@level': level, '@message': msg, '@module': module, '@timestamp': entry['@timestamp'] });
    }
    write(line + '\n');
  };
  return {
    trace: (m, f) => emit('trace', m, f),
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}
