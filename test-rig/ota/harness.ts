/**
 * The OTA lab harness: one box (test-rig/ota/box.ts in a child process) on a real RAUC lab
 * (lab.ts), a real mosquitto with mTLS (test-rig/fleet), an HTTPS bundle server, a FleetConsole
 * that sends jobs and folds the `ota.job` events; signed bundles built with ota/bundle.ts.
 * A `REBOOT` from the box reboots the lab (the simulated bootloader picks the slot) and starts
 * the box again, as a board would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { FleetConsole } from '../../edge/fleet/index.js';
import { OTA_EVENT_KIND, jobProgressOf, type JobProgress } from '../../edge/ota/index.js';
import { buildBundle, makeTestRootfs, type BuiltBundle } from '../../ota/bundle.js';
import { ensureSigningCa, type SigningCa } from '../../ota/signing.js';
import { boxLinkConfig, consoleConfig, startLocalBroker, type LocalBroker } from '../fleet/index.js';
import { type BundleServer, startBundleServer } from './bundle-server.js';
import { RaucLab } from './lab.js';

export const COMPATIBLE = 'orbox-x86-lab';
const BOX = 'ota-box';

export interface Shared {
  root: string;
  broker: LocalBroker;
  server: BundleServer;
  dev: SigningCa;
  release: SigningCa;
  bundlesDir: string;
  console: FleetConsole;
  /** Every ota.job event per box, in arrival order. */
  events: Map<string, JobProgress[]>;
  close(): Promise<void>;
}

