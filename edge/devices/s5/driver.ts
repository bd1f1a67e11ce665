/**
 * GE S/5 Computer Interface session: requests displayed values (per DRI level while the
 * monitor's level is unknown), optionally waveforms, decodes physiological, wave and alarm
 * records, re-requests on silence.
 *
 * States: idle -> associating (requests sent, no record yet) -> operating (records arrive);
 * silence in operating -> associating again (setState 'silent', requests re-sent every
 * RETRY_MS). The interface never acknowledges a request: a command is finished when the data
 * it asked for arrives, or at once for a stop (there is nothing to wait for).
 *
 * Runs on: the device-data worker, behind DeviceDataService.
 */
import type { CommandAcceptance, CommandReporter, DriverHost, DriverOptions, ProtocolDriver } from '../driver.js';
import { DecodeError } from '../errors.js';
import { S5_AMBIENT_PRESSURE_OFFSET, S5_BASIC_FIELDS, S5_GROUP_OF, S5_WAVES, Unit } from '../mdc.js';
import { StateFlag, type AlarmPriority } from '../sample.js';
import { ClockOffsetEstimator, WaveTimeline } from '../time-math.js';
import { encodeS5Frame, S5Framer } from './frame.js';
import {
  buildPhdbRequest,
  buildWaveRequest,
  DATA_INVALID_LIMIT,
  DRI_LEVELS_NEWEST_FIRST,
  i16At,
  MAINTYPE,
  parseAlarms,
  parseHeader,
  parsePhdb,
  parseWave,
  PH_SUBTYPE,
  u32At,
} from './record.js';

export const S5_WAVE_NAMES: ReadonlyMap<string, number> = new Map([...S5_WAVES].map(([id, w]) => [w.label, id]));

const MS = 1_000_000n;
const RETRY_MS = 5000n;

export interface S5Options extends DriverOptions {
  /** Displayed-values interval in seconds (1..3600, default 5). */
  intervalS?: number;
  /** Waves to request at start (names of S5_WAVE_NAMES). */
  waves?: readonly string[];
}

interface Pending {
  kind: 'waves' | 'phdb';
  reporter: CommandReporter;
}

/** Invalid-value code -> normalised flags. */
function invalidFlags(raw: number): number {
  switch (raw) {
    case -32766: return StateFlag.NOT_UPDATED | StateFlag.INVALID;
    case -32765: return StateFlag.QUESTIONABLE | StateFlag.INVALID;
    case -32764:
    case -32763: return StateFlag.OUT_OF_RANGE | StateFlag.INVALID;
    case -32762: return StateFlag.CALIBRATING | StateFlag.INVALID;
    default: return StateFlag.INVALID;
  }
}

export class S5Driver implements ProtocolDriver {
  readonly protocol = 's5' as const;
  private readonly framer = new S5Framer();
  private phase: 'idle' | 'associating' | 'operating' = 'idle';
  private driLevel: number | undefined;
  private lastRxMono = 0n;
  private lastTxMono = 0n;
  private intervalS: number;
  private waveIds: number[] = [];
  private readonly timelines = new Map<number, WaveTimeline>();
  private readonly estimator = new ClockOffsetEstimator();
  private pending: Pending[] = [];
  private readonly silenceNs: bigint;
  private alarmTexts = '';
  readonly stats = { records: 0, decodeErrors: 0, phdb: 0, waves: 0, alarms: 0, otherClasses: 0, unknownWaves: 0, rerequests: 0 };

  constructor(private readonly host: DriverHost, opts: S5Options = {}) {
    this.intervalS = opts.intervalS ?? 5;
    if (!Number.isInteger(this.intervalS) || this.intervalS < 1 || this.intervalS > 3600) throw new RangeError(`intervalS must be 1..3600, got ${opts.intervalS}`);
    for (const w of opts.waves ?? []) {
      const id = S5_WAVE_NAMES.get(w);
      if (id === undefined) throw new RangeError(`unknown S/5 wave ${w}; known: ${[...S5_WAVE_NAMES.keys()].join(', ')}`);
      this.waveIds.push(id);
    }
    const silenceMs = opts.silenceMs ?? Math.max(5000, 3 * this.intervalS * 1000);
    if (!(silenceMs > 0)) throw new RangeError(`silenceMs must be > 0, got ${silenceMs}`);
    this.silenceNs = BigInt(Math.round(silenceMs)) * MS;
  }

  framerStats(): Record<string, number> {
    return { ...this.framer.stats };
  }

  start(): void {
    this.phase = 'associating';
    this.host.setState('associating');
    this.sendRequests();
  }

