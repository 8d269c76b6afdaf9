/** The Images port. Driver: FileImages (drivers/file-images.ts); twin: MemoryImages (drivers/memory/memory-host.ts). */

export interface ImageInfo {
  name: string;
  dir: string;
  kernelPath: string;
  initrdPath: string | null;
  rootfsPath: string;
}

export interface Images {
  /** Throws image_missing. */
  resolve(name: string): ImageInfo;
  /** The image a VM was created from (by its stored directory). */
  fromDir(name: string, dir: string): ImageInfo;
}
