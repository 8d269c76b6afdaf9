/**
 * Backups (#16): a VM out as a portable archive (core/backup-archive.ts),
 * and an archive in as a new VM — on this host or another.
 *
 * Export: under the VM's lock with its disk at rest (a running VM is put to
 * sleep first), the root disk is copied out standalone (DiskArchive); the
 * lock is then released and the archive streams from that copy, which is
 * deleted when the stream ends, however it ends.
 *
 * Import: every member is streamed into a private staging area and checked
 * (sizes and SHA-256 against the manifest, the manifest against its own
 * digest, the disk image itself) before anything else exists; only a wholly
 * good archive becomes a VM (VmService.createWithDisks: row, disks, tap,
 * process — all or nothing), then its config vars and releases are written.
 * A failure at any point removes what was made and the staging.
 *
 * With memory (`withMemory`, archive version 2): the export also carries the
 * sleep save taken with the disk (memory.bin: the machine's memory + device
 * state). Just before that save the guest's identity watch is armed (agent
 * POST /v1/identity/watch, as for a fork's capture; the exported VM disarms
 * it when it wakes), so a copy resumed with a seed of its own takes that
 * seed's identity — address, MAC, hostname, machine-id, agent token, entropy
 * — instead of coming back as the exported VM. The import checks memory.bin
 * like every member and, when this host can load it (same hypervisor, the
 * VM's shape, the same image build, the watch armed, no swap disk — the
 * archive does not carry swapped-out pages), resumes it as the new VM on its
 * own disks, seed, tap and MAC, and waits until it answers as that VM
 * (VmLifecycle.createWithDisks). Otherwise, or when the resume fails, the new
 * VM cold-boots from the imported disk and its lastError says why.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import {
  BACKUP_FORMAT,
  BACKUP_VERSION,
  invalid,
  type ArchivedMemory,
  MAX_JSON_MEMBER_BYTES,
  parseManifest,
  sha256Hex,
  TAR_END,
  tarHeader,
  tarPadding,
  TarReader,
  type ArchivedRelease,
  type BackupManifest,
  type BackupMember,
} from './backup-archive.js';
import { FcmError } from './errors.js';
import type { Principal, VmRecord } from './model.js';
import type { DiskArchive, ExportedDisk, ImportStaging } from './ports/disk-archive.js';
import type { Images } from './ports/images.js';
import type { SavedStates } from './ports/saved-states.js';
import { SLEEP_SAVE } from './vm-lifecycle.js';
import type { EnvStore, ReleaseRecord, ReleaseStore } from './ports/releases.js';
import type { VmService } from './vm-service.js';
import type { QuotaService } from './quotas.js';

export interface BackupServiceDeps {
  vms: Pick<VmService, 'get' | 'quiet' | 'createWithDisks' | 'delete'>;
  archive: DiskArchive;
  /** Sleep saves (the memory an export --with-memory carries); absent: --with-memory is not_implemented. */
  saved?: Pick<SavedStates, 'open'>;
  /** What an imported memory state is compared with: this host's hypervisor and images. */
  hypervisorKind: string;
  images: Pick<Images, 'resolve'>;
  releases: ReleaseStore;
  env: EnvStore;
  quotas?: Pick<QuotaService, 'checkConfig'>;
  /** The largest disk member an import takes (FCM_BACKUP_MAX_MIB). */
  maxDiskBytes: number;
  log: Logger;
  now: () => number;
}

export interface ExportedBackup {
  filename: string;
  /** The archive's total size in bytes (its Content-Length). */
  bytes: number;
  stream: AsyncIterable<Buffer>;
}

export class BackupService {
  constructor(private readonly d: BackupServiceDeps) {}