  stop(reason: string): void {
    this.phase = 'idle';
    this.framer.reset();
    for (const p of this.pending) p.reporter.failed(`session ended: ${reason}`);
    this.pending = [];
  }

  clockEstimate(): { offsetNs?: bigint; driftPpm?: number } {
    return { offsetNs: this.estimator.offsetNs(), driftPpm: this.estimator.driftPpm() };
  }

  receive(chunk: Uint8Array): void {
    this.framer.push(chunk, (rec) => this.onRecord(rec));
  }

  tick(): void {
    const now = this.host.now().monoNs;
    if (this.phase === 'operating' && now - this.lastRxMono >= this.silenceNs) {
      this.phase = 'associating';
      this.host.setState('silent', `no record for ${this.silenceNs / MS} ms`);
      this.stats.rerequests++;
      this.sendRequests();
      return;
    }
    if (this.phase === 'associating' && now - this.lastTxMono >= RETRY_MS * MS) {
      this.stats.rerequests++;
      this.sendRequests();
    }
  }

  command(action: string, args: Record<string, unknown>, reporter: CommandReporter): CommandAcceptance {
    switch (action) {
      case 'waves.start': {
        const names = args['waves'];
        if (!Array.isArray(names) || names.length === 0 || names.length > 8 || names.some((n) => typeof n !== 'string' || !S5_WAVE_NAMES.has(n))) {
          return { kind: 'invalid', reason: `args.waves must be 1..8 of ${[...S5_WAVE_NAMES.keys()].join('|')}` };
        }
        this.waveIds = (names as string[]).map((n) => S5_WAVE_NAMES.get(n)!);
        this.pending.push({ kind: 'waves', reporter });
        this.sendWaveRequest(true);
        reporter.started();
        return { kind: 'accepted' };
      }
      case 'waves.stop':
        this.waveIds = [];
        this.sendWaveRequest(false);
        reporter.started();
        // The interface never answers a request; a stop has nothing to wait for.
        queueMicrotask(() => reporter.finished('sent; the S/5 interface does not acknowledge requests'));
        return { kind: 'accepted' };
      case 'displayed.interval': {
        const s = args['seconds'];
        if (typeof s !== 'number' || !Number.isInteger(s) || s < 1 || s > 3600) return { kind: 'invalid', reason: 'args.seconds must be an integer 1..3600' };
        this.intervalS = s;
        this.pending.push({ kind: 'phdb', reporter });
        this.sendPhdbRequest();
        reporter.started();
        return { kind: 'accepted' };
      }
      default:
        return { kind: 'unsupported', reason: `the S/5 Computer Interface cannot execute ${action}; it supports waves.start, waves.stop, displayed.interval` };
    }
  }

  // -------------------------------------------------------------------------------------------

  private levels(): readonly number[] {
    return this.driLevel !== undefined ? [this.driLevel] : DRI_LEVELS_NEWEST_FIRST;
  }

  private write(record: Uint8Array): void {
    this.lastTxMono = this.host.now().monoNs;
    this.host.write(encodeS5Frame(record));
  }

  private sendPhdbRequest(): void {
    for (const l of this.levels()) this.write(buildPhdbRequest(l, this.intervalS));
  }

  private sendWaveRequest(start: boolean): void {
    for (const l of this.levels()) this.write(buildWaveRequest(l, start, start ? this.waveIds : []));
  }

  private sendRequests(): void {
    this.sendPhdbRequest();
    if (this.waveIds.length) this.sendWaveRequest(true);
  }

