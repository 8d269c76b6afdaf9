/** Snapshot templates. Driver: FileTemplateStore (drivers/template-store.ts); twin: MemoryTemplateStore (drivers/memory/memory-host.ts). */
import type { VmDisks } from './disks.js';
import type { ImageInfo } from './images.js';

export interface TemplateFiles {
  /** The id the template guest booted with; restored copies keep it until their seed names another. */
  templateVmId: string;
  /** The template's drives as the store made them (format included): the template guest boots from them. */
  disks: VmDisks;
  statePath: string;
  /**
   * The template guest's RAM image (its memory was a shared mapping of this file, so the saved
   * state leaves RAM out): clones map it copy-on-write and share its pages. null: the state holds RAM.
   */
  ramPath: string | null;
}

/** Snapshot templates on disk: built in a scratch dir, published atomically, found by key. */
export interface TemplateStore {
  /** A complete template, or null. */
  get(key: string): TemplateFiles | null;
  /** A fresh scratch template with its disks (overlay on the image, sparse swap, seed) and, with `ramMib`, an empty RAM image of that size. */
  begin(key: string, base: ImageInfo, sizes: { diskMib: number; swapMib: number; ramMib?: number }, seed: Buffer): Promise<TemplateFiles>;
  /** Publishes the scratch template under its key (atomic rename). */
  commit(key: string): Promise<TemplateFiles>;
  /** Deletes the scratch or published template (a broken template is thrown away and rebuilt). */
  discard(key: string): Promise<void>;
}
