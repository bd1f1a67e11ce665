/**
 * The on-box OTA agent (issue 22), run by the control worker: takes jobs from the fleet link,
 * works them one at a time through download -> RAUC install -> reboot -> health-gated
 * `Mark good`, and reports every change of status, step and percent.
 *
 * Contract
 * - submit(doc): validates and queues (QUEUED; a second job waits behind the running one).
 *   cancel(id): a QUEUED or downloading job becomes CANCELED; once the install has begun the
 *   slot is RAUC's and cancel is refused.
 * - Every change is written to the JobStore before it is reported, so after a power cut or a
 *   kill at any step start() resumes from the stored step:
 *     downloading  -> resume the download (HTTP Range);
 *     installing   -> if RAUC finished (target slot carries the job's version, installed after the
 *                     job's install began, and is primary) go on, else install again (3 tries);
 *     rebooting    -> booted the target: verify; primary still the target: reboot; else the
 *                     bootloader fell back: FAILED;
 *     verifying    -> booted the target: hold the health window again; else FAILED (rolled back);
 *     rolling-back -> still on the target: reboot again; else FAILED with the health reason.
 * - Refusals: bundle older than (or equal to) the running version (anti-rollback) unless forced;
 *   RAUC's own refusals (signature, CA, compatible) are REJECTED with RAUC's LastError.
 * - Safe moments: the install waits while a case records and the reboot while a case records,
 *   a talk session or an expert uplink runs (`busy()`), unless the job is forced; a job still
 *   waiting after its timeout is TIMED_OUT.
 * - After every boot, whether a job is open or not, the guard's health verdict held healthy for
 *   `healthWindowMs` marks the booted slot good (a slot that boots but is never judged is
 *   left to the bootloader's counter). A job's new slot judged unhealthy within
 *   `healthTimeoutMs` is marked bad and the box reboots back.
 *
 * Lifecycle: new (validates config) -> start() -> close() (idempotent; stops the loop, leaves
 * the job where the store says, as a power cut would). Errors of one job never stop the agent.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { LogSink } from '../lib/log.js';
import { DownloadError, download } from './download.js';
import { type Job, type JobDocument, type JobStatus, type JobStep, JobStore, TERMINAL_JOB_STATUSES, VERSION_RE, compareVersions, validateJobDocument } from './jobs.js';
import { RaucGoneError, RaucInstallError, type RaucClient, type RaucSlot } from './rauc.js';

export type HealthVerdict = 'healthy' | 'unhealthy' | 'unknown';

export interface BusyState {
  recording: boolean;
  talk: boolean;
  uplink: boolean;
}

export interface OtaAgentConfig {
  /** Job store and downloads live here (the data partition: never touched by A/B updates). */
  dir: string;
  /** Version of this firmware when RAUC knows none for the booted slot (the factory image). */
  firmwareVersion: string;
  /** Largest bundle accepted, bytes. Default 2 GiB. */
  maxBundleBytes?: number;
  /** The health verdict must stay healthy this long after boot before Mark good, ms. Default 60 000. */
  healthWindowMs?: number;
  /** A new slot not healthy for a full window within this long is rolled back, ms. Default 300 000. */
  healthTimeoutMs?: number;
  /** Default job timeout (queued to install start), s. Default 86 400. */
  jobTimeoutS?: number;
  /** Poll interval of the health verdict and of the safe-moment check, ms. Default 500. */
  pollMs?: number;
  /** Pause before retrying a download after a network error, ms. Default 5 000. */
  retryMs?: number;
  /** CA(s) for the bundle server's certificate (PEM); default the system's. */
  httpsCa?: string | Buffer;
}

export interface JobReport {
  jobId: string;
  status: JobStatus;
  step: JobStep;
  percent: number;
  message: string;
  version: string;
}

export interface OtaAgentDeps {
  connectRauc: () => Promise<RaucClient>;
  health: () => HealthVerdict;
  busy: () => BusyState;
  /** Reboots the box (systemctl reboot on a board); may never return. */
  reboot: () => Promise<void>;
  /** Each status / step / percent change (the control worker sends it as an `ota.job` event). */
  report: (r: JobReport) => void;
  log?: LogSink;
  now?: () => number;
}

export interface OtaStatus {
  booted?: string;
  bootedBootname?: string;
  primary?: string;
  runningVersion: string;
  slots: RaucSlot[];
  lastJob?: Job;
  queued: number;
  bootMarked: 'good' | 'bad' | 'pending' | 'unknown';
}

