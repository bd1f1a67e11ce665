/**
 * Philips IntelliVue Data Export: what the monitor sends, decoded (Data Export Interface
 * Programming Guide: "Association Control", "Data Export Protocol", "Remote Operation" and "Poll"
 * sections). Everything is big-endian.
 *
 * Message shapes handled here (all lengths are explicit and checked before each read):
 *
 *   session SPDU     first byte 0x0D AARQ, 0x0E AARE (accepted), 0x0C refuse, 0x09 release
 *                    request, 0x0A release result, 0x19 abort; then a length indicator (LI)
 *   data export      SPpdu { session_id u16 = 0xE100, p_context_id u16 }
 *                    ROapdus { ro_type u16, length u16 }
 *                      ro_type 1 ROIV  { invoke_id u16, command_type u16, length u16 } argument
 *                      ro_type 2 RORS  { invoke_id u16, command_type u16, length u16 } result
 *                      ro_type 3 ROER  { invoke_id u16, error_value u16, length u16 }
 *                      ro_type 5 ROLRS { state u8, count u8 } + RORS (linked result part)
 *   poll reply (ext) ActionResult { managed_object 6, action_type u16, length u16 }
 *                    PollMdibDataReplyExt { poll_number u16, sequence_no u16, rel_time u32,
 *                      abs_time 8 (BCD), polled_obj_type {partition u16, code u16},
 *                      polled_attr_grp u16, PollInfoList }
 *                    PollInfoList = {count u16, length u16} SingleContextPoll*
 *                    SingleContextPoll = {context_id u16, count u16, length u16} ObservationPoll*
 *                    ObservationPoll = {obj_handle u16, AttributeList}
 *                    AttributeList = {count u16, length u16} {attribute_id u16, length u16, value}*
 *
 * Pure: bytes in, plain objects out. Errors: DecodeError (with the offset) when a structure does
 * not fit; each attribute value is read through a bounded sub-reader, so a bad length cannot
 * overrun into the next.
 */
import { DecodeError, FrameReader } from '../errors.js';
import { type AbsTime, decodeAbsTime } from './abs-time.js';
import { decodeFloat, type DecodedFloat } from './float.js';
import { CMD, NOM, RO, SESSION_ID, SPDU } from './nomenclature.js';

export interface Attribute {
  id: number;
  /** Reader over the value bytes only. */
  value: FrameReader;
}

/** Reads an AttributeList; each value is a bounded sub-reader so a bad length cannot overrun. */
export function readAttributeList(r: FrameReader): Attribute[] {
  const count = r.u16be('AttributeList.count');
  const len = r.u16be('AttributeList.length');
  const body = r.sub(len, 'AttributeList');
  const out: Attribute[] = [];
  for (let i = 0; i < count; i++) {
    const id = body.u16be('AVAType.attribute_id');
    const n = body.u16be('AVAType.length');
    out.push({ id, value: body.sub(n, `attribute 0x${id.toString(16)}`) });
  }
  return out;
}

export interface NuObservation {
  physioId: number;
  state: number;
  unitCode: number;
  value: DecodedFloat;
}
export function readNuObs(r: FrameReader): NuObservation {
  const physioId = r.u16be('NuObsValue.physio_id');
  const state = r.u16be('NuObsValue.state');
  const unitCode = r.u16be('NuObsValue.unit_code');
  const value = decodeFloat(r.u32be('NuObsValue.value'));
  return { physioId, state, unitCode, value };
}

export interface SaSpec {
  arraySize: number;
  sampleSize: number;
  significantBits: number;
  flags: number;
}
export interface ScaleSpec {
  lowerAbs: number;
  upperAbs: number;
  lowerScaled: number;
  upperScaled: number;
}
export interface SaObservation {
  physioId: number;
  state: number;
  /** Raw samples as sent (16-bit), unmasked. */
  raw: Uint16Array;
}

/** One observed object of a poll result, with the attributes this driver understands. */
export interface Observation {
  handle: number;
  label?: number;
  labelString?: string;
  numerics: NuObservation[];
  wave?: SaObservation;
  waves?: SaObservation[];
  saSpec?: SaSpec;
  scale?: ScaleSpec;
  samplePeriodTicks?: number;
  relTime?: number;
  absTime?: AbsTime;
  unitCode?: number;
  /** Attribute ids seen but not decoded (kept for diagnostics). */
  other: number[];
}

function readSaObs(r: FrameReader): SaObservation {
  const physioId = r.u16be('SaObsValue.physio_id');
  const state = r.u16be('SaObsValue.state');
  const n = r.u16be('SaObsValue.length');
  if (n % 2 !== 0) throw new DecodeError('intellivue', r.pos, `sample array of odd length ${n}`);
  r.need(n, 'SaObsValue.array');
  const raw = new Uint16Array(n / 2);
  for (let i = 0; i < raw.length; i++) raw[i] = (r.buf[r.pos + 2 * i]! << 8) | r.buf[r.pos + 2 * i + 1]!;
  r.pos += n;
  return { physioId, state, raw };
}

