/**
 * Draeger MEDIBUS / MEDIBUS.X session: ICC, device identification, polling of measured data and
 * alarms, keep-alive NOP, answering the device's own commands, real-time curves.
 *
 * States: idle -> associating (ICC sent every RETRY_MS until answered) -> operating (polls every
 * pollMs; NOP when nothing else went out for KEEPALIVE_MS) -> silence or a STOP from the device
 * -> associating. The protocol is symmetric: every command the device sends gets its answer.
 *
 * Runs on: the device-data worker, behind DeviceDataService.
 */
import type { CommandAcceptance, CommandReporter, DriverHost, DriverOptions, ProtocolDriver } from '../driver.js';
import { DecodeError } from '../errors.js';
import { MEDIBUS_CODES, MEDIBUS_CURVES, Unit } from '../mdc.js';
import { StateFlag, type AlarmPriority } from '../sample.js';
import { WaveTimeline } from '../time-math.js';
import { asText, formatCurveIds, MB, parseAlarms, parseCurveIds, parseMeasured, parseRealtimeConfig, type CurveConfig } from './codec.js';
import { encodeMessage, ESC, MedibusFramer, NAK, SOH, type AsciiMessage, type RealtimeFrame } from './frame.js';

export const MEDIBUS_CURVE_NAMES: ReadonlyMap<string, number> = new Map([...MEDIBUS_CURVES].map(([id, c]) => [c.label, id]));

const MS = 1_000_000n;
const RETRY_MS = 2000n;
/** Reference page: keep-alive NOP every 1.5-2 s. */
const KEEPALIVE_MS = 1500n;
const DEFAULT_SILENCE_MS = 4000;

export interface MedibusOptions extends DriverOptions {
  /** Measured-data poll period in ms (default 1000). */
  pollMs?: number;
  /** Real-time curves to configure after ICC (names of MEDIBUS_CURVE_NAMES). */
  curves?: readonly string[];
  /** Samples per emitted wave block of a real-time curve (default 25). */
  blockSamples?: number;
}

interface Pending {
  cmd: number;
  reporter: CommandReporter;
}

interface CurveState {
  cfg: CurveConfig;
  buf: number[];
  timeline: WaveTimeline;
}

export class MedibusDriver implements ProtocolDriver {
  readonly protocol = 'medibus' as const;
  private readonly framer = new MedibusFramer();
  private phase: 'idle' | 'associating' | 'operating' = 'idle';
  private lastRxMono = 0n;
  private lastTxMono = 0n;
  private lastPollMono = 0n;
  private lastSent: Uint8Array | undefined;
  private nakRetries = 0;
  private readonly pollNs: bigint;
  private readonly silenceNs: bigint;
  private readonly blockSamples: number;
  private wantCurves: number[] = [];
  private available = new Map<number, CurveConfig>();
  /** Configured curves in bit order of the real-time sync mask. */
  private active: CurveState[] = [];
  private pending: Pending[] = [];
  private alarmKey = '';
  private readonly sink = {
    message: (m: AsciiMessage) => this.onMessage(m),
    realtime: (f: RealtimeFrame) => this.onRealtime(f),
    nak: () => this.onNak(),
    badChecksum: () => this.host.write(Uint8Array.of(NAK)),
  };
  readonly stats = { messages: 0, decodeErrors: 0, deviceCommands: 0, naksReceived: 0, numerics: 0, waveBlocks: 0, rtUnconfigured: 0, reinit: 0 };

  constructor(private readonly host: DriverHost, opts: MedibusOptions = {}) {
    const pollMs = opts.pollMs ?? 1000;
    if (!(pollMs >= 100)) throw new RangeError(`pollMs must be >= 100, got ${pollMs}`);
    this.pollNs = BigInt(Math.round(pollMs)) * MS;
    const silenceMs = opts.silenceMs ?? Math.max(DEFAULT_SILENCE_MS, 3 * pollMs);
    if (!(silenceMs > 0)) throw new RangeError(`silenceMs must be > 0, got ${silenceMs}`);
    this.silenceNs = BigInt(Math.round(silenceMs)) * MS;
    this.blockSamples = opts.blockSamples ?? 25;
    if (!Number.isInteger(this.blockSamples) || this.blockSamples < 1 || this.blockSamples > 10000) throw new RangeError('blockSamples must be 1..10000');
    for (const c of opts.curves ?? []) {
      const id = MEDIBUS_CURVE_NAMES.get(c);
      if (id === undefined) throw new RangeError(`unknown MEDIBUS curve ${c}; known: ${[...MEDIBUS_CURVE_NAMES.keys()].join(', ')}`);
      this.wantCurves.push(id);
    }
    if (this.wantCurves.length > 4) throw new RangeError('at most 4 real-time curves');
  }

  framerStats(): Record<string, number> {
    return { ...this.framer.stats };
  }