const NOOP_LOG: LogSink = { info() {}, warn() {}, error() {}, debug() {} };
const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((r) => {
  if (signal?.aborted) return r();
  const onAbort = () => { clearTimeout(t); r(); };
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); r(); }, ms);
  signal?.addEventListener('abort', onAbort, { once: true });
});

class Cancelled extends Error {}

export class OtaAgent {
  readonly store: JobStore;
  private readonly cfg: Required<Omit<OtaAgentConfig, 'httpsCa'>> & { httpsCa?: string | Buffer };
  private readonly log: LogSink;
  private readonly now: () => number;
  private rauc: RaucClient | undefined;
  private readonly abort = new AbortController();
  private jobAbort: AbortController | undefined;
  private current: Job | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private bootMarked: OtaStatus['bootMarked'] = 'unknown';
  private closed = false;

  constructor(config: OtaAgentConfig, private readonly deps: OtaAgentDeps) {
    if (!config.dir) throw new RangeError('OtaAgent: dir is required');
    if (!VERSION_RE.test(config.firmwareVersion)) throw new RangeError(`OtaAgent: firmwareVersion must be x.y.z, not ${JSON.stringify(config.firmwareVersion)}`);
    this.cfg = {
      maxBundleBytes: 2 ** 31, healthWindowMs: 60_000, healthTimeoutMs: 300_000, jobTimeoutS: 86_400, pollMs: 500, retryMs: 5_000, ...config,
    };
    for (const k of ['maxBundleBytes', 'healthWindowMs', 'healthTimeoutMs', 'jobTimeoutS', 'pollMs', 'retryMs'] as const) {
      if (!(this.cfg[k] > 0)) throw new RangeError(`OtaAgent: ${k} must be > 0, not ${this.cfg[k]}`);
    }
    mkdirSync(join(config.dir, 'downloads'), { recursive: true });
    this.store = new JobStore(join(config.dir, 'jobs.json'));
    this.log = deps.log ?? NOOP_LOG;
    this.now = deps.now ?? Date.now;
  }

  async start(): Promise<void> {
    if (this.loop) return;
    this.rauc = await this.deps.connectRauc();
    this.loop = this.run().catch((err) => this.log.error({ err: (err as Error).message }, 'OTA agent loop stopped'));
  }

  /** Queues a job; throws RangeError for a malformed document, returns the stored job. */
  submit(doc: JobDocument): Job {
    validateJobDocument(doc);
    const known = this.store.get(doc.jobId);
    if (known) return known; // the same job sent again (at-least-once delivery)
    const now = this.now();
    const job: Job = { ...doc, status: 'QUEUED', step: 'queued', percent: 0, message: this.store.next() ? 'queued behind another job' : 'queued', queuedAtMs: now, updatedAtMs: now, installAttempts: 0 };
    this.store.add(job);
    this.emit(job);
    this.wake?.();
    return job;
  }

  /** Cancels a job not yet installing. Returns false (with the reason) when it cannot. */
  cancel(jobId: string): { ok: boolean; message: string } {
    const job = this.store.get(jobId);
    if (!job) return { ok: false, message: `no job ${jobId}` };
    if (TERMINAL_JOB_STATUSES.has(job.status)) return { ok: false, message: `job ${jobId} already ${job.status}` };
    if (job.status === 'IN_PROGRESS' && job.step !== 'downloading' && job.step !== 'waiting') return { ok: false, message: `job ${jobId} is ${job.step}: too late to cancel` };
    this.finish(job, 'CANCELED', 'canceled by the console');
    if (this.current === job) this.jobAbort?.abort(); // never another job's download
    const file = join(this.cfg.dir, 'downloads', `${jobId}.raucb`);
    // After the aborted request has let go of the part file.
    setTimeout(() => { rmSync(file, { force: true }); rmSync(`${file}.part`, { force: true }); }, 100).unref();
    return { ok: true, message: `job ${jobId} canceled` };
  }