  async export(p: Principal, name: string, opts: { withMemory?: boolean } = {}): Promise<ExportedBackup> {
    const started = this.d.now();
    const saved = this.d.saved;
    if (opts.withMemory && !saved) throw new FcmError('not_implemented', `VM "${name}" cannot be exported with its memory: this host's hypervisor cannot save machines.`);
    // Both copies are made under the VM's lock, while the save and the disk are of one instant (a wake drops the save).
    const { vm, disk, memory } = await this.d.vms.quiet(
      p,
      name,
      async (vm) => {
      let mem: { file: ExportedDisk; meta: ArchivedMemory } | null = null;
      if (opts.withMemory) {
        const save = vm.state === 'sleeping' ? await saved!.open(vm.id, SLEEP_SAVE) : null;
        if (!save) throw new FcmError('invalid_state', `VM "${vm.name}" is ${vm.state}: it has no memory state to export (only a running or sleeping VM has). Export it without --with-memory.`);
        const spec = save.meta.spec;
        const meta: ArchivedMemory = {
          hypervisor: vm.hypervisor,
          vcpus: spec.vcpus,
          memoryMib: spec.memoryMib,
          imageBuild: imageBuild(vm.imageDir),
          savedAt: save.meta.savedAt,
          identityWatch: save.meta.identityWatch === true,
          namedRam: spec.memory !== undefined,
        };
        mem = { file: await this.d.archive.exportFile(vm.id, save.statePath), meta };
      }
      try {
        return { vm, disk: await this.d.archive.exportRoot(vm.id), memory: mem };
      } catch (e) {
        await mem?.file.remove();
        throw e;
      }
      },
      { identityWatch: opts.withMemory === true },
    );
    try {
      const env = Buffer.from(JSON.stringify({ vars: this.d.env.get(vm.id) }));
      const releases = Buffer.from(JSON.stringify({ releases: this.d.releases.list(vm.id).reverse().map(archived) }));
      const members: BackupMember[] = [
        { name: 'disk.qcow2', bytes: disk.bytes, sha256: disk.sha256 },
        ...(memory ? [{ name: 'memory.bin' as const, bytes: memory.file.bytes, sha256: memory.file.sha256 }] : []),
        { name: 'config.json', bytes: env.length, sha256: sha256Hex(env) },
        { name: 'releases.json', bytes: releases.length, sha256: sha256Hex(releases) },
      ];
      const manifest: BackupManifest = {
        format: BACKUP_FORMAT,
        version: BACKUP_VERSION,
        createdAt: new Date(this.d.now()).toISOString(),
        vm: { name: vm.name, vcpus: vm.vcpus, memoryMib: vm.memoryMib, diskMib: vm.diskMib, swapMib: vm.swapMib, port: vm.port, image: vm.image, sleepAfterSec: vm.sleepAfterSec },
        members,
        ...(memory ? { memory: memory.meta } : {}),
      };
      const mbytes = Buffer.from(JSON.stringify(manifest, null, 2));
      const digest = Buffer.from(`${sha256Hex(mbytes)}\n`);
      const mtime = Math.floor(this.d.now() / 1000);
      const sizeOf = (n: number) => 512 + n + tarPadding(n).length;
      const bytes =
        sizeOf(mbytes.length) + sizeOf(disk.bytes) + (memory ? sizeOf(memory.file.bytes) : 0) + sizeOf(env.length) + sizeOf(releases.length) + sizeOf(digest.length) + TAR_END.length;
      const log = this.d.log.child({ vmId: vm.id, vm: vm.name });
      log.info({ diskBytes: disk.bytes, memoryBytes: memory?.file.bytes ?? null, archiveBytes: bytes, copyMs: this.d.now() - started }, 'backup export: disk copied; streaming');
      async function* stream(): AsyncGenerator<Buffer> {
        try {
          yield Buffer.concat([tarHeader('manifest.json', mbytes.length, mtime), mbytes, tarPadding(mbytes.length)]);
          yield tarHeader('disk.qcow2', disk.bytes, mtime);
          for await (const c of disk.read()) yield c;
          yield tarPadding(disk.bytes);
          if (memory) {
            yield tarHeader('memory.bin', memory.file.bytes, mtime);
            for await (const c of memory.file.read()) yield c;
            yield tarPadding(memory.file.bytes);
          }
          for (const [n, b] of [['config.json', env], ['releases.json', releases], ['manifest.sha256', digest]] as const) {
            yield Buffer.concat([tarHeader(n, b.length, mtime), b, tarPadding(b.length)]);
          }
          yield TAR_END;
          log.info({ archiveBytes: bytes, ms: Date.now() - started }, 'backup exported');
        } finally {
          await disk.remove();
          await memory?.file.remove();
        }
      }
      return { filename: `${vm.name}-${new Date(this.d.now()).toISOString().replace(/[:.]/g, '-')}.fcm-backup`, bytes, stream: stream() };
    } catch (e) {
      await disk.remove();
      await memory?.file.remove();
      throw e;
    }
  }