export async function startShared(): Promise<Shared> {
  const root = mkdtempSync(join(tmpdir(), 'orbox-ota-lab-'));
  const broker = await startLocalBroker({ boxIds: [BOX, 'ota-box-1', 'ota-box-2', 'ota-box-3', 'ota-box-4'] });
  const bundlesDir = join(root, 'bundles');
  mkdirSync(bundlesDir);
  const server = await startBundleServer(bundlesDir, { cert: join(dirname(broker.caPath), 'server.crt'), key: join(dirname(broker.caPath), 'server.key') });
  const dev = ensureSigningCa(join(root, 'signing'), 'dev');
  const release = ensureSigningCa(join(root, 'signing'), 'release');
  const fc = new FleetConsole(consoleConfig(broker));
  await fc.start();
  const events = new Map<string, JobProgress[]>();
  fc.on('event', (boxId, e) => {
    if (e.kind !== OTA_EVENT_KIND) return;
    const p = jobProgressOf(e.fields, e.message);
    if (!p) return;
    if (!events.has(boxId)) events.set(boxId, []);
    events.get(boxId)!.push(p);
  });
  return {
    root, broker, server, dev, release, bundlesDir, console: fc, events,
    async close() {
      await fc.close();
      await server.close();
      await broker.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Builds a signed bundle into the server's folder. */
export function makeBundle(s: Shared, name: string, version: string, o: { ca?: SigningCa; compatible?: string; bytes?: number } = {}): BuiltBundle {
  const rootfs = makeTestRootfs(mkdtempSync(join(s.root, 'rootfs-')), version, o.bytes ?? 256 * 1024);
  const ca = o.ca ?? s.dev;
  return buildBundle({ version, compatible: o.compatible ?? COMPATIBLE, rootfs, cert: ca.cert, key: ca.key, out: join(s.bundlesDir, `${name}.raucb`) });
}

export async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface LabBoxOptions {
  boxId?: string;
  healthWindowMs?: number;
  healthTimeoutMs?: number;
  /** Called on each JOB line; may kill the box or RAUC to simulate a power cut. */
  onJobLine?: (line: string, box: LabBox) => void;
}

/** One box: its RAUC lab, its agent process, its reboots. */
export class LabBox {
  readonly boxId: string;
  readonly lab: RaucLab;
  readonly dir: string;
  proc: ChildProcess | undefined;
  lines: string[] = [];
  reboots = 0;
  kills = 0;
  private stopped = false;
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly s: Shared, readonly opts: LabBoxOptions = {}) {
    this.boxId = opts.boxId ?? BOX;
    this.dir = mkdtempSync(join(s.root, `${this.boxId}-`));
    this.lab = new RaucLab({ dir: join(this.dir, 'rauc'), compatible: COMPATIBLE, keyring: s.dev.caCert });
  }

  async start(): Promise<void> {
    await this.lab.start();
    this.spawn();
    await this.waitUp();
  }

  /** Until the agent runs and the link is online (commands sent before its first subscription would be lost). */
  async waitUp(timeoutMs = 20_000): Promise<void> {
    const from = this.lines.lastIndexOf('REBOOT') + 1;
    await waitFor(() => {
      const l = this.lines.slice(from);
      return l.includes('AGENT started') && l.includes('STATE online');
    }, timeoutMs, `${this.boxId} up`);
  }

  setHealth(v: 'healthy' | 'unhealthy' | 'unknown'): void {
    writeFileSync(join(this.dir, 'health'), v);
  }

  setBusy(b: { recording?: boolean; talk?: boolean; uplink?: boolean }): void {
    writeFileSync(join(this.dir, 'busy'), JSON.stringify(b));
  }

  spawn(): void {
    const script = fileURLToPath(new URL('./box.js', import.meta.url));
    const cfg = {
      link: boxLinkConfig(this.s.broker, this.boxId, join(this.dir, 'fleet')),
      agent: { dir: join(this.dir, 'ota'), firmwareVersion: '1.0.0', healthWindowMs: this.opts.healthWindowMs ?? 1500, healthTimeoutMs: this.opts.healthTimeoutMs ?? 6000, pollMs: 100, retryMs: 300, httpsCa: readFileSync(this.s.broker.caPath, 'utf8') },
      busAddress: this.lab.busAddress,
      stateDir: this.dir,
    };
    const p = spawn(process.execPath, [script, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'], env: this.lab.env() });
    this.proc = p;
    let rebooting = false;
    createInterface({ input: p.stdout! }).on('line', (l) => {
      this.lines.push(l);
      if (l === 'REBOOT') rebooting = true;
      if (l.startsWith('JOB ')) this.opts.onJobLine?.(l, this);
    });
    p.stderr!.on('data', (b: Buffer) => this.lines.push(`STDERR ${b.toString().trim()}`));
    this.exited = new Promise<void>((r) => p.once('exit', () => {
      if (this.proc === p) this.proc = undefined;
      if (rebooting && !this.stopped) {
        this.reboots += 1;
        void this.lab.reboot().then(() => { if (!this.stopped) this.spawn(); }, (err) => this.lines.push(`BRICKED ${(err as Error).message}`));
      }
      r();
    }));
  }

  /** Power cut of the box's processes (agent; RAUC too when `rauc`), then power back on. */
  async powerCut(opts: { rauc?: boolean; reboot?: boolean } = {}): Promise<void> {
    this.kills += 1;
    this.proc?.kill('SIGKILL');
    await this.exited;
    if (opts.rauc) await this.lab.killService();
    if (opts.reboot) await this.lab.reboot();
    else await this.lab.startService();
    if (!this.stopped) this.spawn();
  }

  jobs(jobId: string): JobProgress[] {
    return (this.s.events.get(this.boxId) ?? []).filter((e) => e.job === jobId);
  }

  finalOf(jobId: string): JobProgress | undefined {
    return this.jobs(jobId).find((e) => ['SUCCEEDED', 'FAILED', 'REJECTED', 'TIMED_OUT', 'CANCELED'].includes(e.status));
  }

  async waitFinal(jobId: string, timeoutMs = 60_000): Promise<JobProgress> {
    await waitFor(() => this.finalOf(jobId) !== undefined || this.lines.some((l) => l.startsWith('BRICKED')), timeoutMs, `final state of job ${jobId} on ${this.boxId}`);
    const b = this.lines.find((l) => l.startsWith('BRICKED'));
    if (b) throw new Error(b);
    return this.finalOf(jobId)!;
  }

  /** Waits until the booted slot has been marked good after the last boot (agent says so in its status file). */
  async waitBootGood(timeoutMs = 20_000): Promise<void> {
    await waitFor(() => {
      const st = this.lab.bootState();
      return st.attempts[this.lab.booted] === 3;
    }, timeoutMs, `booted slot ${this.lab.booted} marked good`);
  }

  async send(body: Parameters<FleetConsole['send']>[1]): Promise<void> {
    await this.s.console.send(this.boxId, body, { timeoutMs: 30_000 });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.proc?.kill('SIGTERM');
    await this.exited;
    await this.lab.stop();
  }
}
