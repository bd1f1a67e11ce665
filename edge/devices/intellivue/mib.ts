/**
 * Philips IntelliVue Data Export: the application layer carried in each frame's user data
 * (Data Export Interface Programming Guide: "Association Control", "Data Export Protocol",
 * "Remote Operation" and "Poll" sections). Everything is big-endian.
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
 */
import { DecodeError, FrameReader } from '../errors.js';
import { decodeFloat, type DecodedFloat } from './float.js';

export const SPDU = { AARQ: 0x0d, AARE: 0x0e, REFUSE: 0x0c, RELEASE_REQ: 0x09, RELEASE_RES: 0x0a, ABORT: 0x19 } as const;
export const SESSION_ID = 0xe100;
export const RO = { ROIV: 1, RORS: 2, ROER: 3, ROLRS: 5 } as const;
export const RORLS = { FIRST: 1, NOT_FIRST_NOT_LAST: 2, LAST: 3 } as const;
export const CMD = { EVENT_REPORT: 0, CONFIRMED_EVENT_REPORT: 1, GET: 3, SET: 4, CONFIRMED_SET: 5, CONFIRMED_ACTION: 7 } as const;
export const NOM = {
  MOC_VMS_MDS: 0x0021,
  MOC_VMO_METRIC_NU: 0x0006,
  MOC_VMO_METRIC_SA_RT: 0x0009,
  PART_OBJ: 0x0001,
  NOTI_MDS_CREAT: 0x0d06,
  ACT_POLL_MDIB_DATA_EXT: 0xf13b,
  ATTR_TIME_PD_POLL: 0xf13e,
  ATTR_POLL_RTSA_PRIO_LIST: 0xf23a,
  ATTR_ID_HANDLE: 0x0921,
  ATTR_ID_LABEL: 0x0924,
  ATTR_ID_LABEL_STRING: 0x0927,
  ATTR_ID_MODEL: 0x0928,
  ATTR_SYS_ID: 0x0984,
  ATTR_TIME_ABS: 0x0987,
  ATTR_TIME_REL: 0x098f,
  ATTR_NU_CMPD_VAL_OBS: 0x094b,
  ATTR_NU_VAL_OBS: 0x0950,
  ATTR_SA_CMPD_VAL_OBS: 0x0967,
  ATTR_SA_SPECN: 0x096d,
  ATTR_SA_VAL_OBS: 0x096e,
  ATTR_SCALE_SPECN_I16: 0x096f,
  ATTR_TIME_PD_SAMP: 0x098d,
  ATTR_TIME_STAMP_ABS: 0x0990,
  ATTR_TIME_STAMP_REL: 0x0991,
  ATTR_UNIT_CODE: 0x0996,
} as const;
/** Measurement state bits of the Data Export MeasurementState. */
export const MEAS_STATE = {
  INVALID: 0x8000,
  QUESTIONABLE: 0x4000,
  UNAVAILABLE: 0x2000,
  CALIBRATION_ONGOING: 0x1000,
  TEST_DATA: 0x0800,
  DEMO_DATA: 0x0400,
  VALIDATED_DATA: 0x0080,
  EARLY_INDICATION: 0x0040,
  MSMT_ONGOING: 0x0020,
  MSMT_STATE_IN_ALARM: 0x0002,
  MSMT_STATE_AL_INHIBITED: 0x0001,
} as const;
/** One relative-time tick is 1/8 ms. */
export const REL_TIME_TICK_NS = 125_000n;
export const ABS_TIME_ABSENT = 0xff;

