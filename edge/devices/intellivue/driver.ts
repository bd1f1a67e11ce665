/**
 * Philips IntelliVue Data Export session (MIB RS-232; the same application layer as LAN UDP
 * 24105): association, MDS create, extended polls of numerics and real-time waves, keep-alive,
 * silence -> re-association, remote commands that the protocol can carry.
 *
 * State machine (one enum):
 *
 *   idle --start()--> associating --AARE--> awaiting-mds --MDS create--> operating
 *     ^                  ^   | refuse: retry after RETRY_MS           |
 *     |                  +---+-------- silence / abort / release ------+
 *     +------------------------------- stop() -------------------------+
 *
 * Runs on: the device-data worker, behind DeviceDataService. Time only through DriverHost.now().
 */
import type { CommandAcceptance, CommandReporter, DriverHost, DriverOptions, ProtocolDriver } from '../driver.js';
import { DecodeError } from '../errors.js';
import { INTELLIVUE_CODES, intellivueUnit, Unit } from '../mdc.js';
import { StateFlag } from '../sample.js';
import { ClockOffsetEstimator, U32Unwrapper, WaveTimeline } from '../time-math.js';
import { encodeFrame, IntelliVueFramer } from './frame.js';
import { buildAssociationRequest, buildExtendedPoll, buildMdsCreateResult, buildReleaseRequest, buildSetRtsaPriorityList, sessionSpdu } from './build.js';
import { decodeMonitorMessage, type MdsCreate, type Observation, type PollReply, type SaObservation, type SaSpec, type ScaleSpec } from './decode.js';
import { CMD, MEAS_STATE, NOM, REL_TIME_TICK_NS, RORLS, SPDU } from './nomenclature.js';

/** Wave labels (TextId) the host can ask for by name. */
export const INTELLIVUE_WAVE_LABELS: ReadonlyMap<string, number> = new Map([
  ['ECG_II', 0x00020102],
  ['PLETH', 0x00024bb4],
  ['ABP', 0x00024a14],
  ['CO2', 0x000250ac],
]);

const MS = 1_000_000n;
/** Re-send the association request while unanswered (guide: the monitor answers within ~1 s). */
const ASSOC_RETRY_MS = 2000n;
/** Wait after a refusal before asking again. */
const REFUSED_RETRY_MS = 5000n;
/** Reference page: keep-alive (a poll or the MDS result) at most every 6 s; we use 5 s. */
const KEEPALIVE_MS = 5000n;
/** Extended poll period and the re-poll margin before it runs out. */
const POLL_PERIOD_TICKS = 240_000; // 30 s in 125 us ticks
const REPOLL_MS = 25_000n;
const DEFAULT_SILENCE_MS = 5000;

type Phase = 'idle' | 'associating' | 'awaiting-mds' | 'operating';

interface WaveSpec {
  spec?: SaSpec;
  scale?: ScaleSpec;
  periodTicks?: number;
  label?: number;
  timeline: WaveTimeline;
}

interface Pending {
  kind: 'set' | 'poll' | 'associate';
  invokeId: number;
  reporter: CommandReporter;
}

export interface IntelliVueOptions extends DriverOptions {
  /** Waves to ask for after association (names of INTELLIVUE_WAVE_LABELS); default none. */
  waves?: readonly string[];
  /** Replay: decode poll results even without having seen the association (capture mid-session). */
  passive?: boolean;
  /**
   * LAN (UDP 24105): each datagram is one message, with none of the serial framing (no
   * C0/C1 flags, escaping or FCS). The protocol stack above is the same.
   */
  datagram?: boolean;
}

export class IntelliVueDriver implements ProtocolDriver {
  readonly protocol = 'intellivue' as const;
  private readonly framer = new IntelliVueFramer();
  private readonly datagram: boolean;
  private phase: Phase = 'idle';
  private lastRxMono = 0n;
  private lastTxMono = 0n;
  private lastNumericPollMono = 0n;
  private lastWavePollMono = 0n;
  private retryAfterMono = 0n;
  private invoke = 0;
  private pollNumber = 0;
  private waveLabels: number[] = [];
  private readonly waves = new Map<number, WaveSpec>();
  private readonly relTime = new U32Unwrapper();
  private anchor: { absNs: bigint; relTicks: bigint } | undefined;
  private readonly estimator = new ClockOffsetEstimator();
  private pending: Pending[] = [];
  /** Next expected linked-part count per poll invoke id (numerics and waves interleave). */
  private readonly linkedExpect = new Map<number, number>();
  private readonly silenceNs: bigint;
  private readonly passive: boolean;
  readonly stats = {
    frames: 0,
    decodeErrors: 0,
    associations: 0,
    refusals: 0,
    reassociations: 0,
    pollReplies: 0,
    linkedParts: 0,
    linkedGaps: 0,
    wavesRefused: 0,
    numerics: 0,
    waveBlocks: 0,
    unknownMessages: 0,
  };