  async status(): Promise<OtaStatus> {
    const r = this.rauc;
    const slots = r ? await r.slots().catch(() => []) : [];
    const booted = slots.find((s) => s.state === 'booted');
    return {
      booted: booted?.name, bootedBootname: booted?.bootname, primary: r ? await r.primary().catch(() => undefined) : undefined,
      runningVersion: booted?.bundleVersion ?? this.cfg.firmwareVersion, slots, lastJob: this.store.last(),
      queued: this.store.all().filter((j) => j.status === 'QUEUED').length, bootMarked: this.bootMarked,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.jobAbort?.abort();
    this.wake?.();
    this.rauc?.close();
    await this.loop;
  }

  // ---- the loop --------------------------------------------------------------------------------

  private emit(job: Job): void {
    this.deps.report({ jobId: job.jobId, status: job.status, step: job.step, percent: job.percent, message: job.message, version: job.version });
  }

  private set(job: Job, patch: Partial<Job>): void {
    if (TERMINAL_JOB_STATUSES.has(job.status)) throw new Cancelled();
    this.store.update(job, patch, this.now());
    this.emit(job);
  }

  private finish(job: Job, status: JobStatus, message: string): void {
    this.store.update(job, { status, step: 'done', message }, this.now());
    this.log.info({ job: job.jobId, status, message }, 'OTA job finished');
    this.emit(job);
  }

  private async run(): Promise<void> {
    const slots = await this.rauc!.slots();
    const booted = slots.find((s) => s.state === 'booted');
    // A job open across a reboot decides what this boot is; otherwise just confirm the boot.
    const open = this.store.all().find((j) => j.status === 'IN_PROGRESS' && (j.step === 'rebooting' || j.step === 'verifying' || j.step === 'rolling-back'));
    if (!open) void this.confirmBoot();
    this.log.info({ booted: booted?.name, version: this.runningVersion(slots) }, 'OTA agent started');
    while (!this.abort.signal.aborted) {
      const job = this.store.next();
      if (!job) {
        await new Promise<void>((r) => { this.wake = r; });
        this.wake = undefined;
        continue;
      }
      this.jobAbort = new AbortController();
      this.current = job;
      try {
        await this.work(job);
      } catch (err) {
        if (err instanceof Cancelled || this.abort.signal.aborted) continue;
        if (err instanceof RaucGoneError) {
          // RAUC died (the service manager restarts it): reconnect; the job resumes at its step.
          await this.reconnect();
          continue;
        }
        this.log.error({ job: job.jobId, err: (err as Error).message }, 'OTA job error');
        if (!TERMINAL_JOB_STATUSES.has(job.status)) this.finish(job, 'FAILED', (err as Error).message);
      }
    }
  }

  private async reconnect(): Promise<void> {
    this.rauc?.close();
    while (!this.abort.signal.aborted) {
      await sleep(this.cfg.pollMs, this.abort.signal);
      try {
        this.rauc = await this.deps.connectRauc();
        await this.rauc.slots();
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'RAUC not back yet');
      }
    }
  }

  private bootedSlot(slots: RaucSlot[]): RaucSlot | undefined {
    return slots.find((s) => s.state === 'booted');
  }

  private runningVersion(slots: RaucSlot[]): string {
    return this.bootedSlot(slots)?.bundleVersion ?? this.cfg.firmwareVersion;
  }

  /** Health window on a boot with no open job: Mark good when held, else leave it to the counter. */
  private async confirmBoot(): Promise<void> {
    this.bootMarked = 'pending';
    const verdict = await this.holdHealthy();
    if (this.abort.signal.aborted) return;
    if (verdict.ok) {
      await this.rauc!.mark('good', 'booted').catch((err) => this.log.warn({ err: (err as Error).message }, 'Mark good failed'));
      this.bootMarked = 'good';
    } else this.log.warn({ reason: verdict.reason }, 'booted slot not judged healthy: not marked good');
  }

  /** Waits for the verdict to stay healthy for the window, within the timeout. */
  private async holdHealthy(): Promise<{ ok: boolean; reason: string }> {
    const start = this.now();
    let since: number | undefined;
    let last: HealthVerdict = 'unknown';
    while (!this.abort.signal.aborted) {
      const v = this.deps.health();
      last = v;
      if (v === 'healthy') {
        since ??= this.now();
        if (this.now() - since >= this.cfg.healthWindowMs) return { ok: true, reason: 'healthy' };
      } else since = undefined;
      if (this.now() - start > this.cfg.healthTimeoutMs) return { ok: false, reason: `health verdict ${last}: not healthy for ${this.cfg.healthWindowMs} ms within ${this.cfg.healthTimeoutMs} ms of boot` };
      await sleep(this.cfg.pollMs, this.abort.signal);
    }
    return { ok: false, reason: 'agent closed' };
  }

  private timedOut(job: Job): boolean {
    return this.now() - job.queuedAtMs > (job.timeoutS || this.cfg.jobTimeoutS) * 1000;
  }

