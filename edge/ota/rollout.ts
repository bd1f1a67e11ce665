/**
 * Console side of OTA (issue 22): a phased rollout of one bundle to a list of boxes (a fleet
 * group) over the FleetConsole, in the manner of AWS IoT Jobs' rollout config and abort criteria.
 *
 * Waves: the first `firstWave` boxes get the job; the next wave (of `waveSize`, default the
 * rest) only starts when every box of the waves so far has finished, and only while the
 * failures so far (FAILED, TIMED_OUT, REJECTED, or no answer within `boxTimeoutMs`) are at most
 * `maxFailures`. Past the threshold the rollout stops: boxes not reached are `skipped`.
 * cancel() stops new waves and sends `otaCancel` to every box whose job has not finished; a box
 * that has not begun installing answers CANCELED, one already installing carries on (RAUC's
 * slot cannot be given back half-written).
 *
 * Progress: `onProgress(boxId, JobProgress)` for every `ota.job` event of this rollout's job ids.
 * Lifecycle: new Rollout(console, options) (validates) -> run() (once) -> result.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import type { FleetConsole, FleetEvent } from '../fleet/index.js';
import { OTA_EVENT_KIND, jobProgressOf, type JobProgress } from './fleet.js';
import { JOB_ID_RE, VERSION_RE } from './jobs.js';

export interface BundleRef {
  url: string;
  sha256: string;
  sizeBytes: number;
  version: string;
}

export interface RolloutOptions extends BundleRef {
  boxes: string[];
  /** Job ids are `<jobPrefix>-<boxId>`. */
  jobPrefix: string;
  force?: boolean;
  /** Boxes in the first wave. Default 1. */
  firstWave?: number;
  /** Boxes per later wave. Default: all the rest. */
  waveSize?: number;
  /** Failures tolerated before the rollout stops. Default 0. */
  maxFailures?: number;
  /** A box with no final state this long after its job was sent counts as failed, ms. Default 30 min. */
  boxTimeoutMs?: number;
  onProgress?: (boxId: string, p: JobProgress) => void;
}

export type BoxOutcome = 'SUCCEEDED' | 'FAILED' | 'REJECTED' | 'TIMED_OUT' | 'CANCELED' | 'skipped' | 'no answer';

export interface RolloutResult {
  outcomes: Record<string, { outcome: BoxOutcome; message: string }>;
  stopped: boolean;
  reason: string;
  failures: number;
}

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'REJECTED', 'TIMED_OUT', 'CANCELED']);
const FAILED = new Set(['FAILED', 'REJECTED', 'TIMED_OUT', 'no answer']);

/**
 * Describes a local bundle for a job: sha256, size and the version from its manifest (read with
 * `rauc info --no-verify`: the box verifies the signature). `url` is where the update server serves it.
 */
export function describeBundle(path: string, url: string): BundleRef {
  const buf = readFileSync(path);
  let info: { version?: string };
  try {
    info = JSON.parse(execFileSync('rauc', ['info', '--no-verify', '--output-format=json', path], { stdio: ['ignore', 'pipe', 'pipe'] }).toString()) as { version?: string };
  } catch (err) {
    throw new Error(`${path}: not a readable RAUC bundle (${((err as { stderr?: Buffer }).stderr?.toString() ?? String(err)).trim()})`);
  }
  return { url, sha256: createHash('sha256').update(buf).digest('hex'), sizeBytes: statSync(path).size, version: String(info.version ?? '') };
}