  constructor(private readonly host: DriverHost, opts: IntelliVueOptions = {}) {
    const silenceMs = opts.silenceMs ?? DEFAULT_SILENCE_MS;
    if (!(silenceMs > 0)) throw new RangeError(`silenceMs must be > 0, got ${silenceMs}`);
    this.silenceNs = BigInt(Math.round(silenceMs)) * MS;
    this.passive = opts.passive ?? false;
    this.datagram = opts.datagram ?? false;
    for (const w of opts.waves ?? []) {
      const id = INTELLIVUE_WAVE_LABELS.get(w);
      if (id === undefined) throw new RangeError(`unknown IntelliVue wave ${w}; known: ${[...INTELLIVUE_WAVE_LABELS.keys()].join(', ')}`);
      this.waveLabels.push(id);
    }
  }

  /** Framer counters (bad FCS, aborts, overflows, noise) merged for diagnostics. */
  framerStats(): Record<string, number> {
    return { ...this.framer.stats };
  }

  start(): void {
    this.associate();
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
    if (this.datagram) this.onFrame(chunk);
    else this.framer.push(chunk, (data) => this.onFrame(data));
  }

  tick(): void {
    const now = this.host.now().monoNs;
    switch (this.phase) {
      case 'idle':
        return;
      case 'associating':
      case 'awaiting-mds':
        if (now >= this.retryAfterMono && now - this.lastTxMono >= ASSOC_RETRY_MS * MS) this.sendAssociation();
        return;
      case 'operating':
        if (now - this.lastRxMono >= this.silenceNs) {
          this.stats.reassociations++;
          this.host.setState('silent', `no data for ${this.silenceNs / MS} ms`);
          this.associate();
          return;
        }
        if (now - this.lastNumericPollMono >= REPOLL_MS * MS) this.pollNumerics();
        if (this.waveLabels.length && now - this.lastWavePollMono >= REPOLL_MS * MS) this.pollWaves();
        if (now - this.lastTxMono >= KEEPALIVE_MS * MS) this.send(buildMdsCreateResult(0, 0));
        return;
    }
  }