  private async work(job: Job): Promise<void> {
    const rauc = this.rauc!;
    const bundle = join(this.cfg.dir, 'downloads', `${job.jobId}.raucb`);
    if (job.status === 'QUEUED') {
      const slots = await rauc.slots();
      this.set(job, { status: 'IN_PROGRESS', step: 'downloading', percent: 0, message: 'downloading', fromVersion: this.runningVersion(slots) });
    }
    if (job.step === 'downloading' || job.step === 'waiting') {
      await this.fetch(job, bundle);
      await this.install(job, bundle);
    } else if (job.step === 'installing') {
      // Interrupted: RAUC may have finished without us (agent killed) or died mid-write.
      while ((await rauc.operation().catch(() => 'idle')) !== 'idle') await sleep(this.cfg.pollMs, this.abort.signal);
      const done = await this.installedByRauc(job);
      if (done) this.set(job, { step: 'rebooting', percent: 100, message: `installed to ${done.name} (confirmed after restart)`, targetSlot: done.name, targetBootname: done.bootname });
      else if (job.installAttempts >= 3) return this.finish(job, 'FAILED', `install interrupted ${job.installAttempts} times`);
      else {
        if (!existsSync(bundle)) this.set(job, { step: 'downloading', message: 'bundle missing after restart: downloading again' });
        await this.fetch(job, bundle);
        await this.install(job, bundle);
      }
    }
    if (job.step === 'rebooting' || job.step === 'verifying' || job.step === 'rolling-back') await this.afterInstall(job);
  }

  /** The slot RAUC installed this job's bundle to (and made primary), if it did. */
  private async installedByRauc(job: Job): Promise<RaucSlot | undefined> {
    const rauc = this.rauc!;
    const [slots, primary] = await Promise.all([rauc.slots(), rauc.primary()]);
    // The primary slot, booted already when the power cut came after RAUC's set-primary.
    const target = slots.find((s) => s.name === primary);
    if (!target || target.bundleVersion === undefined) return undefined;
    const installedAt = target.installedTimestamp ? Date.parse(target.installedTimestamp) : 0;
    // RAUC's timestamps have one-second resolution.
    const ok = target.bundleVersion === job.version && installedAt >= Math.floor((job.installStartedAtMs ?? Infinity) / 1000) * 1000 && target.raw['status'] === 'ok';
    return ok ? target : undefined;
  }

  private async fetch(job: Job, bundle: string): Promise<void> {
    let lastPct = -1;
    for (;;) {
      if (this.timedOut(job)) return this.finishThrow(job, 'TIMED_OUT', `not installed within ${job.timeoutS || this.cfg.jobTimeoutS} s`);
      try {
        const r = await download({
          url: job.url, dest: bundle, sha256: job.sha256, maxBytes: this.cfg.maxBundleBytes, expectedBytes: job.sizeBytes, ca: this.cfg.httpsCa,
          signal: this.jobAbort!.signal,
          onProgress: (got, total) => {
            const pct = total ? Math.floor((got / total) * 100) : 0;
            if (pct >= lastPct + 10 || (pct === 100 && lastPct !== 100)) { lastPct = pct; this.set(job, { step: 'downloading', percent: pct, message: `downloading ${got} of ${total} bytes` }); }
          },
        });
        this.set(job, { percent: 100, message: `downloaded ${r.bytes} bytes${r.resumedFrom ? ` (resumed at ${r.resumedFrom})` : ''}, sha256 ok` });
        return;
      } catch (err) {
        if (TERMINAL_JOB_STATUSES.has(job.status) || this.abort.signal.aborted) throw new Cancelled();
        if (err instanceof DownloadError && err.retryable) {
          this.set(job, { message: `${err.message}; retrying in ${this.cfg.retryMs} ms` });
          await sleep(this.cfg.retryMs, this.abort.signal);
          continue;
        }
        return this.finishThrow(job, err instanceof DownloadError && /sha256|limit|must be/.test(err.message) ? 'REJECTED' : 'FAILED', (err as Error).message);
      }
    }
  }

  private finishThrow(job: Job, status: JobStatus, message: string): never {
    this.finish(job, status, message);
    throw new Cancelled();
  }

  private async waitSafe(job: Job, what: 'install' | 'reboot'): Promise<void> {
    let said: string | undefined;
    for (;;) {
      if (TERMINAL_JOB_STATUSES.has(job.status)) throw new Cancelled(); // canceled while it waited
      const b = this.deps.busy();
      const why = b.recording ? 'a case is recording' : what === 'reboot' && b.talk ? 'a talk session is open' : what === 'reboot' && b.uplink ? 'an expert uplink is live' : undefined;
      if (!why || job.force) return;
      if (what === 'install' && this.timedOut(job)) this.finishThrow(job, 'TIMED_OUT', `${why} until the job's timeout`);
      if (said !== why) { this.set(job, { message: `${what} waits: ${why}` }); said = why; } // each new reason, once
      await sleep(this.cfg.pollMs, this.abort.signal);
      if (this.abort.signal.aborted) throw new Cancelled();
    }
  }

