import type { FastifyInstance } from 'fastify';
import { BACKUP_MEDIA_TYPE } from '../../core/backup-archive.js';
import { FcmError } from '../../core/errors.js';
import type { BackupService } from '../../core/backups.js';
import { Readable } from 'node:stream';
import type { Handler } from '../server.js';
import { toApiVm, type VmView } from './vms.js';

/** Backup archives stream through untouched: the handler reads the request itself (bounded by the service). */
export function backupBodies(app: FastifyInstance): void {
  app.addContentTypeParser(BACKUP_MEDIA_TYPE, (_req, _payload, done) => done(null));
}

export function backupHandlers(backups: BackupService, view: VmView): Record<string, Handler> {
  return {
    exportBackup: async ({ principal, params, query, reply }) => {
      const b = await backups.export(principal, params.name, { withMemory: query.withMemory === true });
      reply
        .type(BACKUP_MEDIA_TYPE)
        .header('content-length', String(b.bytes))
        .header('content-disposition', `attachment; filename="${b.filename}"`)
        .header('cache-control', 'no-store');
      return reply.send(Readable.from(b.stream, { objectMode: false }));
    },
    importBackup: async ({ principal, query, req, reply }) => {
      // Another media type was parsed (and consumed) by its own parser: the archive is not there to read.
      const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== BACKUP_MEDIA_TYPE) throw new FcmError('unsupported_media_type', `Send the archive as ${BACKUP_MEDIA_TYPE} (fcm backup import does).`);
      const vm = await backups.import(principal, req.raw, query.name === undefined ? {} : { name: query.name });
      reply.code(201);
      return toApiVm(vm, view);
    },
  };
}