  async import(p: Principal, body: AsyncIterable<Buffer | string>, opts: { name?: string }): Promise<VmRecord> {
    const started = this.d.now();
    const staging = await this.d.archive.staging();
    try {
      const { manifest, env, releases } = await this.readArchive(p, body, staging, opts);
      const m = manifest.vm;
      const name = opts.name ?? m.name;
      const blocker = manifest.memory ? this.memoryBlocker(manifest) : null;
      const statePath = staging.memoryPath();
      const coldBecause = blocker ? `its memory state was not resumed: ${blocker}` : null;
      const vm = await this.d.vms.createWithDisks(
        p,
        { name, vcpus: m.vcpus, memoryMib: m.memoryMib, diskMib: m.diskMib, swapMib: m.swapMib, port: m.port, image: m.image, sleepAfterSec: m.sleepAfterSec },
        (vmId, seed) => this.d.archive.importRoot(vmId, staging, { diskMib: m.diskMib, swapMib: m.swapMib }, seed),
        coldBecause ? `imported by a cold boot: ${coldBecause}` : null,
        manifest.memory && !blocker && statePath ? { statePath, namedRam: manifest.memory.namedRam === true } : null,
      );
      try {
        this.d.env.put(vm.id, env);
        for (const r of releases) this.restoreRelease(vm.id, r);
      } catch (e) {
        this.d.env.removeVm(vm.id);
        this.d.releases.removeVm(vm.id);
        await this.d.vms.delete(p, vm.name).catch(() => {});
        throw e;
      }
      const resumed = !!manifest.memory && !(vm.lastError ?? '').startsWith('imported by a cold boot');
      this.d.log.info(
        { vmId: vm.id, vm: vm.name, from: m.name, releases: releases.length, memory: manifest.memory ? (resumed ? 'resumed' : 'cold') : null, why: resumed ? null : vm.lastError, ms: this.d.now() - started },
        'backup imported',
      );
      return vm;
    } finally {
      await staging.remove();
    }
  }

  /** Reads and checks the whole archive into `staging`; answers what the VM is made from. */
  private async readArchive(
    p: Principal,
    body: AsyncIterable<Buffer | string>,
    staging: ImportStaging,
    opts: { name?: string },
  ): Promise<{ manifest: BackupManifest; env: Record<string, string>; releases: ArchivedRelease[] }> {
    const tar = new TarReader(body);
    const first = await tar.next();
    if (!first || first.name !== 'manifest.json') throw invalid('it does not start with manifest.json (not an fcm backup)');
    const mbytes = await tar.small(first.size, MAX_JSON_MEMBER_BYTES, 'manifest.json');
    const manifest = parseManifest(mbytes, this.d.maxDiskBytes);
    // Refused before the disk is read, when the name is already someone's.
    const name = opts.name ?? manifest.vm.name;
    try {
      this.d.vms.get(p, name);
      throw new FcmError('name_taken', `A VM named "${name}" already exists: import with --name <new-name>.`);
    } catch (e) {
      if (!(e instanceof FcmError) || e.code !== 'vm_not_found') throw e;
    }
    const smalls = new Map<string, Buffer>();
    for (const want of manifest.members) {
      const h = await tar.next();
      if (!h || h.name !== want.name) throw invalid(`${want.name} is missing (truncated, or members out of order)`);
      if (h.size !== want.bytes) throw invalid(`${want.name} is ${h.size} bytes, the manifest says ${want.bytes}`);
      const hash = createHash('sha256');
      if (want.name === 'memory.bin' && this.memoryBlocker(manifest) !== null) {
        // Checked like every member (a damaged one refuses the whole archive), then dropped: it cannot be resumed here.
        await tar.content(h.size, (c) => void hash.update(c));
      } else if (want.name === 'memory.bin' || want.name === 'disk.qcow2') {
        const sink = await (want.name === 'memory.bin' ? staging.openMemory() : staging.openDisk());
        try {
          await tar.content(h.size, async (c) => {
            hash.update(c);
            await sink.write(c);
          });
        } finally {
          await sink.close();
        }
      } else {
        const b = await tar.small(h.size, MAX_JSON_MEMBER_BYTES, want.name);
        hash.update(b);
        smalls.set(want.name, b);
      }
      if (hash.digest('hex') !== want.sha256) throw invalid(`${want.name} does not match its SHA-256 in the manifest (damaged)`);
    }
    const last = await tar.next();
    if (!last || last.name !== 'manifest.sha256') throw invalid('manifest.sha256 is missing (truncated)');
    const digest = (await tar.small(last.size, 128, 'manifest.sha256')).toString('ascii').trim();
    if (digest !== sha256Hex(mbytes)) throw invalid('manifest.json does not match manifest.sha256 (damaged)');
    if ((await tar.next()) !== null) throw invalid(`it holds members beyond ${[...manifest.members.map((x) => x.name), 'manifest.sha256'].join(', ')}`);
    await tar.end();
    const env = parseJson(smalls.get('config.json')!, 'config.json') as { vars?: unknown };
    const vars = env.vars as Record<string, unknown> | null | undefined;
    if (!vars || typeof vars !== 'object' || Array.isArray(vars) || !Object.entries(vars).every(([k, v]) => ENV_KEY.test(k) && typeof v === 'string')) throw invalid('config.json holds no config vars (or a malformed one)');
    const rels = (parseJson(smalls.get('releases.json')!, 'releases.json') as { releases?: unknown }).releases;
    if (!Array.isArray(rels) || !rels.every(isArchivedRelease)) throw invalid('releases.json holds no release list');
    (rels as ArchivedRelease[]).forEach((r, i) => {
      if (r.version !== i + 1) throw invalid('releases.json must list versions 1, 2, 3… in order');
    });
    this.d.quotas?.checkConfig(p.userId, {}, vars as Record<string, string>);
    return { manifest, env: vars as Record<string, string>, releases: rels as ArchivedRelease[] };
  }

