import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { FcmError } from '../core/errors.js';
import type { ImageInfo, Images } from '../core/ports/images.js';

/**
 * Images built by rootfs/build.sh: `<dir>/current` → `<dir>/<inputs-hash>/`
 * with vmlinuz, initrd.img, rootfs.ext4 and manifest.json. A VM records the
 * resolved hash directory, so rebuilding the image never changes the base of
 * an existing VM's copy-on-write disk.
 */
export class FileImages implements Images {
  constructor(
    private readonly dir: string,
    private readonly kernelOverride: string | null = null,
  ) {}

  resolve(name: string): ImageInfo {
    if (name !== 'base') throw new FcmError('image_missing', `No image named "${name}"; available: base.`);
    const link = join(this.dir, 'current');
    if (!existsSync(link)) {
      throw new FcmError('image_missing', `The base image is not built (${link} is missing). Build it with: sudo rootfs/build.sh`);
    }
    return this.fromDir(name, realpathSync(link));
  }

  fromDir(name: string, dir: string): ImageInfo {
    const info: ImageInfo = {
      name,
      dir,
      kernelPath: this.kernelOverride ?? join(dir, 'vmlinuz'),
      initrdPath: this.kernelOverride ? null : join(dir, 'initrd.img'),
      rootfsPath: join(dir, 'rootfs.ext4'),
    };
    for (const p of [info.kernelPath, info.rootfsPath, ...(info.initrdPath ? [info.initrdPath] : [])]) {
      if (!existsSync(p)) throw new FcmError('image_missing', `Image ${name} is incomplete: ${p} is missing. Rebuild it with: sudo rootfs/build.sh`);
    }
    return info;
  }

  /** manifest.json of the current image, if any (for health/diagnostics). */
  manifest(): Record<string, unknown> | null {
    try {
      return JSON.parse(readFileSync(join(this.dir, 'current', 'manifest.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      return null;
    }
  }
}
