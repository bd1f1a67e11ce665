/**
 * The control worker's side of segment upload (edge/upload): builds the Uploader from the
 * configuration's `upload` section, feeds it the catalog's closed segments, and turns what it
 * reports into audit records (verified, deleted locally, skipped; single failures only go to
 * the log and status: a link that is down would otherwise flood the audit log).
 * Errors: a missing or malformed credentials file is logged and leaves uploads off; the box
 * records as ever.
 */
import { readFileSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEntry } from '../audit/index.js';
import { CatalogError } from '../recording/index.js';
import { Uploader } from '../upload/index.js';
import type { WorkerContext } from '../runtime/index.js';
import type { Recordings } from './recordings.js';
import { uplinkLive } from './uplink-live.js';

export function startUploads(ctx: WorkerContext, rec: Recordings, audit: (e: AuditEntry) => void): Uploader | undefined {
  const cfg = ctx.config.upload;
  if (!cfg) return undefined;
  let credentials: { accessKeyId: string; secretAccessKey: string };
  let ca: string | undefined;
  try {
    if (cfg.s3.caFile) ca = readFileSync(cfg.s3.caFile, 'utf8');
    const file = cfg.s3.credentialsFile;
    if ((statSync(file).mode & 0o077) !== 0) ctx.log.warn({ file }, 'upload credentials file is readable by others than its owner');
    const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    if (typeof c.accessKeyId !== 'string' || typeof c.secretAccessKey !== 'string') throw new Error('needs {"accessKeyId": "...", "secretAccessKey": "..."}');
    credentials = { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey };
  } catch (err) {
    ctx.log.error({ file: cfg.s3.credentialsFile, ca: cfg.s3.caFile, err: (err as Error).message }, 'upload credentials or CA unreadable: uploads off');
    return undefined;
  }
  const dataDir = ctx.config.box.dataDir;
  const u = new Uploader({
    target: { endpoint: cfg.s3.endpoint, bucket: cfg.s3.bucket, region: cfg.s3.region, credentials, ca },
    prefix: cfg.prefix ?? `${ctx.config.box.id}/`,
    recordingsRoot: rec.root,
    journalPath: join(dataDir, 'upload', 'uploads.db'),
    partBytes: cfg.partMiB * 1024 * 1024,
    maxKbps: cfg.maxKbps,
    keepLocalHours: cfg.keepLocalHours,
    minFreeBytes: cfg.minFreeMiB * 1024 * 1024,
    freeBytes: async () => { const s = statfsSync(dataDir); return s.bavail * s.bsize; },
    candidates: () => {
      try {
        return rec.catalog.segmentsInRange(0n, ctx.clock.wallNs() + 1n)
          .filter((s) => (s.state === 'closed' || s.state === 'recovered') && (s.bytes ?? 0) > 0)
          .map((s) => ({ path: s.path, bytes: s.bytes! }));
      } catch (err) {
        if (err instanceof CatalogError && err.code === 'not-open') return []; // control still starting
        throw err;
      }
    },
    gate: () => uploadGate(cfg.windows, cfg.pauseDuringUplink ? () => uplinkLive(rec) : () => false, new Date()),
    deleteUnuploadedWhenFull: cfg.deleteUnuploadedWhenFull,
    onEvent: (e) => {
      if (e.type === 'failed') return;
      if (e.type === 'alarm') {
        ctx.log.error({ reason: e.reason }, 'recording storage alarm');
        audit({ actor: 'box', from: 'upload', action: 'upload.alarm', outcome: 'alarm', detail: e.reason });
        return;
      }
      const detail = e.type === 'verified' ? `${e.bytes} bytes` : e.reason;
      audit({ actor: 'box', from: 'upload', action: `upload.${e.type === 'deleted' ? 'deleted-local' : e.type}`, target: e.key, outcome: e.type === 'skipped' ? 'failed' : 'finished', detail });
    },
    log: ctx.log,
  });
  u.start();
  return u;
}

/** `HH:MM-HH:MM` in the box's local time; a window may cross midnight (`19:00-07:00`). */
export function inWindow(w: string, at: Date): boolean {
  const m = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/.exec(w);
  if (!m) return false;
  const from = +m[1]! * 60 + +m[2]!, to = +m[3]! * 60 + +m[4]!;
  const now = at.getHours() * 60 + at.getMinutes();
  return from <= to ? now >= from && now < to : now >= from || now < to;
}

/** Why uploads wait now, or null (edge/upload's gate). */
export function uploadGate(windows: readonly string[], uplinkLive: () => boolean, at: Date): string | null {
  if (windows.length && !windows.some((w) => inWindow(w, at))) return `outside the upload windows ${windows.join(', ')}`;
  if (uplinkLive()) return 'an expert is receiving the live uplink';
  return null;
}
