/**
 * Device data: serial patient monitors and anesthesia machines -> normalised VitalSamples on the
 * box clock. Entered through this index; the device-data worker wraps DeviceDataService thinly
 * (samples -> vitals ring, events -> control, command() <- control).
 *
 * DeviceDataService owns, per configured port: the transport (serial port, reopened with capped
 * exponential backoff and jitter when it goes away), one protocol driver (session state machine),
 * the sequence numbers, gap marking, an optional raw byte log; and one CommandTracker for remote
 * commands. Drivers never reconnect or time themselves: this class does it for them.
 *
 * Runs on: the device-data worker thread.
 */
import { Backoff } from '../lib/backoff.js';
import { BoxClock } from '../lib/clock.js';
import { CommandTracker, COMMAND_TIMEOUT_MS, realTimer, type CommandResult, type SetTimer } from './commands.js';
import { DevicesConfigSchema, formatConfigIssues, resolvePortConfig, type PortConfigInput, type ResolvedPortConfig } from './config.js';
import type { CommandState, DriverHost, ProtocolDriver } from './driver.js';
export { createDriver } from './drivers.js';
import { ConfigError } from './errors.js';
import { createDriver } from './drivers.js';
import { RawLogWriter } from './raw-log.js';
import type { ClockLike, Timestamp } from '../lib/clock.js';
import { StateFlag, completeSample, type ConnectionState, type Protocol, type SampleDraft, type VitalSample } from './sample.js';
import { SerialTransport, type PortTransport, type TransportFactory } from './transport.js';
import { isUdpPath } from './port-path.js';
import { UdpTransport } from './udp-transport.js';

export * from './sample.js';
export { PortConfigSchema, DevicesConfigSchema, LINE_DEFAULTS, resolvePortConfig, formatConfigIssues } from './config.js';
export type { PortConfig, PortConfigInput, ResolvedPortConfig, DevicesConfig } from './config.js';
export { CommandRequestSchema, COMMAND_TIMEOUT_MS, type CommandRequest, type CommandResult } from './commands.js';
export type { CommandState, TerminalCommandState } from './driver.js';
export { encodeVitalSample, decodeVitalSample, sampleToJson } from './vitals-codec.js';
export { VitalsTrackWriter, readVitalsTrack, parseVitalsTrack, type VitalsTrackInfo } from './track.js';
export { toCsv, toCsvLines, toWebVtt } from './export.js';
export { VitalsDisplay, DEFAULT_STALE_MS } from './display.js';
export { replayCapture, registerDevicesCommands } from './replay.js';
export type { PortTransport, TransportFactory } from './transport.js';
export { UdpTransport } from './udp-transport.js';
export { isUdpPath, parseUdpPath, INTELLIVUE_UDP_PORT } from './port-path.js';

/** Events of the service, for control and guard. */
export type DeviceEvent =
  | { type: 'state'; port: string; state: ConnectionState; atWallNs: bigint; detail?: string }
  | { type: 'gap'; port: string; startNs: bigint; endNs: bigint; reason: string }
  | { type: 'command'; transactionId: string; state: CommandState; atMonoNs: bigint }
  | { type: 'device'; port: string; deviceId: string }
  | { type: 'error'; port: string; message: string };

export interface ReconnectPolicy {
  /** First delay, ms (default 500). */
  minMs: number;
  /** Cap, ms (default 5000). */
  maxMs: number;
}

export interface DeviceDataServiceOptions {
  /** Port configurations (validated with PortConfigSchema; errors name `ports.<i>.<key>`). */
  ports: PortConfigInput[];
  /** Every sample, in order per port (numerics, waves, alarms, gap marks). */
  onSample: (sample: VitalSample) => void;
  onEvent?: (event: DeviceEvent) => void;
  /** Box clock (default: a BoxClock anchored now). */
  clock?: ClockLike;
  /** Default: serial ports. */
  transportFactory?: TransportFactory;
  /** Driver tick period, ms (default 250). */
  tickMs?: number;
  reconnect?: Partial<ReconnectPolicy>;
  /** Jitter source in [0, 1) (default Math.random). */
  random?: () => number;
  commandTimeoutMs?: number;
  setTimer?: SetTimer;
}

/** Per-port status for guard / `orbox status`. */
export interface PortStatus {
  name: string;
  protocol: Protocol;
  state: ConnectionState;
  deviceId: string;
  samples: bigint;
  reconnects: number;
  gaps: number;
  lastDataWallNs: bigint;
  clockOffsetNs?: bigint;
  clockDriftPpm?: number;
  driver: Record<string, number>;
  rawLogDropped: number;
}

class PortRunner {
  state: ConnectionState = 'closed';
  readonly driver: ProtocolDriver;
  private transport: PortTransport | undefined;
  private seq = 0n;
  private gap: { startNs: bigint; reason: string } | undefined;
  private lastDataWallNs = 0n;
  private deviceId = '';
  private reconnects = 0;
  private gaps = 0;
  private readonly retry: Backoff;
  private cancelRetry: () => void = () => {};
  private stopped = true;
  private readonly rawLog: RawLogWriter | undefined;