function readLabelString(r: FrameReader): string {
  const n = r.u16be('String.length');
  r.need(n, 'String.value');
  let s = '';
  for (let i = 0; i + 1 < n; i += 2) {
    const c = (r.buf[r.pos + i]! << 8) | r.buf[r.pos + i + 1]!;
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  r.pos += n;
  return s;
}

export function decodeObservation(handle: number, attrs: Attribute[]): Observation {
  const o: Observation = { handle, numerics: [], other: [] };
  for (const a of attrs) {
    const v = a.value;
    switch (a.id) {
      case NOM.ATTR_NU_VAL_OBS:
        o.numerics.push(readNuObs(v));
        break;
      case NOM.ATTR_NU_CMPD_VAL_OBS: {
        const count = v.u16be('NuObsValueCmp.count');
        v.u16be('NuObsValueCmp.length');
        for (let i = 0; i < count; i++) o.numerics.push(readNuObs(v));
        break;
      }
      case NOM.ATTR_SA_VAL_OBS:
        o.wave = readSaObs(v);
        break;
      case NOM.ATTR_SA_CMPD_VAL_OBS: {
        const count = v.u16be('SaObsValueCmp.count');
        v.u16be('SaObsValueCmp.length');
        o.waves = [];
        for (let i = 0; i < count; i++) o.waves.push(readSaObs(v));
        break;
      }
      case NOM.ATTR_SA_SPECN:
        o.saSpec = { arraySize: v.u16be(), sampleSize: v.u8(), significantBits: v.u8(), flags: v.u16be() };
        break;
      case NOM.ATTR_SCALE_SPECN_I16:
        o.scale = {
          lowerAbs: decodeFloat(v.u32be()).value,
          upperAbs: decodeFloat(v.u32be()).value,
          lowerScaled: v.u16be(),
          upperScaled: v.u16be(),
        };
        break;
      case NOM.ATTR_TIME_PD_SAMP:
        o.samplePeriodTicks = v.u32be('sample period');
        break;
      case NOM.ATTR_ID_LABEL:
        o.label = v.u32be('label');
        break;
      case NOM.ATTR_ID_LABEL_STRING:
        o.labelString = readLabelString(v);
        break;
      case NOM.ATTR_TIME_STAMP_REL:
        o.relTime = v.u32be('rel time');
        break;
      case NOM.ATTR_TIME_STAMP_ABS:
        o.absTime = decodeAbsTime(v);
        break;
      case NOM.ATTR_UNIT_CODE:
        o.unitCode = v.u16be('unit');
        break;
      default:
        o.other.push(a.id);
    }
  }
  return o;
}

export interface PollReply {
  invokeId: number;
  /** RORS (single) or the linked state of a ROLRS part. */
  linked?: { state: number; count: number };
  pollNumber: number;
  sequenceNo: number;
  relTime: number;
  absTime: AbsTime;
  objectClass: number;
  observations: Observation[];
}

export interface MdsCreate {
  invokeId: number;
  eventTime: number;
  absTime: AbsTime;
  relTime?: number;
  model?: string;
  systemId?: string;
}

export type MonitorMessage =
  | { kind: 'aare' }
  | { kind: 'refuse' }
  | { kind: 'release-request' }
  | { kind: 'release-result' }
  | { kind: 'abort' }
  | { kind: 'mds-create'; mds: MdsCreate }
  | { kind: 'poll'; poll: PollReply }
  | { kind: 'result'; invokeId: number; commandType: number }
  | { kind: 'error'; invokeId: number; errorValue: number }
  | { kind: 'other'; detail: string };

function readVariableLabel(r: FrameReader): string {
  const n = r.u16be('VariableLabel.length');
  r.need(n, 'VariableLabel.value');
  let s = '';
  for (let i = 0; i < n; i++) {
    const c = r.buf[r.pos + i]!;
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  r.pos += n;
  return s;
}

function readPollReply(r: FrameReader, invokeId: number, linked?: { state: number; count: number }): PollReply {
  const pollNumber = r.u16be('poll_number');
  const sequenceNo = r.u16be('sequence_no');
  const relTime = r.u32be('rel_time_stamp');
  const absTime = decodeAbsTime(r);
  r.u16be('polled_obj_type.partition');
  const objectClass = r.u16be('polled_obj_type.code');
  r.u16be('polled_attr_grp');
  const contexts = r.u16be('PollInfoList.count');
  const listLen = r.u16be('PollInfoList.length');
  const list = r.sub(listLen, 'PollInfoList');
  const observations: Observation[] = [];
  for (let c = 0; c < contexts; c++) {
    list.u16be('SingleContextPoll.context_id');
    const count = list.u16be('SingleContextPoll.count');
    const len = list.u16be('SingleContextPoll.length');
    const obs = list.sub(len, 'SingleContextPoll');
    for (let i = 0; i < count; i++) {
      const handle = obs.u16be('ObservationPoll.obj_handle');
      observations.push(decodeObservation(handle, readAttributeList(obs)));
    }
  }
  return { invokeId, linked, pollNumber, sequenceNo, relTime, absTime, objectClass, observations };
}

/** Decodes one frame's user data. Throws DecodeError (with the offset) when a structure does not fit. */
export function decodeMonitorMessage(data: Uint8Array): MonitorMessage {
  const r = new FrameReader(data, 'intellivue');
  const first = r.u8('message type');
  switch (first) {
    case SPDU.AARE: return { kind: 'aare' };
    case SPDU.REFUSE: return { kind: 'refuse' };
    case SPDU.RELEASE_REQ: return { kind: 'release-request' };
    case SPDU.RELEASE_RES: return { kind: 'release-result' };
    case SPDU.ABORT: return { kind: 'abort' };
  }
  r.pos = 0;
  const session = r.u16be('SPpdu.session_id');
  if (session !== SESSION_ID) return { kind: 'other', detail: `session id 0x${session.toString(16)}` };
  r.u16be('SPpdu.p_context_id');
  const roType = r.u16be('ROapdus.ro_type');
  const roLen = r.u16be('ROapdus.length');
  const ro = r.sub(roLen, 'ROapdus');
  let linked: { state: number; count: number } | undefined;
  switch (roType) {
    case RO.ROIV: {
      const invokeId = ro.u16be('invoke_id');
      const cmd = ro.u16be('command_type');
      const len = ro.u16be('length');
      const arg = ro.sub(len, 'ROIV argument');
      if (cmd !== CMD.CONFIRMED_EVENT_REPORT && cmd !== CMD.EVENT_REPORT) return { kind: 'other', detail: `ROIV command ${cmd}` };
      arg.skip(6, 'managed_object');
      const eventTime = arg.u32be('event_time');
      const eventType = arg.u16be('event_type');
      const infoLen = arg.u16be('event_info length');
      const info = arg.sub(infoLen, 'event_info');
      if (eventType !== NOM.NOTI_MDS_CREAT) return { kind: 'other', detail: `event 0x${eventType.toString(16)}` };
      info.skip(6, 'MDSCreateInfo.managed_object');
      const mds: MdsCreate = { invokeId, eventTime, absTime: undefined };
      for (const a of readAttributeList(info)) {
        if (a.id === NOM.ATTR_TIME_ABS) mds.absTime = decodeAbsTime(a.value);
        else if (a.id === NOM.ATTR_TIME_REL) mds.relTime = a.value.u32be('TIME_REL');
        else if (a.id === NOM.ATTR_ID_MODEL) {
          const manufacturer = readVariableLabel(a.value);
          mds.model = `${manufacturer} ${readVariableLabel(a.value)}`.trim();
        } else if (a.id === NOM.ATTR_SYS_ID) {
          const n = a.value.u16be('SYS_ID length');
          a.value.need(n, 'SYS_ID');
          mds.systemId = Array.from(a.value.buf.subarray(a.value.pos, a.value.pos + n), (b) => b.toString(16).padStart(2, '0')).join('');
        }
      }
      return { kind: 'mds-create', mds };
    }
    case RO.ROLRS:
    case RO.RORS: {
      // A linked part is a RorlsId {state u8, count u8} followed by a RORS.
      if (roType === RO.ROLRS) linked = { state: ro.u8('RorlsId.state'), count: ro.u8('RorlsId.count') };
      const invokeId = ro.u16be('invoke_id');
      const cmd = ro.u16be('command_type');
      const len = ro.u16be('length');
      const res = ro.sub(len, 'RORS result');
      if (cmd === CMD.CONFIRMED_ACTION) {
        res.skip(6, 'managed_object');
        const action = res.u16be('action_type');
        const alen = res.u16be('action length');
        const body = res.sub(alen, 'action result');
        if (action === NOM.ACT_POLL_MDIB_DATA_EXT) return { kind: 'poll', poll: readPollReply(body, invokeId, linked) };
      }
      return { kind: 'result', invokeId, commandType: cmd };
    }
    case RO.ROER: {
      const invokeId = ro.u16be('invoke_id');
      const errorValue = ro.u16be('error_value');
      return { kind: 'error', invokeId, errorValue };
    }
    default:
      return { kind: 'other', detail: `ro_type ${roType}` };
  }
}
