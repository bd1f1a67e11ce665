/**
 * OTA jobs after AWS IoT Jobs: the job document, its status and step, and the on-disk store that
 * keeps them across restarts, power cuts and offline periods.
 *
 * Status (what the console sees): QUEUED -> IN_PROGRESS -> SUCCEEDED | FAILED | TIMED_OUT;
 * REJECTED (refused before anything was written: bad signature, wrong compatible, older version,
 * malformed); CANCELED (by the console, before the install began). Step (where an IN_PROGRESS
 * job is, what a restart resumes from): downloading -> installing -> rebooting -> verifying,
 * or rolling-back after a bad health verdict.
 *
 * The store is one JSON file replaced atomically (write temp, fsync, rename), so a power cut
 * leaves the old or the new file, never half of one. It keeps every unfinished job and the last
 * KEEP_FINISHED finished ones. Errors: a corrupt file throws OtaStoreError naming it.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export const JOB_STATUSES = ['QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED', 'TIMED_OUT', 'CANCELED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_JOB_STATUSES: ReadonlySet<JobStatus> = new Set(['SUCCEEDED', 'FAILED', 'REJECTED', 'TIMED_OUT', 'CANCELED']);

export type JobStep = 'queued' | 'waiting' | 'downloading' | 'installing' | 'rebooting' | 'verifying' | 'rolling-back' | 'done';

/** What the console sends (edge/proto/fleet.proto OtaJob). */
export interface JobDocument {
  jobId: string;
  url: string;
  sha256: string;
  /** 0 = unknown. */
  sizeBytes: number;
  /** The version the console says the bundle holds; the bundle's own manifest is what counts. */
  version: string;
  /** Install while a case records, reboot at once, accept an older version. */
  force: boolean;
  /** Time from queueing to the start of the install, s; 0 = the agent's default. */
  timeoutS: number;
}

export interface Job extends JobDocument {
  status: JobStatus;
  step: JobStep;
  percent: number;
  /** The latest step message (RAUC's progress text) or the reason of a final state. */
  message: string;
  queuedAtMs: number;
  updatedAtMs: number;
  /** Version running when the job started. */
  fromVersion?: string;
  /** RAUC slot the bundle went to (rootfs.1) and its bootname (B). */
  targetSlot?: string;
  targetBootname?: string;
  installAttempts: number;
  installStartedAtMs?: number;
}

export class OtaStoreError extends Error {
  override readonly name = 'OtaStoreError';
}

const KEEP_FINISHED = 20;
export const JOB_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
export const VERSION_RE = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

/** Throws RangeError naming the first bad field. */
export function validateJobDocument(d: JobDocument): void {
  if (!JOB_ID_RE.test(d.jobId)) throw new RangeError(`job id must be 1..64 of [A-Za-z0-9._-], not ${JSON.stringify(d.jobId)}`);
  if (!/^https:\/\//.test(d.url)) throw new RangeError(`job ${d.jobId}: url must be https://, not ${JSON.stringify(d.url)}`);
  if (!/^[0-9a-f]{64}$/.test(d.sha256)) throw new RangeError(`job ${d.jobId}: sha256 must be 64 lower-case hex digits`);
  if (!VERSION_RE.test(d.version)) throw new RangeError(`job ${d.jobId}: version must be x.y.z[-pre], not ${JSON.stringify(d.version)}`);
  if (!Number.isInteger(d.sizeBytes) || d.sizeBytes < 0) throw new RangeError(`job ${d.jobId}: size_bytes must be a non-negative integer`);
}

/** Semantic-version order (pre-releases before their release); -1, 0, 1. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core, pre] = v.split('-', 2) as [string, string | undefined];
    return { n: core.split('.').map(Number), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if ((x.n[i] ?? 0) !== (y.n[i] ?? 0)) return (x.n[i] ?? 0) < (y.n[i] ?? 0) ? -1 : 1;
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

export class JobStore {
  private jobs: Job[] = [];

  constructor(readonly path: string) {
    if (!path) throw new RangeError('JobStore: path is required');
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path)) {
      try {
        const o = JSON.parse(readFileSync(path, 'utf8')) as { jobs: Job[] };
        if (!Array.isArray(o.jobs)) throw new Error('no jobs array');
        this.jobs = o.jobs;
      } catch (err) {
        throw new OtaStoreError(`OTA job store ${path} is unreadable: ${(err as Error).message}`);
      }
    }
  }

  all(): readonly Job[] {
    return this.jobs;
  }

  get(id: string): Job | undefined {
    return this.jobs.find((j) => j.jobId === id);
  }

  /** The job being worked on, or else the oldest queued one. */
  next(): Job | undefined {
    return this.jobs.find((j) => j.status === 'IN_PROGRESS') ?? this.jobs.find((j) => j.status === 'QUEUED');
  }

  /** The most recently updated job. */
  last(): Job | undefined {
    return [...this.jobs].sort((a, b) => b.updatedAtMs - a.updatedAtMs)[0];
  }

  add(job: Job): void {
    if (this.get(job.jobId)) throw new OtaStoreError(`job ${job.jobId} is already known`);
    this.jobs.push(job);
    this.save();
  }

  update(job: Job, patch: Partial<Job>, now: number): Job {
    Object.assign(job, patch, { updatedAtMs: now });
    this.save();
    return job;
  }

  private save(): void {
    const done = this.jobs.filter((j) => TERMINAL_JOB_STATUSES.has(j.status));
    if (done.length > KEEP_FINISHED) {
      const drop = new Set(done.sort((a, b) => a.updatedAtMs - b.updatedAtMs).slice(0, done.length - KEEP_FINISHED));
      this.jobs = this.jobs.filter((j) => !drop.has(j));
    }
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify({ version: 1, jobs: this.jobs }, null, 1));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