  constructor(
    readonly cfg: ResolvedPortConfig,
    private readonly svc: {
      clock: ClockLike;
      onSample: (s: VitalSample) => void;
      onEvent: (e: DeviceEvent) => void;
      factory: TransportFactory;
      reconnect: ReconnectPolicy;
      random: () => number;
      setTimer: SetTimer;
    },
  ) {
    const host: DriverHost = {
      now: () => this.svc.clock.now(),
      write: (b) => this.transport?.write(b),
      emit: (d) => this.emit(d),
      setState: (s, detail) => this.setState(s, detail),
      setDeviceId: (id) => {
        if (id === this.deviceId) return;
        this.deviceId = id;
        this.svc.onEvent({ type: 'device', port: this.cfg.name, deviceId: id });
      },
    };
    this.driver = createDriver(cfg, host);
    // Jitter so a room full of adapters re-plugged together does not retry in lockstep.
    this.retry = new Backoff({ ...svc.reconnect, jitter: 0.5 }, svc.random);
    this.rawLog = cfg.rawLogPath ? new RawLogWriter(cfg.rawLogPath, cfg.protocol, cfg.rawLogMaxBytes) : undefined;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.rawLog?.open();
    void this.connect();
  }

  tick(): void {
    if (this.transport && (this.state === 'associating' || this.state === 'connected' || this.state === 'silent')) this.driver.tick();
  }

  status(): PortStatus {
    const c = this.driver.clockEstimate();
    const fs = (this.driver as unknown as { framerStats?: () => Record<string, number> }).framerStats?.() ?? {};
    return {
      name: this.cfg.name,
      protocol: this.cfg.protocol,
      state: this.state,
      deviceId: this.deviceId,
      samples: this.seq,
      reconnects: this.reconnects,
      gaps: this.gaps,
      lastDataWallNs: this.lastDataWallNs,
      ...(c.offsetNs !== undefined ? { clockOffsetNs: c.offsetNs } : {}),
      ...(c.driftPpm !== undefined ? { clockDriftPpm: c.driftPpm } : {}),
      driver: { ...fs, ...this.driver.stats },
      rawLogDropped: this.rawLog?.dropped ?? 0,
    };
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelRetry();
    this.driver.stop('closed');
    const t = this.transport;
    this.transport = undefined;
    await t?.close();
    this.rawLog?.close();
    this.setState('closed');
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.setState('connecting');
    const t = this.svc.factory(this.cfg);
    t.onData((chunk) => this.onData(chunk));
    t.onClose((reason) => this.onLost(t, reason));
    try {
      await t.open();
    } catch (err) {
      this.scheduleRetry(`open failed: ${(err as Error).message}`);
      return;
    }
    if (this.stopped) {
      await t.close();
      return;
    }
    this.transport = t;
    this.retry.reset();
    this.driver.start();
  }

  private onData(chunk: Uint8Array): void {
    if (this.stopped) return;
    this.rawLog?.append(this.svc.clock.now(), chunk);
    this.driver.receive(chunk);
  }

  private onLost(t: PortTransport, reason: string): void {
    if (this.stopped || this.transport !== t) return;
    this.transport = undefined;
    this.driver.stop(reason);
    void t.close();
    this.scheduleRetry(reason);
  }

  private scheduleRetry(reason: string): void {
    if (this.stopped) return;
    this.openGap('disconnected');
    this.setState('disconnected', reason);
    const delay = this.retry.next();
    this.reconnects++;
    this.cancelRetry = this.svc.setTimer(() => void this.connect(), delay);
  }

  private setState(s: ConnectionState, detail?: string): void {
    if (s === 'silent') this.openGap('silent');
    if (s === this.state) return;
    this.state = s;
    this.svc.onEvent({ type: 'state', port: this.cfg.name, state: s, atWallNs: this.svc.clock.now().wallNs, ...(detail ? { detail } : {}) });
  }

  private openGap(reason: string): void {
    if (this.gap || this.lastDataWallNs === 0n) return; // no data yet: nothing to have a gap in
    this.gaps++;
    this.gap = { startNs: this.lastDataWallNs, reason };
    const now = this.svc.clock.now();
    this.push({ kind: 'gap', hostWallNs: now.wallNs, hostMonoNs: now.monoNs, gapStartNs: this.gap.startNs, gapEndNs: 0n, gapReason: reason, label: 'GAP' });
    this.svc.onEvent({ type: 'gap', port: this.cfg.name, startNs: this.gap.startNs, endNs: 0n, reason });
  }