/** Growable big-endian writer for building messages (not a hot path: a few messages a second). */
export class BeWriter {
  private buf = new Uint8Array(256);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.buf[this.len++] = (v >>> 24) & 0xff;
    this.buf[this.len++] = (v >>> 16) & 0xff;
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
    return this;
  }
  bytes(b: ArrayLike<number>): this {
    this.room(b.length);
    for (let i = 0; i < b.length; i++) this.buf[this.len++] = b[i]! & 0xff;
    return this;
  }
  /** Reserves a u16 length and returns a function that fills it with the bytes written since. */
  lengthMark(): () => void {
    const at = this.len;
    this.u16(0);
    return () => {
      const n = this.len - at - 2;
      this.buf[at] = n >>> 8;
      this.buf[at + 1] = n & 0xff;
    };
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

// ---------------------------------------------------------------------------------------------
// Host -> monitor messages

/** Receive MTU we announce (frame.ts holds frames up to this size). */
export const ANNOUNCED_MTU = 8000;

/**
 * Association request (session SPDU 0x0D). The user information is the MDSEUserInfoStd of the
 * programming guide: protocol version, nomenclature version, functional units, system type
 * (client), startup mode (hot start), option list, and the supported application profiles with
 * the poll profile (min poll period, MTUs, options) and its extension (1 s numeric period,
 * real-time sample arrays).
 *
 * Known simplification: the session/presentation/ACSE envelope around the user information is
 * encoded here as a length-indicated block, not the vendor's full ASN.1 prefix; the simulator
 * accepts it, a real monitor must be checked against the guide's example bytes (README).
 */
export function buildAssociationRequest(): Uint8Array {
  const u = new BeWriter();
  u.u32(0x80000000); // protocol_version MDDL_VERSION1
  u.u32(0x40000000); // nomenclature_version NOMEN_VERSION
  u.u32(0); // functional_units
  u.u32(0x80000000); // system_type SYST_CLIENT
  u.u32(0x20000000); // startup_mode HOT_START
  u.u16(0).u16(0); // option_list: empty
  u.u16(1); // supported_aprofiles: count
  const apLen = u.lengthMark();
  u.u16(0x0001); // NOM_POLL_PROFILE_SUPPORT
  const ppLen = u.lengthMark();
  u.u32(0x80000000); // poll_profile_revision
  u.u32(8000); // min_poll_period: 1 s in 125 us ticks
  u.u32(ANNOUNCED_MTU); // max_mtu_rx
  u.u32(ANNOUNCED_MTU); // max_mtu_tx
  u.u32(0xffffffff); // max_bw_tx: no limit
  u.u32(0x60000000); // options: dynamic create/delete of objects
  u.u16(1); // optional_packages: count
  const opLen = u.lengthMark();
  u.u16(0xf001); // NOM_ATTR_POLL_PROFILE_EXT
  const extLen = u.lengthMark();
  u.u32(0x88000000); // POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA
  u.u16(0).u16(0); // ext_attr: empty
  extLen();
  opLen();
  ppLen();
  apLen();
  const user = u.finish();
  return sessionSpdu(SPDU.AARQ, user);
}

/** A session SPDU: type, length indicator (1 byte, or 0xFF + u16), body. */
export function sessionSpdu(type: number, body: Uint8Array): Uint8Array {
  const w = new BeWriter().u8(type);
  if (body.length < 0xff) w.u8(body.length);
  else w.u8(0xff).u16(body.length);
  return w.bytes(body).finish();
}

export function buildReleaseRequest(): Uint8Array {
  return sessionSpdu(SPDU.RELEASE_REQ, new Uint8Array(0));
}

function dataExportHeader(w: BeWriter, roType: number): () => void {
  w.u16(SESSION_ID).u16(2); // SPpdu: session id, presentation context id
  w.u16(roType);
  return w.lengthMark();
}

/** MDS Create Event Result: the host's answer to the monitor's MDS Create Event Report. */
export function buildMdsCreateResult(invokeId: number, eventTime: number): Uint8Array {
  const w = new BeWriter();
  const roLen = dataExportHeader(w, RO.RORS);
  w.u16(invokeId).u16(CMD.CONFIRMED_EVENT_REPORT);
  const rsLen = w.lengthMark();
  w.u16(NOM.MOC_VMS_MDS).u16(0).u16(0); // managed object
  w.u32(eventTime >>> 0);
  w.u16(NOM.NOTI_MDS_CREAT);
  w.u16(0); // event_reply_info length
  rsLen();
  roLen();
  return w.finish();
}

/**
 * Extended poll request (action NOM_ACT_POLL_MDIB_DATA_EXT) for one object class, with the
 * period attribute NOM_ATTR_TIME_PD_POLL in 125 us ticks: the monitor sends linked results for
 * that period, the host re-polls before it ends.
 */
export function buildExtendedPoll(invokeId: number, pollNumber: number, objectClass: number, periodTicks: number): Uint8Array {
  const w = new BeWriter();
  const roLen = dataExportHeader(w, RO.ROIV);
  w.u16(invokeId).u16(CMD.CONFIRMED_ACTION);
  const ivLen = w.lengthMark();
  w.u16(NOM.MOC_VMS_MDS).u16(0).u16(0); // managed object
  w.u32(0); // scope
  w.u16(NOM.ACT_POLL_MDIB_DATA_EXT);
  const argLen = w.lengthMark();
  w.u16(pollNumber);
  w.u16(NOM.PART_OBJ).u16(objectClass);
  w.u16(0); // polled_attr_grp: all
  w.u16(1); // poll_ext_attr: count
  const attrLen = w.lengthMark();
  w.u16(NOM.ATTR_TIME_PD_POLL).u16(4).u32(periodTicks >>> 0);
  attrLen();
  argLen();
  ivLen();
  roLen();
  return w.finish();
}

/** Confirmed Set of the real-time sample array priority list (which waves the monitor sends). */
export function buildSetRtsaPriorityList(invokeId: number, labels: readonly number[]): Uint8Array {
  const w = new BeWriter();
  const roLen = dataExportHeader(w, RO.ROIV);
  w.u16(invokeId).u16(CMD.CONFIRMED_SET);
  const ivLen = w.lengthMark();
  w.u16(NOM.MOC_VMS_MDS).u16(0).u16(0);
  w.u32(0); // scope
  w.u16(1); // modification list: count
  const modLen = w.lengthMark();
  w.u16(0); // modify_operator REPLACE
  w.u16(NOM.ATTR_POLL_RTSA_PRIO_LIST);
  const avaLen = w.lengthMark();
  w.u16(labels.length);
  const listLen = w.lengthMark();
  for (const l of labels) w.u32(l >>> 0);
  listLen();
  avaLen();
  modLen();
  ivLen();
  roLen();
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Monitor -> host messages

export type AbsTime = { ns: bigint } | undefined;

function bcd(b: number): number {
  return (b >> 4) * 10 + (b & 0x0f);
}

/** AbsoluteTime (8 BCD bytes: century, year, month, day, hour, minute, second, 1/100 s). */
export function decodeAbsTime(r: FrameReader): AbsTime {
  r.need(8, 'AbsoluteTime');
  const b = r.buf;
  const p = r.pos;
  r.pos += 8;
  if (b[p] === ABS_TIME_ABSENT && b[p + 1] === ABS_TIME_ABSENT) return undefined;
  const year = bcd(b[p]!) * 100 + bcd(b[p + 1]!);
  const ms = Date.UTC(year, bcd(b[p + 2]!) - 1, bcd(b[p + 3]!), bcd(b[p + 4]!), bcd(b[p + 5]!), bcd(b[p + 6]!)) + bcd(b[p + 7]!) * 10;
  if (!Number.isFinite(ms)) return undefined;
  return { ns: BigInt(ms) * 1_000_000n };
}

export function encodeAbsTime(w: BeWriter, unixMs: number | undefined): void {
  if (unixMs === undefined) {
    for (let i = 0; i < 8; i++) w.u8(ABS_TIME_ABSENT);
    return;
  }
  const d = new Date(unixMs);
  const toBcd = (v: number) => ((Math.floor(v / 10) % 10) << 4) | v % 10;
  const y = d.getUTCFullYear();
  w.u8(toBcd(Math.floor(y / 100))).u8(toBcd(y % 100)).u8(toBcd(d.getUTCMonth() + 1)).u8(toBcd(d.getUTCDate()));
  w.u8(toBcd(d.getUTCHours())).u8(toBcd(d.getUTCMinutes())).u8(toBcd(d.getUTCSeconds())).u8(toBcd(Math.floor(d.getUTCMilliseconds() / 10)));
}

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
