/**
 * GE S/5 Computer Interface (DRI) records: header, subrecords, basic displayed values, waves,
 * alarms, and the two requests the host sends. All little-endian.
 *
 * Record header, 40 bytes:
 *   0 r_len i16 | 2 r_nbr u8 | 3 dri_level u8 | 4 plug_id u16 | 6 r_time u32 (Unix s, monitor
 *   clock) | 10 n_subnet u8 | 11 reserved u8 | 12 reserved u16 | 14 r_maintype i16 (0 physiological,
 *   1 wave, 4 alarm) | 16 sr_desc[8] {offset i16, type u8} (offset from byte 40; list ended by
 *   type 0xFF)
 *
 * Physiological subrecord (displayed values, type 1): time u32 | class block 270 bytes |
 *   marker u8 | reserved u8 | cl_drilvl_subt u16 (class in bits 8..11; 0 basic).
 * Wave subrecord (type = wave id): {count i16, status u16, reserved u16} + count int16 samples.
 * Alarm subrecord (type 1): reserved u32, sound_on_off u16, reserved 2 x u16, then 5 x
 *   {text_changed u16, color u16 (0 none, 1 white, 2 yellow, 3 red), text char[80]}.
 *   The alarm layout is our reading of the specification: check it against the vendor document.
 * Values below -32001 are states (-32767 invalid ... -32762 not calibrated), never numbers.
 */
import { DecodeError, FrameReader } from '../errors.js';

export const HEADER_LEN = 40;
export const MAX_SUBRECORDS = 8;
export const MAINTYPE = { PHDB: 0, WAVE: 1, ALARM: 4 } as const;
export const PH_SUBTYPE = { DISPL: 1, TREND_10S: 2, TREND_60S: 3, AUX: 4 } as const;
export const PHDB_CLASS_BLOCK = 270;
export const PHDB_SUBRECORD_LEN = 4 + PHDB_CLASS_BLOCK + 4;
export const DATA_INVALID_LIMIT = -32001;
export const INVALID_STATES: ReadonlyMap<number, string> = new Map([
  [-32767, 'invalid'],
  [-32766, 'not updated'],
  [-32765, 'discontinuity'],
  [-32764, 'under range'],
  [-32763, 'over range'],
  [-32762, 'not calibrated'],
]);
/** DRI levels from 2015 (0x0B) down to 2001 (0x05): tried in turn while the monitor's is unknown. */
export const DRI_LEVELS_NEWEST_FIRST = [0x0b, 0x0a, 0x09, 0x08, 0x07, 0x06, 0x05] as const;

export interface RecordHeader {
  rLen: number;
  rNbr: number;
  driLevel: number;
  plugId: number;
  rTime: number;
  mainType: number;
  subrecords: { offset: number; type: number; length: number }[];
}

/** Parses the header and the subrecord table; lengths are checked against the record. */
export function parseHeader(rec: Uint8Array): RecordHeader {
  const r = new FrameReader(rec, 's5');
  const rLen = r.i16le('r_len');
  if (rLen !== rec.length) throw new DecodeError('s5', 0, `r_len ${rLen} but record has ${rec.length} bytes`);
  if (rLen < HEADER_LEN) throw new DecodeError('s5', 0, `record shorter than its header (${rLen})`);
  const rNbr = r.u8('r_nbr');
  const driLevel = r.u8('dri_level');
  const plugId = r.u16le('plug_id');
  const rTime = r.u32le('r_time');
  r.skip(4, 'n_subnet/reserved');
  const mainType = r.i16le('r_maintype');
  const descs: { offset: number; type: number }[] = [];
  for (let i = 0; i < MAX_SUBRECORDS; i++) {
    const offset = r.i16le('sr_desc.offset');
    const type = r.u8('sr_desc.type');
    if (type === 0xff) break;
    descs.push({ offset, type });
  }
  const dataLen = rLen - HEADER_LEN;
  const subrecords = descs.map((d, i) => {
    const end = i + 1 < descs.length ? descs[i + 1]!.offset : dataLen;
    if (d.offset < 0 || end > dataLen || end < d.offset) {
      throw new DecodeError('s5', 16 + 3 * i, `subrecord ${i} [${d.offset}, ${end}) outside data of ${dataLen} bytes`);
    }
    return { offset: HEADER_LEN + d.offset, type: d.type, length: end - d.offset };
  });
  return { rLen, rNbr, driLevel, plugId, rTime, mainType, subrecords };
}

export interface PhdbBlock {
  time: number;
  classId: number;
  /** View of the 270-byte class block. */
  block: Uint8Array;
}

export function parsePhdb(rec: Uint8Array, sr: { offset: number; length: number }): PhdbBlock {
  if (sr.length < PHDB_SUBRECORD_LEN) throw new DecodeError('s5', sr.offset, `physiological subrecord of ${sr.length} bytes, need ${PHDB_SUBRECORD_LEN}`);
  const r = new FrameReader(rec, 's5', sr.offset, sr.offset + sr.length);
  const time = r.u32le('phdb.time');
  const block = rec.subarray(r.pos, r.pos + PHDB_CLASS_BLOCK);
  r.skip(PHDB_CLASS_BLOCK + 2, 'phdb.class block');
  const clDrilvlSubt = r.u16le('cl_drilvl_subt');
  return { time, classId: (clDrilvlSubt >> 8) & 0x0f, block };
}

