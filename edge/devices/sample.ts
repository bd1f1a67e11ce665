/**
 * Normalised vitals samples and device-data events: the shapes every driver produces and the
 * device-data worker puts on the vitals ring (encoded by vitals-codec.ts with
 * edge/proto/vitals.proto).
 *
 * Runs on: the device-data worker (producer), any reader of the ring or of a vitals track.
 * Units: times are ns as bigint on the box clock (edge/lib/clock.ts); device time is the
 * device's own clock as Unix ns (0n = the protocol gives none).
 */

export type Protocol = 'intellivue' | 's5' | 'medibus';
export const PROTOCOLS: readonly Protocol[] = ['intellivue', 's5', 'medibus'];

export type SampleKind = 'numeric' | 'wave' | 'alarm' | 'gap';
export type AlarmPriority = 'none' | 'low' | 'medium' | 'high';

/** Normalised measurement-state bits (the device's own word is kept in `vendorState`). */
export const StateFlag = {
  INVALID: 1,
  QUESTIONABLE: 2,
  UNAVAILABLE: 4,
  CALIBRATING: 8,
  TEST_DATA: 16,
  DEMO_DATA: 32,
  OUT_OF_RANGE: 64,
  NOT_UPDATED: 128,
  ALARM_ACTIVE: 256,
  /** Set by the box on every sample of a port configured `simulated` (the demo's monitor): no patient. */
  SIMULATED: 512,
} as const;

export interface VitalSample {
  kind: SampleKind;
  port: string;
  protocol: Protocol;
  /** Per port, +1 per sample (gaps included), never reset while the service runs. */
  seq: bigint;
  /** Box wall clock at capture; for a wave block, of its first sample. */
  hostWallNs: bigint;
  hostMonoNs: bigint;
  /** Device clock as Unix ns, 0n when the protocol gives none. */
  deviceTimeNs: bigint;
  /** IEEE 11073-10101 code, 0 = unmapped (the vendor code is always kept). */
  mdcCode: number;
  vendorCode: number;
  label: string;
  unitCode: number;
  unit: string;
  /** Numeric value; undefined when the device said the value is no number (state in flags). */
  value?: number;
  stateFlags: number;
  vendorState: number;
  /** Wave: ns between samples (0 otherwise). */
  samplePeriodNs: bigint;
  /** Wave: physical values in `unit`. */
  samples: number[];
  alarmText: string;
  alarmPriority: AlarmPriority;
  gapStartNs: bigint;
  /** 0n while the gap is open. */
  gapEndNs: bigint;
  gapReason: string;
  deviceId: string;
}

/** What a driver hands to the service: the service adds port, protocol, seq and the id. */
export type SampleDraft = Partial<Omit<VitalSample, 'port' | 'protocol' | 'seq'>> &
  Pick<VitalSample, 'kind' | 'hostWallNs' | 'hostMonoNs'>;

/** Fills the defaults of a draft; one place so every producer emits complete samples. */
export function completeSample(d: SampleDraft, port: string, protocol: Protocol, seq: bigint): VitalSample {
  return {
    kind: d.kind,
    port,
    protocol,
    seq,
    hostWallNs: d.hostWallNs,
    hostMonoNs: d.hostMonoNs,
    deviceTimeNs: d.deviceTimeNs ?? 0n,
    mdcCode: d.mdcCode ?? 0,
    vendorCode: d.vendorCode ?? 0,
    label: d.label ?? '',
    unitCode: d.unitCode ?? 0,
    unit: d.unit ?? '',
    value: d.value,
    stateFlags: d.stateFlags ?? 0,
    vendorState: d.vendorState ?? 0,
    samplePeriodNs: d.samplePeriodNs ?? 0n,
    samples: d.samples ?? [],
    alarmText: d.alarmText ?? '',
    alarmPriority: d.alarmPriority ?? 'none',
    gapStartNs: d.gapStartNs ?? 0n,
    gapEndNs: d.gapEndNs ?? 0n,
    gapReason: d.gapReason ?? '',
    deviceId: d.deviceId ?? '',
  };
}

/**
 * Connection state of one port, one enum (no boolean soup):
 * - connecting: the port is being opened (or reopened after it went away)
 * - associating: the port is open, the driver is establishing its session with the device
 * - connected: the device is sending data
 * - silent: the port is open but nothing came for the driver's silence limit; the driver
 *   re-establishes the session by itself
 * - disconnected: the port went away (cable or adapter pulled); the service reopens it
 * - closed: close() was called
 */
export type ConnectionState = 'connecting' | 'associating' | 'connected' | 'silent' | 'disconnected' | 'closed';
