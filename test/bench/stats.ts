/** Small helpers shared by benchmarks: percentiles and aligned report lines. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const median = (v: number[]) => percentile(v, 50);

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
}

export function row(label: string, value: string, note = ''): void {
  console.log(`  ${label.padEnd(56)} ${value.padStart(12)}${note ? `   ${note}` : ''}`);
}

export function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}x`;
}
