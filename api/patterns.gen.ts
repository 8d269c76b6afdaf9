// GENERATED from openapi.yaml by `npm run gen` — do not edit.

export interface StringRule {
  readonly pattern: RegExp;
  /** The pattern as written in openapi.yaml. */
  readonly source: string;
  readonly minLength?: number;
  readonly maxLength?: number;
}

/** Whether `value` satisfies the rule (pattern and lengths, as JSON Schema counts them: code points). */
export function matches(rule: StringRule, value: string): boolean {
  const n = [...value].length;
  return rule.pattern.test(value) && n >= (rule.minLength ?? 0) && n <= (rule.maxLength ?? Infinity);
}

/** components.schemas.VmName */
export const VmName: StringRule = { pattern: /^[a-z]([a-z0-9-]*[a-z0-9])?$/u, source: "^[a-z]([a-z0-9-]*[a-z0-9])?$", minLength: 1, maxLength: 40 };

/** components.schemas.SleepAfter */
export const SleepAfter: StringRule = { pattern: /^(off|[1-9][0-9]{0,5}[smh])$/u, source: "^(off|[1-9][0-9]{0,5}[smh])$" };

/** components.schemas.Hostname */
export const Hostname: StringRule = { pattern: /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/u, source: "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", minLength: 4, maxLength: 253 };

/** components.schemas.SnapshotName */
export const SnapshotName: StringRule = { pattern: /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/u, source: "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", minLength: 1, maxLength: 40 };

/** components.schemas.EnvKey */
export const EnvKey: StringRule = { pattern: /^[A-Za-z_][A-Za-z0-9_]{0,127}$/u, source: "^[A-Za-z_][A-Za-z0-9_]{0,127}$" };