  private settle(kind: Pending['kind']): void {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if (this.pending[i]!.kind === kind) this.pending.splice(i, 1)[0]!.reporter.finished();
    }
  }

  private onRecord(rec: Uint8Array): void {
    this.lastRxMono = this.host.now().monoNs;
    let h;
    try {
      h = parseHeader(rec);
      this.stats.records++;
      if (this.driLevel === undefined) this.driLevel = h.driLevel;
      if (this.phase !== 'operating') this.phase = 'operating';
      this.host.setState('connected');
      const arrival = this.host.now();
      const deviceNs = BigInt(h.rTime) * 1_000_000_000n;
      switch (h.mainType) {
        case MAINTYPE.PHDB:
          this.estimator.add(arrival.wallNs, deviceNs);
          for (const sr of h.subrecords) if (sr.type === PH_SUBTYPE.DISPL) this.onPhdb(rec, sr, arrival, deviceNs);
          this.settle('phdb');
          break;
        case MAINTYPE.WAVE:
          for (const sr of h.subrecords) this.onWave(rec, sr, arrival, deviceNs);
          this.settle('waves');
          break;
        case MAINTYPE.ALARM:
          for (const sr of h.subrecords) if (sr.type === 1) this.onAlarm(rec, sr, arrival, deviceNs);
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

  private onPhdb(rec: Uint8Array, sr: { offset: number; length: number }, arrival: { wallNs: bigint; monoNs: bigint }, deviceNs: bigint): void {
    const ph = parsePhdb(rec, sr);
    if (ph.classId !== 0) {
      this.stats.otherClasses++;
      return;
    }
    this.stats.phdb++;
    const b = ph.block;
    const amb = i16At(b, S5_AMBIENT_PRESSURE_OFFSET);
    for (const f of S5_BASIC_FIELDS) {
      const group = S5_GROUP_OF.get(f.offset) ?? 0;
      // Group status bit 0: the measurement module exists; absent modules send nothing useful.
      if ((u32At(b, group) & 1) === 0) continue;
      const raw = i16At(b, f.offset);
      let value: number | undefined;
      let flags = 0;
      let unit: { code: number; text: string } = f.unit;
      if (raw < DATA_INVALID_LIMIT) flags = invalidFlags(raw);
      else if (f.label === 'EtCO2') {
        if (amb >= DATA_INVALID_LIMIT && amb > 0) value = round3((raw * f.scale / 100) * (amb * 0.1));
        else {
          value = raw * f.scale;
          unit = Unit.PERCENT;
        }
      } else value = round3(raw * f.scale);
      this.host.emit({
        kind: 'numeric',
        hostWallNs: arrival.wallNs,
        hostMonoNs: arrival.monoNs,
        deviceTimeNs: deviceNs,
        mdcCode: f.mdc,
        vendorCode: f.offset,
        label: f.label,
        unitCode: unit.code,
        unit: unit.text,
        value,
        stateFlags: flags,
        vendorState: raw & 0xffff,
      });
    }
  }

  private onWave(rec: Uint8Array, sr: { offset: number; type: number; length: number }, arrival: { wallNs: bigint; monoNs: bigint }, deviceNs: bigint): void {
    const w = parseWave(rec, sr);
    const def = S5_WAVES.get(w.waveId);
    if (!def) {
      // No period known for this wave id: refuse rather than guess (reference page).
      this.stats.unknownWaves++;
      return;
    }
    this.stats.waves++;
    let tl = this.timelines.get(w.waveId);
    if (!tl) this.timelines.set(w.waveId, (tl = new WaveTimeline()));
    const t = tl.stamp(arrival, w.samples.length, def.periodNs);
    let flags = 0;
    const samples = new Array<number>(w.samples.length);
    for (let i = 0; i < w.samples.length; i++) {
      const s = w.samples[i]!;
      if (s < DATA_INVALID_LIMIT) {
        samples[i] = NaN;
        flags |= StateFlag.QUESTIONABLE;
      } else samples[i] = s * def.scale;
    }
    this.host.emit({
      kind: 'wave',
      hostWallNs: t.wallNs,
      hostMonoNs: t.monoNs,
      deviceTimeNs: deviceNs,
      mdcCode: def.mdc,
      vendorCode: w.waveId,
      label: def.label,
      unitCode: def.unit.code,
      unit: def.unit.text,
      stateFlags: flags,
      vendorState: w.status,
      samplePeriodNs: def.periodNs,
      samples,
    });
  }

  private onAlarm(rec: Uint8Array, sr: { offset: number; length: number }, arrival: { wallNs: bigint; monoNs: bigint }, deviceNs: bigint): void {
    const al = parseAlarms(rec, sr);
    const shown = al.lines.filter((l) => l.text && l.color > 0);
    const key = shown.map((l) => `${l.color}:${l.text}`).join('|');
    // The monitor repeats its alarm display every record; emit on change only.
    if (key === this.alarmTexts) return;
    this.alarmTexts = key;
    this.stats.alarms++;
    const prio = (c: number): AlarmPriority => (c >= 3 ? 'high' : c === 2 ? 'medium' : c === 1 ? 'low' : 'none');
    if (shown.length === 0) {
      this.host.emit({ kind: 'alarm', hostWallNs: arrival.wallNs, hostMonoNs: arrival.monoNs, deviceTimeNs: deviceNs, label: 'ALARM', alarmText: '', alarmPriority: 'none' });
      return;
    }
    for (const l of shown) {
      this.host.emit({
        kind: 'alarm',
        hostWallNs: arrival.wallNs,
        hostMonoNs: arrival.monoNs,
        deviceTimeNs: deviceNs,
        label: 'ALARM',
        alarmText: l.text,
        alarmPriority: prio(l.color),
        vendorState: l.color,
        stateFlags: StateFlag.ALARM_ACTIVE,
      });
    }
  }
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