  private async install(job: Job, bundle: string): Promise<void> {
    const rauc = this.rauc!;
    // Anti-rollback on the bundle's own manifest (the job document's version is only a claim).
    const info = await rauc.info(bundle).catch(() => undefined);
    const slots = await rauc.slots();
    const running = this.runningVersion(slots);
    if (info) {
      if (info.version !== job.version) return this.finishThrow(job, 'REJECTED', `bundle holds version ${info.version}, the job says ${job.version}`);
      if (compareVersions(info.version, running) <= 0 && !job.force) return this.finishThrow(job, 'REJECTED', `bundle version ${info.version} is not newer than the running ${running} (anti-rollback; force to install)`);
    }
    await this.waitSafe(job, 'install');
    this.set(job, { step: 'installing', percent: 0, message: 'installing', installAttempts: job.installAttempts + 1, installStartedAtMs: this.now() });
    try {
      await rauc.install(bundle, (p) => {
        if (!TERMINAL_JOB_STATUSES.has(job.status)) this.set(job, { percent: p.percent, message: p.message });
      });
    } catch (err) {
      if (err instanceof RaucInstallError) {
        rmSync(bundle, { force: true });
        // Nothing written yet when RAUC refuses the bundle itself; a write error is a failure.
        const refused = /signature|Compatible|compatible|manifest|keyring|certificate|verif/i.test(err.lastError);
        return this.finishThrow(job, refused ? 'REJECTED' : 'FAILED', `RAUC: ${err.lastError}`);
      }
      if (err instanceof RaucGoneError) {
        // RAUC died: the supervisor (systemd) restarts it; this process starts over too.
        this.log.warn({ job: job.jobId, err: err.message }, 'RAUC gone during install');
        throw err;
      }
      throw err;
    }
    const primary = await rauc.primary();
    const target = (await rauc.slots()).find((s) => s.name === primary);
    rmSync(bundle, { force: true });
    this.set(job, { step: 'rebooting', percent: 100, message: `installed to ${primary}`, targetSlot: primary, targetBootname: target?.bootname });
  }

  private async afterInstall(job: Job): Promise<void> {
    const rauc = this.rauc!;
    const slots = await rauc.slots();
    const booted = this.bootedSlot(slots);
    const primary = await rauc.primary();
    const onTarget = booted !== undefined && booted.name === job.targetSlot;
    if (job.step === 'rebooting') {
      if (onTarget) this.set(job, { step: 'verifying', percent: 0, message: `booted ${booted.name} (${booted.bundleVersion}); health window` });
      else if (primary === job.targetSlot) {
        await this.waitSafe(job, 'reboot');
        this.set(job, { message: `rebooting into ${job.targetSlot}` });
        await this.deps.reboot();
        await sleep(60_000, this.abort.signal); // reboot takes this process with it
        return;
      } else {
        this.finish(job, 'FAILED', `new slot ${job.targetSlot} did not come up: the bootloader went back to ${booted?.name} (${this.runningVersion(slots)})`);
        void this.confirmBoot();
        return;
      }
    }
    if (job.step === 'verifying') {
      if (!onTarget) {
        this.finish(job, 'FAILED', `rolled back before mark-good: booted ${booted?.name} (${this.runningVersion(slots)}) instead of ${job.targetSlot}`);
        void this.confirmBoot();
        return;
      }
      this.bootMarked = 'pending';
      const verdict = await this.holdHealthy();
      if (this.abort.signal.aborted) return;
      if (verdict.ok) {
        await rauc.mark('good', 'booted');
        this.bootMarked = 'good';
        return this.finish(job, 'SUCCEEDED', `running ${job.version} on ${booted.name}, marked good`);
      }
      this.set(job, { step: 'rolling-back', message: verdict.reason });
    }
    if (job.step === 'rolling-back') {
      if (onTarget) {
        await rauc.mark('bad', 'booted');
        this.bootMarked = 'bad';
        await this.deps.reboot();
        await sleep(60_000, this.abort.signal);
        return;
      }
      this.finish(job, 'FAILED', `${job.message}; rolled back to ${booted?.name} (${this.runningVersion(slots)})`);
      void this.confirmBoot();
    }
  }
}
