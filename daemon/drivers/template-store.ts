import { accessSync, constants, readFileSync } from 'node:fs';
import { parseSeed } from '../core/planners/seed.js';
import { chmod, lchown, mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageInfo } from '../core/ports/images.js';
import type { TemplateFiles, TemplateStore } from '../core/ports/templates.js';
import { run } from './proc.js';

/**
 * `<dir>/<key>/{root.qcow2, swap.raw, seed.raw, state.bin, ram.raw}`, built in
 * `<dir>/.<key>.build/` and renamed into place once saved. A published
 * template is never modified: restored VMs' overlays use its root.qcow2 as
 * their backing file, and their RAM is a copy-on-write view of ram.raw
 * (loaded into a sealed memfd by the QEMU driver; the file itself is root's
 * 0600 and never reaches a VM).
 */
export class FileTemplateStore implements TemplateStore {
  constructor(private readonly dir: string) {}

  private files(d: string, swap: boolean, ram: boolean, templateVmId: string): TemplateFiles {
    return {
      templateVmId,
      disks: {
        root: { id: 'root', path: join(d, 'root.qcow2'), format: 'qcow2', readOnly: false },
        seed: { id: 'seed', path: join(d, 'seed.raw'), format: 'raw', readOnly: true },
        swap: swap ? { id: 'swap', path: join(d, 'swap.raw'), format: 'raw', readOnly: false } : null,
      },
      statePath: join(d, 'state.bin'),
      ramPath: ram ? join(d, 'ram.raw') : null,
    };
  }

  get(key: string): TemplateFiles | null {
    checkKey(key);
    const d = join(this.dir, key);
    try {
      // Synchronous existence checks keep get() cheap on the create path.
      for (const f of ['root.qcow2', 'seed.raw', 'state.bin']) accessSyncOk(join(d, f));
    } catch {
      return null;
    }
    let swap = true;
    try {
      accessSyncOk(join(d, 'swap.raw'));
    } catch {
      swap = false;
    }
    let ram = true;
    try {
      accessSyncOk(join(d, 'ram.raw'));
    } catch {
      ram = false;
    }
    let vmId: string;
    try {
      vmId = parseSeed(readFileSync(join(d, 'seed.raw'))).vmId;
    } catch {
      return null;
    }
    return this.files(d, swap, ram, vmId);
  }

  async begin(key: string, base: ImageInfo, sizes: { diskMib: number; swapMib: number; ramMib?: number }, seed: Buffer): Promise<TemplateFiles> {
    checkKey(key);
    const d = join(this.dir, `.${key}.build`);
    await rm(d, { recursive: true, force: true });
    await mkdir(d, { recursive: true, mode: 0o700 });
    const f = this.files(d, sizes.swapMib > 0, !!sizes.ramMib, parseSeed(seed).vmId);
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base.rootfsPath, f.disks.root.path, `${sizes.diskMib}M`]);
    if (f.disks.swap) {
      const fh = await open(f.disks.swap.path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      await fh.truncate(sizes.swapMib * 1024 * 1024);
      await fh.close();
    }
    if (f.ramPath) {
      // Exactly the machine's RAM size (QEMU refuses a smaller file); sparse until the guest writes.
      const fh = await open(f.ramPath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      await fh.truncate(sizes.ramMib! * 1024 * 1024);
      await fh.close();
    }
    await writeFile(f.disks.seed.path, seed, { mode: 0o600 });
    return f;
  }

  async commit(key: string): Promise<TemplateFiles> {
    checkKey(key);
    const from = join(this.dir, `.${key}.build`);
    const to = join(this.dir, key);
    // The guest zeroes what it frees (init_on_free=1), so most of a RAM image is zero pages written
    // out: punched back into holes (before publishing: the file never changes after), they cost
    // neither disk nor, once loaded, memory.
    const ram = join(from, 'ram.raw');
    if (await stat(ram).then(() => true, () => false)) await run('fallocate', ['--dig-holes', ram]);
    await rm(to, { recursive: true, force: true });
    await rename(from, to);
    // The overlay's backing path is absolute and points at the image, not at the build dir: nothing to rewrite.
    const t = this.get(key);
    if (!t) throw new Error(`template ${key} is incomplete after commit`);
    // The template guest's (unprivileged) QEMU owned its files; published, they are root's. The root
    // is the read-only backing file of every restored VM, each QEMU running as a uid of its own: 0644.
    for (const f of [t.disks.root.path, t.disks.seed.path, t.statePath, ...(t.disks.swap ? [t.disks.swap.path] : []), ...(t.ramPath ? [t.ramPath] : [])]) await lchown(f, 0, 0);
    await chmod(t.disks.root.path, 0o644);
    if (t.ramPath) await chmod(t.ramPath, 0o600);
    return t;
  }

  async discard(key: string): Promise<void> {
    checkKey(key);
    await rm(join(this.dir, `.${key}.build`), { recursive: true, force: true });
    await rm(join(this.dir, key), { recursive: true, force: true });
  }
}

function checkKey(key: string): void {
  if (!/^[0-9a-f]{16,64}$/.test(key)) throw new Error(`bad template key ${key}`);
}

function accessSyncOk(p: string): void {
  accessSync(p, constants.R_OK);
}
