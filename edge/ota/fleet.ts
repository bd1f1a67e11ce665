/**
 * The OTA agent on the fleet link: `otaJob` / `otaCancel` commands in, `ota.job` events out.
 *
 * A job command is acknowledged FINISHED once the job is in the box's job store (details: job,
 * status), INVALID when its document is malformed; everything after that travels as `ota.job`
 * events through the link's on-disk outbox (at-least-once, in order, across reconnects and
 * restarts), fields: job, status, step, percent, version. The console folds them per job.
 */
import type { CommandBody, FleetLink } from '../fleet/index.js';
import type { JobReport, OtaAgent } from './agent.js';

export const OTA_EVENT_KIND = 'ota.job';

/** Handles an OTA command body; undefined for any other kind (the caller's router takes it). */
export interface OtaCommandResult {
  state: 'finished' | 'failed' | 'invalid';
  message: string;
  details?: Record<string, string>;
}

export function handleOtaCommand(agent: OtaAgent, body: CommandBody): OtaCommandResult | undefined {
  if (body.kind === 'otaJob') {
    try {
      const job = agent.submit({ jobId: body.jobId, url: body.url, sha256: body.sha256, sizeBytes: body.sizeBytes, version: body.version, force: body.force, timeoutS: body.timeoutS });
      return { state: 'finished', message: `job ${job.jobId} ${job.status}`, details: { job: job.jobId, status: job.status } };
    } catch (err) {
      return { state: 'invalid', message: (err as Error).message };
    }
  }
  if (body.kind === 'otaCancel') {
    const r = agent.cancel(body.jobId);
    return { state: r.ok ? 'finished' : 'failed', message: r.message, details: { job: body.jobId } };
  }
  return undefined;
}

/** The report sink that sends a job's changes as events (queued on disk while offline). */
export function fleetReporter(link: FleetLink): (r: JobReport) => void {
  return (r) => {
    const severity = r.status === 'FAILED' || r.status === 'TIMED_OUT' ? 'error' : r.status === 'REJECTED' ? 'warning' : 'info';
    link.publishEvent(OTA_EVENT_KIND, r.message, { severity, fields: { job: r.jobId, status: r.status, step: r.step, percent: String(r.percent), version: r.version } });
  };
}

/** A job's state as the console rebuilds it from `ota.job` event fields. */
export interface JobProgress {
  job: string;
  status: string;
  step: string;
  percent: number;
  version: string;
  message: string;
}

export function jobProgressOf(fields: Record<string, string>, message: string): JobProgress | undefined {
  if (!fields.job || !fields.status) return undefined;
  return { job: fields.job, status: fields.status, step: fields.step ?? '', percent: Number(fields.percent ?? 0), version: fields.version ?? '', message };
}
