import { spawn, spawnSync } from 'node:child_process';
import { openSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { FcmError } from '../../core/errors.js';
import type { Logger } from '../../log.js';

/**
 * Templates' RAM images, each loaded once into a sealed memfd that every
 * machine restored from the template maps privately (copy-on-write): the
 * pages the template guest wrote are in host memory once, however many
 * clones read them; a clone's own writes go to pages of its own.
 *
 * Why a memfd and not the file itself: QEMU 7.2 opens a memory-backend-file
 * O_RDWR even for a private mapping, so the file would have to be writable
 * by every VM's uid — and a private mapping still shows later writes to
 * pages it has not copied, so one compromised QEMU could change what every
 * other clone reads. A memfd with F_SEAL_WRITE|F_SEAL_SHRINK|F_SEAL_GROW|
 * F_SEAL_SEAL can be opened read-write yet refuses write(), shared writable
 * mappings, truncation and hole punching to everyone, root included.
 *
 * Node cannot create memfds: a small Python helper (Debian's python3) makes
 * one, copies the image's data extents into it (the image is sparse: the
 * template's zero pages cost nothing), seals it and waits; the daemon opens
 * it through /proc/<helper>/fd and lets the helper go. The daemon's fd
 * keeps it alive; each QEMU inherits a copy (qemu-argv.ts TEMPLATE_RAM_FD),
 * so running clones keep it alive after the daemon drops it.
 */
const HELPER = String.raw`
import fcntl, os, sys
src, size = sys.argv[1], int(sys.argv[2])
s = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
end = os.fstat(s).st_size
if end > size:
    sys.exit("the RAM image is larger than the machine's memory")
fd = os.memfd_create("fcm-template-ram", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
os.ftruncate(fd, size)
off = 0
while off < end:
    try:
        data = os.lseek(s, off, os.SEEK_DATA)
    except OSError:
        break
    hole = os.lseek(s, data, os.SEEK_HOLE)
    while data < hole:
        buf = os.pread(s, min(hole - data, 1 << 20), data)
        if not buf:
            sys.exit("the RAM image shrank while it was read")
        os.pwrite(fd, buf, data)
        data += len(buf)
    off = hole
fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
print(os.getpid(), fd, flush=True)
sys.stdin.read()
`;

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Why templates' RAM cannot be shared on this host (null: it can): the helper needs python3 with
 * memfd_create and file seals. Checked once at start-up, so a host without it restores by copy
 * instead of building templates it cannot restore.
 */
export function templateRamUnusable(python = 'python3'): string | null {
  const r = spawnSync(python, ['-c', 'import os, fcntl; os.memfd_create; fcntl.F_ADD_SEALS; fcntl.F_SEAL_WRITE'], { env: { PATH: SYSTEM_PATH }, timeout: 10_000, encoding: 'utf8' });
  if (r.error) return `${python} cannot run (${r.error.message})`;
  if (r.status !== 0) return `${python} lacks memfd_create or file seals (${(r.stderr ?? '').trim().split('\n').pop()})`;
  return null;
}

interface Loaded {
  ino: number;
  mtimeMs: number;
  size: number;
  fh: FileHandle;
}

export class TemplateRam {
  private readonly loaded = new Map<string, Loaded>();
  private readonly loading = new Map<string, Promise<Loaded>>();

  constructor(
    private readonly log: Logger,
    private readonly python = 'python3',
    private readonly env: NodeJS.ProcessEnv = { PATH: SYSTEM_PATH },
  ) {}

  /**
   * A new read-only fd (the caller closes it) of the sealed memfd holding the RAM image at `path`
   * for a machine of `sizeBytes` RAM, loaded on first use and again when the file was replaced.
   */
  async open(path: string, sizeBytes: number): Promise<number> {
    const st = await stat(path).catch(() => null);
    if (!st?.isFile()) throw new FcmError('hypervisor_failed', `the template RAM image ${path} is missing`);
    const fresh = (l: Loaded | undefined): l is Loaded => !!l && l.ino === st.ino && l.mtimeMs === st.mtimeMs && l.size === sizeBytes;
    let l = this.loaded.get(path);
    if (!fresh(l)) {
      let p = this.loading.get(path);
      if (!p) {
        p = this.load(path, sizeBytes, st.ino, st.mtimeMs).finally(() => this.loading.delete(path));
        this.loading.set(path, p);
        const next = await p;
        const old = this.loaded.get(path);
        this.loaded.set(path, next);
        if (old && old !== next) void old.fh.close().catch(() => {});
        void this.prune();
      } else {
        await p;
      }
      l = this.loaded.get(path);
      if (!fresh(l)) throw new FcmError('hypervisor_failed', `the template RAM image ${path} changed while it was loaded`);
    }
    // Synchronously, with no await since the lookup: the cached fd cannot have been closed in between.
    return openSync(`/proc/self/fd/${l.fh.fd}`, 'r');
  }

  /** Drops every memfd (running machines keep theirs). */
  async close(): Promise<void> {
    for (const l of this.loaded.values()) await l.fh.close().catch(() => {});
    this.loaded.clear();
  }

  /** Memfds of images that were removed or replaced (a template thrown away) are dropped. */
  private async prune(): Promise<void> {
    for (const [path, l] of this.loaded) {
      const st = await stat(path).catch(() => null);
      if (!st || st.ino !== l.ino || st.mtimeMs !== l.mtimeMs) {
        this.loaded.delete(path);
        await l.fh.close().catch(() => {});
      }
    }
  }

  private async load(path: string, sizeBytes: number, ino: number, mtimeMs: number): Promise<Loaded> {
    const started = Date.now();
    const child = spawn(this.python, ['-c', HELPER, path, String(sizeBytes)], { stdio: ['pipe', 'pipe', 'pipe'], env: this.env });
    const exited = new Promise<string>((resolve) => {
      child.once('error', (e) => resolve(e.message));
      child.once('exit', (code, sig) => resolve(sig ?? `exit ${code}`));
    });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
    child.stdin!.on('error', () => {});
    try {
      const line = await Promise.race([
        new Promise<string>((resolve) => {
          const check = () => (out.includes('\n') ? resolve(out) : undefined);
          child.stdout!.on('data', check);
        }),
        exited.then((why) => Promise.reject(new Error(`${why}: ${err.trim().split('\n').pop() ?? ''}`))),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), 120_000).unref()),
      ]);
      const m = /^(\d+) (\d+)\n/.exec(line);
      if (!m) throw new Error(`unexpected answer ${JSON.stringify(line.slice(0, 80))}`);
      // The helper is our child and still waiting on stdin, so /proc/<pid> is it; opening its fd re-opens the memfd.
      const fh = await open(`/proc/${m[1]}/fd/${m[2]}`, 'r');
      this.log.info({ path, ms: Date.now() - started }, 'template RAM image loaded (sealed, shared copy-on-write)');
      return { ino, mtimeMs, size: sizeBytes, fh };
    } catch (e) {
      child.kill('SIGKILL');
      throw new FcmError('hypervisor_failed', `cannot load the template RAM image ${path}: ${(e as Error).message}`);
    } finally {
      child.stdin!.end();
      await exited;
    }
  }
}