  command(action: string, args: Record<string, unknown>, reporter: CommandReporter): CommandAcceptance {
    switch (action) {
      case 'waves.select': {
        const names = args['waves'];
        if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || !INTELLIVUE_WAVE_LABELS.has(n))) {
          return { kind: 'invalid', reason: `args.waves must be a list of ${[...INTELLIVUE_WAVE_LABELS.keys()].join('|')}` };
        }
        const labels = (names as string[]).map((n) => INTELLIVUE_WAVE_LABELS.get(n)!);
        if (this.phase !== 'operating') return this.failLater(reporter, 'not associated');
        this.waveLabels = labels;
        const id = this.nextInvoke();
        this.pending.push({ kind: 'set', invokeId: id, reporter });
        this.send(buildSetRtsaPriorityList(id, labels));
        reporter.started();
        return { kind: 'accepted' };
      }
      case 'poll.numerics': {
        if (this.phase !== 'operating') return this.failLater(reporter, 'not associated');
        const id = this.pollNumerics();
        this.pending.push({ kind: 'poll', invokeId: id, reporter });
        reporter.started();
        return { kind: 'accepted' };
      }
      case 'reassociate': {
        this.pending.push({ kind: 'associate', invokeId: -1, reporter });
        if (this.phase === 'operating') this.send(buildReleaseRequest());
        this.associate();
        reporter.started();
        return { kind: 'accepted' };
      }
      default:
        return { kind: 'unsupported', reason: `IntelliVue Data Export cannot execute ${action}; it supports waves.select, poll.numerics, reassociate` };
    }
  }

  // -------------------------------------------------------------------------------------------

  private failLater(reporter: CommandReporter, reason: string): CommandAcceptance {
    queueMicrotask(() => reporter.failed(reason));
    return { kind: 'accepted' };
  }

  private nextInvoke(): number {
    this.invoke = (this.invoke + 1) & 0xffff;
    return this.invoke;
  }

  private send(userData: Uint8Array): void {
    this.lastTxMono = this.host.now().monoNs;
    this.host.write(this.datagram ? userData : encodeFrame(userData));
  }

  private associate(): void {
    this.phase = 'associating';
    this.anchor = undefined;
    this.relTime.reset();
    this.linkedExpect.clear();
    for (const w of this.waves.values()) w.timeline.reset();
    this.host.setState('associating');
    this.sendAssociation();
  }

  private sendAssociation(): void {
    this.send(buildAssociationRequest());
  }

  private pollNumerics(): number {
    const id = this.nextInvoke();
    this.pollNumber = (this.pollNumber + 1) & 0xffff;
    this.lastNumericPollMono = this.host.now().monoNs;
    this.send(buildExtendedPoll(id, this.pollNumber, NOM.MOC_VMO_METRIC_NU, POLL_PERIOD_TICKS));
    return id;
  }

  private pollWaves(): number {
    const id = this.nextInvoke();
    this.pollNumber = (this.pollNumber + 1) & 0xffff;
    this.lastWavePollMono = this.host.now().monoNs;
    this.send(buildExtendedPoll(id, this.pollNumber, NOM.MOC_VMO_METRIC_SA_RT, POLL_PERIOD_TICKS));
    return id;
  }

  private onFrame(data: Uint8Array): void {
    this.stats.frames++;
    this.lastRxMono = this.host.now().monoNs;
    let msg;
    try {
      msg = decodeMonitorMessage(data);
    } catch (err) {
      if (err instanceof DecodeError) {
        this.stats.decodeErrors++;
        return;
      }
      throw err;
    }
    switch (msg.kind) {
      case 'aare':
        if (this.phase === 'associating') {
          this.phase = 'awaiting-mds';
          this.stats.associations++;
        }
        return;
      case 'refuse':
        this.stats.refusals++;
        this.retryAfterMono = this.host.now().monoNs + REFUSED_RETRY_MS * MS;
        return;
      case 'release-request':
        this.send(sessionSpdu(SPDU.RELEASE_RES, new Uint8Array(0)));
        this.associate();
        return;
      case 'abort':
      case 'release-result':
        if (this.phase === 'operating') this.associate();
        return;
      case 'mds-create':
        this.onMdsCreate(msg.mds);
        return;
      case 'poll':
        this.onPoll(msg.poll);
        return;
      case 'result':
        if (msg.commandType === CMD.CONFIRMED_SET) this.settle('set', msg.invokeId, true);
        return;
      case 'error':
        this.settle(undefined, msg.invokeId, false, `monitor error 0x${msg.errorValue.toString(16)}`);
        return;
      case 'other':
        this.stats.unknownMessages++;
        return;
    }
  }

  private settle(kind: Pending['kind'] | undefined, invokeId: number, ok: boolean, reason = ''): void {
    const i = this.pending.findIndex((p) => p.invokeId === invokeId && (kind === undefined || p.kind === kind));
    if (i < 0) return;
    const [p] = this.pending.splice(i, 1);
    if (ok) p!.reporter.finished();
    else p!.reporter.failed(reason);
  }

  private onMdsCreate(mds: MdsCreate): void {
    // The monitor repeats the report until it gets the result; answer every copy.
    this.send(buildMdsCreateResult(mds.invokeId, mds.eventTime));
    if (this.phase === 'operating') return;
    const rel = mds.relTime ?? mds.eventTime;
    this.relTime.reset();
    const relExt = this.relTime.push(rel);
    this.anchor = mds.absTime ? { absNs: mds.absTime.ns, relTicks: relExt } : undefined;
    if (mds.model || mds.systemId) this.host.setDeviceId([mds.model, mds.systemId].filter(Boolean).join(' '));
    this.phase = 'operating';
    this.pollNumerics();
    if (this.waveLabels.length) {
      this.send(buildSetRtsaPriorityList(this.nextInvoke(), this.waveLabels));
      this.pollWaves();
    }
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if (this.pending[i]!.kind === 'associate') this.pending.splice(i, 1)[0]!.reporter.finished();
    }
  }

  private deviceTime(relTime: number, abs: { ns: bigint } | undefined): bigint {
    const ext = this.relTime.push(relTime);
    if (this.anchor) return this.anchor.absNs + (ext - this.anchor.relTicks) * REL_TIME_TICK_NS;
    return abs?.ns ?? 0n;
  }

  private onPoll(poll: PollReply): void {
    if (this.phase !== 'operating' && !this.passive) return;
    this.stats.pollReplies++;
    if (poll.linked) {
      this.stats.linkedParts++;
      // Linked parts count up from 1 within one reply series; a jump means a lost part.
      const expect = this.linkedExpect.get(poll.invokeId);
      if (poll.linked.state !== RORLS.FIRST && expect !== undefined && poll.linked.count !== (expect & 0xff)) this.stats.linkedGaps++;
      if (poll.linked.state === RORLS.LAST) this.linkedExpect.delete(poll.invokeId);
      else this.linkedExpect.set(poll.invokeId, poll.linked.count + 1);
    }
    this.settle('poll', poll.invokeId, true);
    const arrival = this.host.now();
    const deviceNs = this.deviceTime(poll.relTime, poll.absTime);
    this.estimator.add(arrival.wallNs, deviceNs);
    if (poll.observations.length) this.host.setState('connected');
    for (const o of poll.observations) {
      this.rememberWaveSpec(o);
      for (const nu of o.numerics) this.emitNumeric(nu, arrival, deviceNs);
      if (o.wave) this.emitWave(o, o.wave, arrival, deviceNs);
      if (o.waves) for (const w of o.waves) this.emitWave(o, w, arrival, deviceNs);
    }
  }

  private rememberWaveSpec(o: Observation): void {
    if (!o.saSpec && !o.scale && o.samplePeriodTicks === undefined && o.label === undefined) return;
    let w = this.waves.get(o.handle);
    if (!w) {
      w = { timeline: new WaveTimeline() };
      this.waves.set(o.handle, w);
    }
    if (o.saSpec) w.spec = o.saSpec;
    if (o.scale) w.scale = o.scale;
    if (o.samplePeriodTicks !== undefined) w.periodTicks = o.samplePeriodTicks;
    if (o.label !== undefined) w.label = o.label;
  }

  private emitNumeric(nu: Observation['numerics'][number], arrival: { wallNs: bigint; monoNs: bigint }, deviceNs: bigint): void {
    const map = INTELLIVUE_CODES.get(nu.physioId);
    const unit = nu.unitCode ? intellivueUnit(nu.unitCode) : (map?.unit ?? Unit.NONE);
    let flags = stateFlags(nu.state);
    if (nu.value.special) flags |= StateFlag.INVALID;
    this.stats.numerics++;
    this.host.emit({
      kind: 'numeric',
      hostWallNs: arrival.wallNs,
      hostMonoNs: arrival.monoNs,
      deviceTimeNs: deviceNs,
      mdcCode: map?.mdc ?? 0,
      vendorCode: nu.physioId,
      label: map?.label ?? `0x${nu.physioId.toString(16).padStart(4, '0')}`,
      unitCode: unit.code,
      unit: unit.text,
      value: nu.value.special ? undefined : nu.value.value,
      stateFlags: flags,
      vendorState: nu.state,
    });
  }

  private emitWave(o: Observation, sa: SaObservation, arrival: { wallNs: bigint; monoNs: bigint }, deviceNs: bigint): void {
    const w = this.waves.get(o.handle);
    // Reference page: refuse a wave until spec, scale and period are known (no guessed defaults).
    if (!w || !w.spec || !w.scale || !w.periodTicks || w.scale.upperScaled === w.scale.lowerScaled) {
      this.stats.wavesRefused++;
      return;
    }
    const periodNs = BigInt(w.periodTicks) * REL_TIME_TICK_NS;
    const bits = Math.min(16, Math.max(1, w.spec.significantBits));
    const mask = bits >= 16 ? 0xffff : (1 << bits) - 1;
    const { lowerAbs, upperAbs, lowerScaled, upperScaled } = w.scale;
    const k = (upperAbs - lowerAbs) / (upperScaled - lowerScaled);
    const samples = new Array<number>(sa.raw.length);
    for (let i = 0; i < sa.raw.length; i++) samples[i] = lowerAbs + ((sa.raw[i]! & mask) - lowerScaled) * k;
    const t = w.timeline.stamp(arrival, samples.length, periodNs);
    const map = INTELLIVUE_CODES.get(sa.physioId);
    this.stats.waveBlocks++;
    this.host.emit({
      kind: 'wave',
      hostWallNs: t.wallNs,
      hostMonoNs: t.monoNs,
      deviceTimeNs: deviceNs === 0n ? 0n : deviceNs - BigInt(samples.length) * periodNs,
      mdcCode: map?.mdc ?? 0,
      vendorCode: sa.physioId,
      label: map?.label ?? `0x${sa.physioId.toString(16).padStart(4, '0')}`,
      unitCode: map?.unit.code ?? 0,
      unit: map?.unit.text ?? '',
      stateFlags: stateFlags(sa.state),
      vendorState: sa.state,
      samplePeriodNs: periodNs,
      samples,
    });
  }
}

/** MeasurementState -> normalised StateFlag bits (the raw word is kept as vendorState). */
export function stateFlags(state: number): number {
  let f = 0;
  if (state & MEAS_STATE.INVALID) f |= StateFlag.INVALID;
  if (state & MEAS_STATE.QUESTIONABLE) f |= StateFlag.QUESTIONABLE;
  if (state & MEAS_STATE.UNAVAILABLE) f |= StateFlag.UNAVAILABLE;
  if (state & MEAS_STATE.CALIBRATION_ONGOING) f |= StateFlag.CALIBRATING;
  if (state & MEAS_STATE.TEST_DATA) f |= StateFlag.TEST_DATA;
  if (state & MEAS_STATE.DEMO_DATA) f |= StateFlag.DEMO_DATA;
  if (state & MEAS_STATE.MSMT_STATE_IN_ALARM) f |= StateFlag.ALARM_ACTIVE;
  return f;
}
