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
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import {
  BACKUP_FORMAT,
  BACKUP_VERSION,
  invalid,
  MAX_JSON_MEMBER_BYTES,
  MEMBERS,
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
import type { DiskArchive, ImportStaging } from './ports/disk-archive.js';
import type { EnvStore, ReleaseRecord, ReleaseStore } from './ports/releases.js';
import type { VmService } from './vm-service.js';
import type { QuotaService } from './quotas.js';

export interface BackupServiceDeps {
  vms: Pick<VmService, 'get' | 'quiet' | 'createWithDisks' | 'delete'>;
  archive: DiskArchive;
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

  async export(p: Principal, name: string): Promise<ExportedBackup> {
    const started = this.d.now();
    const { vm, disk } = await this.d.vms.quiet(p, name, async (vm) => ({ vm, disk: await this.d.archive.exportRoot(vm.id) }));
    try {
      const env = Buffer.from(JSON.stringify({ vars: this.d.env.get(vm.id) }));
      const releases = Buffer.from(JSON.stringify({ releases: this.d.releases.list(vm.id).reverse().map(archived) }));
      const members: BackupMember[] = [
        { name: 'disk.qcow2', bytes: disk.bytes, sha256: disk.sha256 },
        { name: 'config.json', bytes: env.length, sha256: sha256Hex(env) },
        { name: 'releases.json', bytes: releases.length, sha256: sha256Hex(releases) },
      ];
      const manifest: BackupManifest = {
        format: BACKUP_FORMAT,
        version: BACKUP_VERSION,
        createdAt: new Date(this.d.now()).toISOString(),
        vm: { name: vm.name, vcpus: vm.vcpus, memoryMib: vm.memoryMib, diskMib: vm.diskMib, swapMib: vm.swapMib, port: vm.port, image: vm.image, sleepAfterSec: vm.sleepAfterSec },
        members,
      };
      const mbytes = Buffer.from(JSON.stringify(manifest, null, 2));
      const digest = Buffer.from(`${sha256Hex(mbytes)}\n`);
      const mtime = Math.floor(this.d.now() / 1000);
      const sizeOf = (n: number) => 512 + n + tarPadding(n).length;
      const bytes = sizeOf(mbytes.length) + sizeOf(disk.bytes) + sizeOf(env.length) + sizeOf(releases.length) + sizeOf(digest.length) + TAR_END.length;
      const log = this.d.log.child({ vmId: vm.id, vm: vm.name });
      log.info({ diskBytes: disk.bytes, archiveBytes: bytes, copyMs: this.d.now() - started }, 'backup export: disk copied; streaming');
      async function* stream(): AsyncGenerator<Buffer> {
        try {
          yield Buffer.concat([tarHeader('manifest.json', mbytes.length, mtime), mbytes, tarPadding(mbytes.length)]);
          yield tarHeader('disk.qcow2', disk.bytes, mtime);
          for await (const c of disk.read()) yield c;
          yield tarPadding(disk.bytes);
          for (const [n, b] of [['config.json', env], ['releases.json', releases], ['manifest.sha256', digest]] as const) {
            yield Buffer.concat([tarHeader(n, b.length, mtime), b, tarPadding(b.length)]);
          }
          yield TAR_END;
          log.info({ archiveBytes: bytes, ms: Date.now() - started }, 'backup exported');
        } finally {
          await disk.remove();
        }
      }
      return { filename: `${vm.name}-${new Date(this.d.now()).toISOString().replace(/[:.]/g, '-')}.fcm-backup`, bytes, stream: stream() };
    } catch (e) {
      await disk.remove();
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
      const vm = await this.d.vms.createWithDisks(
        p,
        { name, vcpus: m.vcpus, memoryMib: m.memoryMib, diskMib: m.diskMib, swapMib: m.swapMib, port: m.port, image: m.image, sleepAfterSec: m.sleepAfterSec },
        (vmId, seed) => this.d.archive.importRoot(vmId, staging, { diskMib: m.diskMib, swapMib: m.swapMib }, seed),
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
      this.d.log.info({ vmId: vm.id, vm: vm.name, from: m.name, releases: releases.length, ms: this.d.now() - started }, 'backup imported');
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
      if (want.name === 'disk.qcow2') {
        const sink = await staging.openDisk();
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
    if ((await tar.next()) !== null) throw invalid(`it holds members beyond ${[...MEMBERS, 'manifest.sha256'].join(', ')}`);
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