  start(): void {
    this.associate();
  }

  stop(reason: string): void {
    this.phase = 'idle';
    this.framer.reset();
    this.active = [];
    for (const p of this.pending) p.reporter.failed(`session ended: ${reason}`);
    this.pending = [];
  }

  clockEstimate(): { offsetNs?: bigint; driftPpm?: number } {
    return {};
  }

  receive(chunk: Uint8Array): void {
    this.framer.feed(chunk, this.sink);
  }

  tick(): void {
    const now = this.host.now().monoNs;
    if (this.phase === 'associating') {
      if (now - this.lastTxMono >= RETRY_MS * MS) this.send(MB.ICC);
      return;
    }
    if (this.phase !== 'operating') return;
    if (now - this.lastRxMono >= this.silenceNs) {
      this.host.setState('silent', `no answer for ${this.silenceNs / MS} ms`);
      this.stats.reinit++;
      this.associate();
      return;
    }
    if (now - this.lastPollMono >= this.pollNs) {
      this.lastPollMono = now;
      this.send(MB.MEASURED_CP1);
      this.send(MB.ALARMS_CP1);
    } else if (now - this.lastTxMono >= KEEPALIVE_MS * MS) this.send(MB.NOP);
    this.flushCurves(false);
  }

  command(action: string, args: Record<string, unknown>, reporter: CommandReporter): CommandAcceptance {
    switch (action) {
      case 'device.id':
        return this.request(MB.DEVICE_ID, [], reporter);
      case 'realtime.configure': {
        const names = args['curves'];
        if (!Array.isArray(names) || names.length === 0 || names.length > 4 || names.some((n) => typeof n !== 'string' || !MEDIBUS_CURVE_NAMES.has(n))) {
          return { kind: 'invalid', reason: `args.curves must be 1..4 of ${[...MEDIBUS_CURVE_NAMES.keys()].join('|')}` };
        }
        this.wantCurves = (names as string[]).map((n) => MEDIBUS_CURVE_NAMES.get(n)!);
        return this.request(MB.RT_CONFIG, [], reporter, MB.RT_CONFIGURE);
      }
      case 'realtime.stop':
        this.wantCurves = [];
        return this.request(MB.RT_CONFIGURE, [], reporter);
      default:
        return { kind: 'unsupported', reason: `orbox does not execute ${action} over MEDIBUS; it supports device.id, realtime.configure, realtime.stop` };
    }
  }

  // -------------------------------------------------------------------------------------------

  /** `settleOn`: the response that finishes the command (defaults to the one to `cmd`). */
  private request(cmd: number, data: number[], reporter: CommandReporter, settleOn = cmd): CommandAcceptance {
    if (this.phase !== 'operating') {
      queueMicrotask(() => reporter.failed('not connected'));
      return { kind: 'accepted' };
    }
    this.pending.push({ cmd: settleOn, reporter });
    this.send(cmd, data);
    reporter.started();
    return { kind: 'accepted' };
  }

  private send(cmd: number, data: ArrayLike<number> = []): void {
    const m = encodeMessage(ESC, cmd, data);
    this.lastSent = m;
    this.lastTxMono = this.host.now().monoNs;
    this.host.write(m);
  }

  private answer(cmd: number): void {
    this.lastTxMono = this.host.now().monoNs;
    this.host.write(encodeMessage(SOH, cmd));
  }

  private associate(): void {
    this.phase = 'associating';
    this.active = [];
    this.host.setState('associating');
    this.send(MB.ICC);
  }