  /** Why the archive's memory state cannot be resumed here (what differs first), or null when it can be tried. */
  private memoryBlocker(manifest: BackupManifest): string | null {
    const mem = manifest.memory!;
    if (!this.d.saved) return `this host's ${this.d.hypervisorKind} driver cannot restore machines`;
    if (mem.hypervisor !== this.d.hypervisorKind) return `it was saved by ${mem.hypervisor}, and this host runs ${this.d.hypervisorKind}`;
    if (mem.vcpus !== manifest.vm.vcpus || mem.memoryMib !== manifest.vm.memoryMib) return `it is of a machine of ${mem.vcpus} vCPU and ${mem.memoryMib} MiB, not the VM's size`;
    const here = imageBuild(this.d.images.resolve(manifest.vm.image).dir);
    if (mem.imageBuild !== here) return `it was saved on image build ${mem.imageBuild}, and this host has ${here}`;
    if (mem.identityWatch !== true) {
      return (
        'it was saved without the guest\'s identity watch (an older daemon), so a resumed guest would keep the exported VM\'s identity ' +
        '(address, MAC, hostname, machine-id, agent token, random state); it cold-boots from the imported disk with its own'
      );
    }
    if (manifest.vm.swapMib > 0) return `the VM has a ${manifest.vm.swapMib} MiB swap disk, which the archive does not carry (pages swapped out would be lost)`;
    return null;
  }

  /** Releases are numbered by the store (1, 2, 3… per VM): inserted oldest first, each lands on its own version. */
  private restoreRelease(vmId: string, r: ArchivedRelease): void {
    const made = this.d.releases.create({
      vmId,
      status: 'pending',
      kind: r.kind as ReleaseRecord['kind'],
      commit: r.commit,
      description: r.description,
      buildpack: r.buildpack as ReleaseRecord['buildpack'],
      processes: r.processes,
      rollbackOf: r.rollbackOf,
      build: r.build,
    });
    if (made.version !== r.version) throw new Error(`release ${r.version} landed on version ${made.version}`);
    this.d.releases.update(vmId, made.version, { status: r.status as ReleaseRecord['status'], log: r.log, finishedAt: r.finishedAt });
  }
}

function archived(r: ReleaseRecord): ArchivedRelease {
  return {
    version: r.version,
    status: r.status,
    kind: r.kind,
    commit: r.commit,
    description: r.description,
    buildpack: r.buildpack,
    processes: r.processes,
    rollbackOf: r.rollbackOf,
    build: r.build,
    log: r.log,
    createdAt: r.createdAt,
    finishedAt: r.finishedAt,
  };
}

/** An image's build: the name of its inputs-hash directory (FileImages). */
function imageBuild(dir: string): string {
  return dir.replace(/\/+$/, '').split('/').at(-1) ?? dir;
}

function parseJson(b: Buffer, name: string): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    throw invalid(`${name} is not JSON`);
  }
}

/** openapi.yaml EnvKey. */
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const STATUSES = ['pending', 'building', 'succeeded', 'failed', 'superseded'];
const KINDS = ['deploy', 'rollback', 'config'];
const BUILDPACKS = ['python', 'ruby', 'node', 'none'];
const intOrNull = (v: unknown) => v === null || (typeof v === 'number' && Number.isInteger(v) && v > 0);
const strOrNull = (v: unknown) => v === null || typeof v === 'string';

function isArchivedRelease(x: unknown): boolean {
  const r = x as Record<string, unknown>;
  return (
    !!r &&
    typeof r === 'object' &&
    typeof r.version === 'number' &&
    STATUSES.includes(r.status as string) &&
    KINDS.includes(r.kind as string) &&
    strOrNull(r.commit) &&
    typeof r.description === 'string' &&
    (r.buildpack === null || BUILDPACKS.includes(r.buildpack as string)) &&
    !!r.processes &&
    typeof r.processes === 'object' &&
    Object.values(r.processes as object).every((v) => typeof v === 'string') &&
    intOrNull(r.rollbackOf) &&
    intOrNull(r.build) &&
    typeof r.log === 'string' &&
    strOrNull(r.finishedAt)
  );
}