export function i16At(b: Uint8Array, off: number): number {
  return ((b[off]! | (b[off + 1]! << 8)) << 16) >> 16;
}
export function u32At(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

export interface WaveBlock {
  waveId: number;
  status: number;
  samples: Int16Array;
}

export function parseWave(rec: Uint8Array, sr: { offset: number; type: number; length: number }): WaveBlock {
  const r = new FrameReader(rec, 's5', sr.offset, sr.offset + sr.length);
  const count = r.i16le('wave.count');
  const status = r.u16le('wave.status');
  r.skip(2, 'wave.reserved');
  if (count < 0) throw new DecodeError('s5', sr.offset, `negative sample count ${count}`);
  r.need(count * 2, 'wave samples');
  const samples = new Int16Array(count);
  for (let i = 0; i < count; i++) samples[i] = i16At(rec, r.pos + 2 * i);
  return { waveId: sr.type, status, samples };
}

export interface AlarmLine {
  color: number;
  text: string;
}
export const ALARM_LINES = 5;
export const ALARM_TEXT_LEN = 80;
export const ALARM_SUBRECORD_LEN = 10 + ALARM_LINES * (4 + ALARM_TEXT_LEN);

export function parseAlarms(rec: Uint8Array, sr: { offset: number; length: number }): { soundOn: boolean; lines: AlarmLine[] } {
  const r = new FrameReader(rec, 's5', sr.offset, sr.offset + sr.length);
  r.skip(4, 'alarm.reserved');
  const sound = r.u16le('sound_on_off');
  r.skip(4, 'alarm.reserved2');
  const lines: AlarmLine[] = [];
  for (let i = 0; i < ALARM_LINES; i++) {
    r.u16le('text_changed');
    const color = r.u16le('color');
    r.need(ALARM_TEXT_LEN, 'alarm text');
    let text = '';
    for (let k = 0; k < ALARM_TEXT_LEN; k++) {
      const c = rec[r.pos + k]!;
      if (c === 0) break;
      text += String.fromCharCode(c);
    }
    r.pos += ALARM_TEXT_LEN;
    lines.push({ color, text: text.trim() });
  }
  return { soundOn: sound !== 0, lines };
}

// ---------------------------------------------------------------------------------------------
// Builders (host requests; the simulator builds monitor records with the same helpers)

export interface HeaderFields {
  driLevel: number;
  rTime?: number;
  rNbr?: number;
  mainType: number;
  subrecords: { offset: number; type: number }[];
}

/** Builds a record: header + body, with r_len filled in. */
export function buildRecord(h: HeaderFields, body: Uint8Array): Uint8Array {
  if (h.subrecords.length > MAX_SUBRECORDS) throw new RangeError(`at most ${MAX_SUBRECORDS} subrecords`);
  const rec = new Uint8Array(HEADER_LEN + body.length);
  const dv = new DataView(rec.buffer);
  dv.setInt16(0, rec.length, true);
  dv.setUint8(2, h.rNbr ?? 0);
  dv.setUint8(3, h.driLevel);
  dv.setUint32(6, (h.rTime ?? 0) >>> 0, true);
  dv.setInt16(14, h.mainType, true);
  for (let i = 0; i < MAX_SUBRECORDS; i++) {
    const sr = h.subrecords[i];
    dv.setInt16(16 + 3 * i, sr ? sr.offset : 0, true);
    dv.setUint8(18 + 3 * i, sr ? sr.type : 0xff);
  }
  rec.set(body, HEADER_LEN);
  return rec;
}

/** Physiological data request (49 bytes): displayed values every `intervalS` s (0 stops). */
export function buildPhdbRequest(driLevel: number, intervalS: number, classBits = 0): Uint8Array {
  const body = new Uint8Array(9);
  const dv = new DataView(body.buffer);
  dv.setUint8(0, PH_SUBTYPE.DISPL);
  dv.setInt16(1, intervalS, true);
  dv.setUint32(3, classBits >>> 0, true);
  return buildRecord({ driLevel, mainType: MAINTYPE.PHDB, subrecords: [{ offset: 0, type: 0 }] }, body);
}

/** Waveform request (72 bytes): start (0) or stop (1) up to 8 waves. */
export function buildWaveRequest(driLevel: number, start: boolean, waveIds: readonly number[]): Uint8Array {
  if (waveIds.length > 8) throw new RangeError('at most 8 waves');
  const body = new Uint8Array(32);
  const dv = new DataView(body.buffer);
  dv.setInt16(0, start ? 0 : 1, true);
  body.fill(0xff, 4, 12);
  waveIds.forEach((id, i) => (body[4 + i] = id));
  return buildRecord({ driLevel, mainType: MAINTYPE.WAVE, subrecords: [{ offset: 0, type: 0 }] }, body);
}
