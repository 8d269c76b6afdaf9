import type { Logger } from '../log.js';

/**
 * All-or-nothing multi-step operations: each finished step registers how to
 * undo itself; on failure the steps are undone in reverse order. Undo errors
 * are logged and do not mask the original error (reconcile cleans up
 * whatever an undo could not).
 */
export class UndoStack {
  private readonly steps: { name: string; undo: () => unknown }[] = [];

  constructor(private readonly log: Logger) {}

  push(name: string, undo: () => unknown): void {
    this.steps.push({ name, undo });
  }

  /** The operation succeeded: forget the undo steps. */
  commit(): void {
    this.steps.length = 0;
  }

  async unwind(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (err) {
        this.log.error({ err, step: step.name }, 'undo step failed; reconcile will retry the cleanup');
      }
    }
  }
}