  private emit(d: SampleDraft): void {
    if (this.gap) {
      const g = this.gap;
      this.gap = undefined;
      // The gap ends where data resumes: the capture time of the first new sample.
      const now: Timestamp = this.svc.clock.now();
      const end = d.hostWallNs < now.wallNs ? d.hostWallNs : now.wallNs;
      this.push({ kind: 'gap', hostWallNs: now.wallNs, hostMonoNs: now.monoNs, gapStartNs: g.startNs, gapEndNs: end, gapReason: g.reason, label: 'GAP' });
      this.svc.onEvent({ type: 'gap', port: this.cfg.name, startNs: g.startNs, endNs: end, reason: g.reason });
    }
    if (this.state !== 'connected') this.setState('connected');
    const end = d.kind === 'wave' && d.samples?.length && d.samplePeriodNs ? d.hostWallNs + BigInt(d.samples.length - 1) * d.samplePeriodNs : d.hostWallNs;
    if (end > this.lastDataWallNs) this.lastDataWallNs = end;
    this.push(d);
  }

  private push(d: SampleDraft): void {
    this.seq++;
    const s = completeSample({ ...d, ...(this.deviceId && !d.deviceId ? { deviceId: this.deviceId } : {}) }, this.cfg.name, this.cfg.protocol, this.seq);
    if (this.cfg.simulated) s.stateFlags |= StateFlag.SIMULATED;
    this.svc.onSample(s);
  }
}

export class DeviceDataService {
  private readonly runners: PortRunner[];
  private readonly tracker: CommandTracker;
  private readonly clock: ClockLike;
  private readonly tickMs: number;
  private readonly setTimer: SetTimer;
  private stopTick: () => void = () => {};
  private phase: 'new' | 'running' | 'closed' = 'new';
  private closing: Promise<void> | undefined;

  /** Validates everything; throws ConfigError naming the key path (e.g. `ports.0.baudRate`). */
  constructor(opts: DeviceDataServiceOptions) {
    const parsed = DevicesConfigSchema.safeParse({ ports: opts.ports });
    if (!parsed.success) {
      const issues = formatConfigIssues(parsed.error);
      throw new ConfigError(issues[0]!.split(':')[0]!, issues.join('; '));
    }
    this.tickMs = opts.tickMs ?? 250;
    if (!(this.tickMs >= 10 && this.tickMs <= 1000)) throw new ConfigError('tickMs', 'must be 10..1000');
    const reconnect: ReconnectPolicy = { minMs: opts.reconnect?.minMs ?? 500, maxMs: opts.reconnect?.maxMs ?? 5000 };
    if (!(reconnect.minMs > 0 && reconnect.maxMs >= reconnect.minMs)) throw new ConfigError('reconnect', 'need 0 < minMs <= maxMs');
    this.clock = opts.clock ?? new BoxClock();
    this.setTimer = opts.setTimer ?? realTimer;
    const onEvent = opts.onEvent ?? (() => {});
    const svc = {
      clock: this.clock,
      onSample: opts.onSample,
      onEvent,
      factory: opts.transportFactory ?? ((cfg: ResolvedPortConfig) => (isUdpPath(cfg.path) ? new UdpTransport(cfg.path) : new SerialTransport(cfg))),
      reconnect,
      random: opts.random ?? Math.random,
      setTimer: this.setTimer,
    };
    this.runners = parsed.data.ports.map((p) => new PortRunner(resolvePortConfig(p), svc));
    this.tracker = new CommandTracker(
      this.clock,
      (transactionId, state, atMonoNs) => onEvent({ type: 'command', transactionId, state, atMonoNs }),
      opts.commandTimeoutMs ?? COMMAND_TIMEOUT_MS,
      this.setTimer,
    );
  }

  /** Opens every port and starts the drivers. Calling it again is a no-op. */
  start(): void {
    if (this.phase !== 'new') return;
    this.phase = 'running';
    for (const r of this.runners) r.start();
    const t = setInterval(() => {
      for (const r of this.runners) r.tick();
    }, this.tickMs);
    t.unref?.();
    this.stopTick = () => clearInterval(t);
  }

  /**
   * A remote command for a port's driver. Always resolves (never rejects) with the terminal
   * state: finished, failed, cancelled, invalid (malformed at once; 60 s timeout) or unsupported.
   */
  command(req: unknown): Promise<CommandResult> {
    return this.tracker.submit(req, (port) => this.runners.find((r) => r.cfg.name === port)?.driver);
  }

  /** Cancels a command in flight. */
  cancelCommand(transactionId: string): boolean {
    return this.tracker.cancel(transactionId);
  }

  status(): PortStatus[] {
    return this.runners.map((r) => r.status());
  }

  /** Stops ticks, cancels commands, closes every port. Idempotent; resolves when all are closed. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.phase = 'closed';
    this.stopTick();
    this.tracker.close();
    this.closing = Promise.all(this.runners.map((r) => r.close())).then(() => undefined);
    return this.closing;
  }
}