  private onNak(): void {
    this.stats.naksReceived++;
    // Repeat the last command once; a second NAK in a row fails what waits for it.
    if (this.lastSent && this.nakRetries++ < 1) {
      this.host.write(this.lastSent);
      return;
    }
    this.nakRetries = 0;
    const cmd = this.lastSent?.[1];
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if (this.pending[i]!.cmd === cmd) this.pending.splice(i, 1)[0]!.reporter.failed('device answered NAK twice');
    }
  }

  private settle(cmd: number, detail?: string): void {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if (this.pending[i]!.cmd === cmd) this.pending.splice(i, 1)[0]!.reporter.finished(detail);
    }
  }

  private onMessage(m: AsciiMessage): void {
    this.stats.messages++;
    this.nakRetries = 0;
    this.lastRxMono = this.host.now().monoNs;
    if (m.start === ESC) {
      // The device's own command: answer every one (the protocol is symmetric).
      this.stats.deviceCommands++;
      this.answer(m.cmd);
      if (m.cmd === MB.STOP) this.associate();
      else if (m.cmd === MB.ICC && this.phase === 'operating') this.startSession();
      return;
    }
    try {
      switch (m.cmd) {
        case MB.ICC:
          if (this.phase === 'associating') this.startSession();
          break;
        case MB.DEVICE_ID: {
          const id = asText(m.data);
          this.host.setDeviceId(id);
          this.settle(MB.DEVICE_ID, id);
          break;
        }
        case MB.MEASURED_CP1:
          this.onMeasured(m.data);
          break;
        case MB.ALARMS_CP1:
          this.onAlarms(m.data);
          break;
        case MB.RT_CONFIG:
          this.available = new Map(parseRealtimeConfig(m.data).map((c) => [c.id, c]));
          if (this.wantCurves.length) this.send(MB.RT_CONFIGURE, formatCurveIds(this.wantCurves.filter((c) => this.available.has(c))));
          break;
        case MB.RT_CONFIGURE: {
          const ids = parseCurveIds(m.data);
          this.active = ids.filter((id) => this.available.has(id)).map((id) => ({ cfg: this.available.get(id)!, buf: [], timeline: new WaveTimeline() }));
          this.settle(MB.RT_CONFIGURE, ids.length ? `curves ${ids.map((i) => MEDIBUS_CURVES.get(i)?.label ?? i).join(',')}` : 'stopped');
          break;
        }
        case MB.NOP:
          break;
      }
    } catch (err) {
      if (err instanceof DecodeError) {
        this.stats.decodeErrors++;
        return;
      }
      throw err;
    }
  }

  private startSession(): void {
    this.phase = 'operating';
    this.lastPollMono = 0n;
    this.send(MB.DEVICE_ID);
    if (this.wantCurves.length) this.send(MB.RT_CONFIG);
  }

  private onMeasured(d: Uint8Array): void {
    const items = parseMeasured(d);
    const t = this.host.now();
    if (items.length) this.host.setState('connected');
    for (const it of items) {
      const map = MEDIBUS_CODES.get(it.code);
      this.stats.numerics++;
      this.host.emit({
        kind: 'numeric',
        hostWallNs: t.wallNs,
        hostMonoNs: t.monoNs,
        mdcCode: map?.mdc ?? 0,
        vendorCode: it.code,
        label: map?.label ?? `0x${it.code.toString(16).padStart(2, '0')}`,
        unitCode: map?.unit.code ?? 0,
        unit: map?.unit.text ?? '',
        value: it.value,
        stateFlags: it.value === undefined ? StateFlag.INVALID : 0,
      });
    }
  }

  private onAlarms(d: Uint8Array): void {
    const items = parseAlarms(d);
    const key = items.map((a) => `${a.priority}:${a.code}:${a.text}`).join('|');
    if (key === this.alarmKey) return;
    this.alarmKey = key;
    const t = this.host.now();
    const prio = (p: number): AlarmPriority => (p >= 3 ? 'high' : p === 2 ? 'medium' : p === 1 ? 'low' : 'none');
    if (!items.length) {
      this.host.emit({ kind: 'alarm', hostWallNs: t.wallNs, hostMonoNs: t.monoNs, label: 'ALARM', alarmPriority: 'none' });
      return;
    }
    for (const a of items) {
      this.host.emit({
        kind: 'alarm',
        hostWallNs: t.wallNs,
        hostMonoNs: t.monoNs,
        label: 'ALARM',
        vendorCode: a.code,
        alarmText: a.text,
        alarmPriority: prio(a.priority),
        vendorState: a.priority,
        stateFlags: StateFlag.ALARM_ACTIVE,
      });
    }
  }

  private onRealtime(f: RealtimeFrame): void {
    this.lastRxMono = this.host.now().monoNs;
    let k = 0;
    for (let bit = 0; bit < 4; bit++) {
      if (!(f.mask & (1 << bit))) continue;
      const c = this.active[bit];
      const raw = f.values[k++]!;
      if (!c) {
        this.stats.rtUnconfigured++;
        continue;
      }
      c.buf.push(c.cfg.min + (raw * (c.cfg.max - c.cfg.min)) / 4095);
      if (c.buf.length >= this.blockSamples) this.flushCurve(c);
    }
  }

  private flushCurves(all: boolean): void {
    for (const c of this.active) if (c.buf.length && (all || c.buf.length >= this.blockSamples)) this.flushCurve(c);
  }

  private flushCurve(c: CurveState): void {
    const periodNs = BigInt(c.cfg.periodUs) * 1000n;
    const t = c.timeline.stamp(this.host.now(), c.buf.length, periodNs);
    const map = MEDIBUS_CURVES.get(c.cfg.id);
    this.stats.waveBlocks++;
    this.host.emit({
      kind: 'wave',
      hostWallNs: t.wallNs,
      hostMonoNs: t.monoNs,
      mdcCode: map?.mdc ?? 0,
      vendorCode: c.cfg.id,
      label: map?.label ?? `curve${c.cfg.id}`,
      unitCode: (map?.unit ?? Unit.NONE).code,
      unit: (map?.unit ?? Unit.NONE).text,
      samplePeriodNs: periodNs,
      samples: c.buf,
    });
    c.buf = [];
  }
}