export class Rollout {
  private readonly o: Required<Omit<RolloutOptions, 'onProgress'>> & Pick<RolloutOptions, 'onProgress'>;
  private readonly latest = new Map<string, JobProgress>();
  private readonly sent = new Set<string>();
  private canceled = false;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly fc: FleetConsole, options: RolloutOptions) {
    this.o = { force: false, firstWave: 1, waveSize: 0, maxFailures: 0, boxTimeoutMs: 30 * 60_000, ...options };
    if (!this.o.boxes.length) throw new RangeError('rollout: no boxes');
    if (new Set(this.o.boxes).size !== this.o.boxes.length) throw new RangeError('rollout: a box is listed twice');
    if (!/^https:\/\//.test(this.o.url)) throw new RangeError(`rollout: the bundle URL must be https://, not ${this.o.url}`);
    if (!VERSION_RE.test(this.o.version)) throw new RangeError(`rollout: version must be x.y.z[-pre], not ${JSON.stringify(this.o.version)}`);
    if (!/^[0-9a-f]{64}$/.test(this.o.sha256)) throw new RangeError('rollout: sha256 must be 64 hex digits');
    if (!(this.o.firstWave >= 1)) throw new RangeError('rollout: firstWave must be >= 1');
    if (this.o.maxFailures < 0) throw new RangeError('rollout: maxFailures must be >= 0');
    for (const b of this.o.boxes) if (!JOB_ID_RE.test(this.jobId(b))) throw new RangeError(`rollout: job id ${this.jobId(b)} is not valid (prefix or box id)`);
  }

  jobId(boxId: string): string {
    return `${this.o.jobPrefix}-${boxId}`;
  }

  private onEvent = (boxId: string, e: FleetEvent): void => {
    if (e.kind !== OTA_EVENT_KIND || e.fields.job !== this.jobId(boxId) || !this.sent.has(boxId)) return;
    const p = jobProgressOf(e.fields, e.message);
    if (!p) return;
    const prev = this.latest.get(boxId);
    if (prev && FINAL.has(prev.status)) return; // at-least-once: a late duplicate never reopens a box
    this.latest.set(boxId, p);
    this.o.onProgress?.(boxId, p);
    this.wakeUp?.();
  };

  async run(): Promise<RolloutResult> {
    const outcomes: RolloutResult['outcomes'] = {};
    const sentAt = new Map<string, number>();
    this.fc.on('event', this.onEvent);
    let stopped = false;
    let reason = 'every box updated';
    try {
      const queue = [...this.o.boxes];
      let wave = queue.splice(0, this.o.firstWave);
      while (wave.length) {
        for (const b of wave) {
          this.sent.add(b);
          sentAt.set(b, Date.now());
          const ack = await this.fc.send(b, {
            kind: 'otaJob', jobId: this.jobId(b), url: this.o.url, sha256: this.o.sha256, sizeBytes: this.o.sizeBytes, version: this.o.version, force: this.o.force, timeoutS: 0,
          }, { timeoutMs: this.o.boxTimeoutMs }).catch((err: Error) => ({ state: 'failed' as const, message: err.message }));
          if (ack && ack.state !== 'finished') outcomes[b] = { outcome: ack.state === 'invalid' ? 'REJECTED' : 'FAILED', message: ack.message };
        }
        // Wait for the wave (and all before it) to finish.
        for (;;) {
          const open = [...this.sent].filter((b) => !outcomes[b]);
          for (const b of open) {
            const p = this.latest.get(b);
            if (p && FINAL.has(p.status)) outcomes[b] = { outcome: p.status as BoxOutcome, message: p.message };
            else if (Date.now() - sentAt.get(b)! > this.o.boxTimeoutMs) outcomes[b] = { outcome: 'no answer', message: `no final state within ${this.o.boxTimeoutMs} ms` };
          }
          if ([...this.sent].every((b) => outcomes[b])) break;
          await new Promise<void>((r) => { this.wakeUp = r; setTimeout(r, 500); });
        }
        const failures = Object.values(outcomes).filter((x) => FAILED.has(x.outcome)).length;
        if (this.canceled) { stopped = true; reason = 'canceled'; break; }
        if (failures > this.o.maxFailures) { stopped = true; reason = `${failures} failed, more than the ${this.o.maxFailures} allowed: rollout stopped`; break; }
        wave = queue.splice(0, this.o.waveSize || queue.length);
      }
      for (const b of this.o.boxes) outcomes[b] ??= { outcome: 'skipped', message: reason };
      return { outcomes, stopped, reason, failures: Object.values(outcomes).filter((x) => FAILED.has(x.outcome)).length };
    } finally {
      this.fc.off('event', this.onEvent);
    }
  }

  /** Stops new waves; cancels every sent job that has not finished. Returns the boxes asked. */
  async cancel(): Promise<string[]> {
    this.canceled = true;
    const open = [...this.sent].filter((b) => !FINAL.has(this.latest.get(b)?.status ?? ''));
    await Promise.all(open.map((b) => this.fc.send(b, { kind: 'otaCancel', jobId: this.jobId(b) }, { timeoutMs: 30_000 }).catch(() => undefined)));
    return open;
  }
}

/** A text progress bar of one box's job, e.g. `box-1  [######----]  60% installing  Copying image`. */
export function progressBar(boxId: string, p: JobProgress | undefined, width = 20): string {
  if (!p) return `${boxId.padEnd(16)} [${'-'.repeat(width)}]   0% waiting`;
  // Download and install each fill half of the bar; after that it is full.
  const frac = p.step === 'downloading' ? p.percent / 200 : p.step === 'installing' ? 0.5 + p.percent / 200 : p.step === 'queued' ? 0 : 1;
  const n = Math.round(frac * width);
  return `${boxId.padEnd(16)} [${'#'.repeat(n)}${'-'.repeat(width - n)}] ${String(Math.round(frac * 100)).padStart(3)}% ${p.status === 'IN_PROGRESS' ? p.step : p.status}  ${p.message}`.slice(0, 160);
}
