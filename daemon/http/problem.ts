import { ERROR_CODES, type ErrorCode, type FieldError, type LimitInfo } from '../core/errors.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  requestId?: string;
  errors?: FieldError[];
  limit?: LimitInfo;
}

/** RFC 9457 problem details; `type` is a stable URI per code. */
export function problem(code: ErrorCode, detail: string | undefined, extra: Partial<Problem> = {}): Problem {
  const { status, title } = ERROR_CODES[code];
  return {
    type: `https://fcm.dev/problems/${code.replace(/_/g, '-')}`,
    title,
    status,
    code,
    ...(detail ? { detail } : {}),
    ...extra,
  };
}
