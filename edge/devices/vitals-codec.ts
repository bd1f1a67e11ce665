/**
 * VitalSample <-> protobuf bytes (edge/proto/vitals.proto, message orbox.vitals.v1.VitalSample):
 * the payload of a vitals ring record, of a vitals track record and of the fleet link.
 *
 * 64-bit fields (seq, times) are bigint on our side; protobufjs converts them through
 * fromObject / toObject({ longs: BigInt }) so no precision is lost past 2^53 ns.
 * The schema is read once from the .proto file in the repository (one schema, no copy).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { AlarmPriority, Protocol, SampleKind, VitalSample } from './sample.js';

const PROTO_REL = join('edge', 'proto', 'vitals.proto');

/** Finds edge/proto/vitals.proto from this module, compiled (dist/edge/devices) or not. */
export function vitalsProtoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, PROTO_REL);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error(`${PROTO_REL} not found above ${dirname(fileURLToPath(import.meta.url))}`);
}

let cached: protobuf.Type | undefined;
function vitalType(): protobuf.Type {
  if (!cached) {
    const root = protobuf.parse(readFileSync(vitalsProtoPath(), 'utf8'), { keepCase: false }).root;
    cached = root.lookupType('orbox.vitals.v1.VitalSample');
  }
  return cached;
}

const KIND: Record<SampleKind, string> = { numeric: 'NUMERIC', wave: 'WAVE', alarm: 'ALARM', gap: 'GAP' };
const KIND_BACK: Record<string, SampleKind> = { NUMERIC: 'numeric', WAVE: 'wave', ALARM: 'alarm', GAP: 'gap' };
const PROTO: Record<Protocol, string> = { intellivue: 'INTELLIVUE', s5: 'S5', medibus: 'MEDIBUS' };
const PROTO_BACK: Record<string, Protocol> = { INTELLIVUE: 'intellivue', S5: 's5', MEDIBUS: 'medibus' };
const PRIO: Record<AlarmPriority, string> = { none: 'ALARM_NONE', low: 'ALARM_LOW', medium: 'ALARM_MEDIUM', high: 'ALARM_HIGH' };
const PRIO_BACK: Record<string, AlarmPriority> = { ALARM_NONE: 'none', ALARM_LOW: 'low', ALARM_MEDIUM: 'medium', ALARM_HIGH: 'high', ALARM_PRIORITY_UNSPECIFIED: 'none' };

/** Encodes one sample; the bytes are a complete VitalSample message. */
export function encodeVitalSample(s: VitalSample): Uint8Array {
  const T = vitalType();
  const msg = T.fromObject({
    kind: KIND[s.kind],
    port: s.port,
    protocol: PROTO[s.protocol],
    seq: s.seq,
    hostWallNs: s.hostWallNs,
    hostMonoNs: s.hostMonoNs,
    deviceTimeNs: s.deviceTimeNs,
    mdcCode: s.mdcCode,
    vendorCode: s.vendorCode,
    label: s.label,
    unitCode: s.unitCode,
    unit: s.unit,
    ...(s.value !== undefined ? { value: s.value } : {}),
    stateFlags: s.stateFlags,
    vendorState: s.vendorState,
    samplePeriodNs: s.samplePeriodNs,
    samples: s.samples,
    alarmText: s.alarmText,
    alarmPriority: PRIO[s.alarmPriority],
    gapStartNs: s.gapStartNs,
    gapEndNs: s.gapEndNs,
    gapReason: s.gapReason,
    deviceId: s.deviceId,
  });
  return T.encode(msg).finish();
}

/** Decodes one sample; throws (protobufjs error) on bytes that are not a VitalSample. */
export function decodeVitalSample(bytes: Uint8Array): VitalSample {
  const T = vitalType();
  const m = T.decode(bytes);
  const o = T.toObject(m, { longs: BigInt, enums: String, defaults: true, arrays: true }) as Record<string, unknown>;
  const big = (v: unknown) => (typeof v === 'bigint' ? v : BigInt((v as number | string | undefined) ?? 0));
  const s: VitalSample = {
    kind: KIND_BACK[o['kind'] as string] ?? 'numeric',
    port: o['port'] as string,
    protocol: PROTO_BACK[o['protocol'] as string] ?? 'intellivue',
    seq: big(o['seq']),
    hostWallNs: big(o['hostWallNs']),
    hostMonoNs: big(o['hostMonoNs']),
    deviceTimeNs: big(o['deviceTimeNs']),
    mdcCode: o['mdcCode'] as number,
    vendorCode: o['vendorCode'] as number,
    label: o['label'] as string,
    unitCode: o['unitCode'] as number,
    unit: o['unit'] as string,
    stateFlags: o['stateFlags'] as number,
    vendorState: o['vendorState'] as number,
    samplePeriodNs: big(o['samplePeriodNs']),
    samples: o['samples'] as number[],
    alarmText: o['alarmText'] as string,
    alarmPriority: PRIO_BACK[o['alarmPriority'] as string] ?? 'none',
    gapStartNs: big(o['gapStartNs']),
    gapEndNs: big(o['gapEndNs']),
    gapReason: o['gapReason'] as string,
    deviceId: o['deviceId'] as string,
  };
  // proto3 `optional`: present only when set (defaults:true would report 0 otherwise).
  const decoded = m as unknown as Record<string, unknown>;
  if (Object.prototype.hasOwnProperty.call(decoded, 'value') && decoded['value'] !== null && decoded['value'] !== undefined) s.value = decoded['value'] as number;
  return s;
}

/** A sample as plain JSON (bigints as decimal strings), for --json output and logs. */
export function sampleToJson(s: VitalSample): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (typeof v === 'bigint') o[k] = v.toString();
    else if (typeof v === 'number' && !Number.isFinite(v)) o[k] = null;
    else if (Array.isArray(v)) o[k] = v.map((x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x));
    else o[k] = v;
  }
  return o;
}
