/**
 * Draeger MEDIBUS application layer: command codes, measured-data items, alarm items, device
 * identification and the MEDIBUS.X real-time configuration.
 *
 *   measured data (0x24, code page 1): items of 6 ASCII characters, 2 hex code + 4 value
 *     characters (right-aligned, may hold a point; blanks or dashes = no value)
 *   alarms (0x27, code page 1): items of 15 characters, priority digit, 2 hex code, 12 text
 *   real-time configuration (0x53 response): items of 17 characters: 2 hex curve id, 5 digit
 *     sample period in us, 5 char minimum, 5 char maximum (physical range of the 0..4095 samples)
 *   configure real-time (0x54): 2 hex curve id per configured curve, the response echoes it;
 *     an empty list stops the real-time channel.
 * The alarm and real-time item layouts are our reading of the MEDIBUS.X rules: check them
 * against the vendor document before connecting a real machine (README).
 */
import { DecodeError } from '../errors.js';

export const MB = {
  NOP: 0x30,
  ICC: 0x51,
  DEVICE_ID: 0x52,
  MEASURED_CP1: 0x24,
  ALARMS_CP1: 0x27,
  RT_CONFIG: 0x53,
  RT_CONFIGURE: 0x54,
  STOP: 0x55,
} as const;

export interface MeasuredItem {
  code: number;
  raw: string;
  value: number | undefined;
}

function hex2(d: Uint8Array, i: number): number {
  const s = String.fromCharCode(d[i]!, d[i + 1]!);
  if (!/^[0-9A-Fa-f]{2}$/.test(s)) return -1;
  return parseInt(s, 16);
}

function text(d: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(d[i]!);
  return s;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)$/;

export function parseMeasured(d: Uint8Array): MeasuredItem[] {
  if (d.length % 6 !== 0) throw new DecodeError('medibus', d.length - (d.length % 6), `measured data of ${d.length} characters is not a multiple of 6`);
  const out: MeasuredItem[] = [];
  for (let i = 0; i < d.length; i += 6) {
    const code = hex2(d, i);
    if (code < 0) throw new DecodeError('medibus', i, 'item code is not two hex digits');
    const raw = text(d, i + 2, i + 6);
    const t = raw.trim();
    out.push({ code, raw, value: NUMBER.test(t) ? Number(t) : undefined });
  }
  return out;
}

export function formatMeasured(items: readonly { code: number; value: number | undefined; decimals?: number }[]): number[] {
  let s = '';
  for (const it of items) {
    const v = it.value === undefined ? '----' : it.value.toFixed(it.decimals ?? 0);
    s += it.code.toString(16).toUpperCase().padStart(2, '0') + v.slice(0, 4).padStart(4, ' ');
  }
  return Array.from(s, (c) => c.charCodeAt(0));
}

export interface AlarmItem {
  priority: number;
  code: number;
  text: string;
}

export function parseAlarms(d: Uint8Array): AlarmItem[] {
  if (d.length % 15 !== 0) throw new DecodeError('medibus', d.length - (d.length % 15), `alarm data of ${d.length} characters is not a multiple of 15`);
  const out: AlarmItem[] = [];
  for (let i = 0; i < d.length; i += 15) {
    const p = d[i]! - 0x30;
    const code = hex2(d, i + 1);
    if (p < 0 || p > 9 || code < 0) throw new DecodeError('medibus', i, 'bad alarm item');
    out.push({ priority: p, code, text: text(d, i + 3, i + 15).trim() });
  }
  return out;
}

export interface CurveConfig {
  id: number;
  periodUs: number;
  min: number;
  max: number;
}

export function parseRealtimeConfig(d: Uint8Array): CurveConfig[] {
  if (d.length % 17 !== 0) throw new DecodeError('medibus', d.length - (d.length % 17), `real-time configuration of ${d.length} characters is not a multiple of 17`);
  const out: CurveConfig[] = [];
  for (let i = 0; i < d.length; i += 17) {
    const id = hex2(d, i);
    const periodUs = Number(text(d, i + 2, i + 7).trim());
    const min = Number(text(d, i + 7, i + 12).trim());
    const max = Number(text(d, i + 12, i + 17).trim());
    if (id < 0 || !Number.isInteger(periodUs) || periodUs <= 0 || !Number.isFinite(min) || !Number.isFinite(max) || max <= min) {
      throw new DecodeError('medibus', i, 'bad real-time configuration item');
    }
    out.push({ id, periodUs, min, max });
  }
  return out;
}

export function formatRealtimeConfig(curves: readonly CurveConfig[]): number[] {
  let s = '';
  for (const c of curves) {
    s += c.id.toString(16).toUpperCase().padStart(2, '0') + String(c.periodUs).padStart(5, ' ') + String(c.min).padStart(5, ' ') + String(c.max).padStart(5, ' ');
  }
  return Array.from(s, (ch) => ch.charCodeAt(0));
}

export function parseCurveIds(d: Uint8Array): number[] {
  if (d.length % 2 !== 0) throw new DecodeError('medibus', d.length - 1, 'curve id list of odd length');
  const out: number[] = [];
  for (let i = 0; i < d.length; i += 2) {
    const id = hex2(d, i);
    if (id < 0) throw new DecodeError('medibus', i, 'curve id is not two hex digits');
    out.push(id);
  }
  return out;
}

export function formatCurveIds(ids: readonly number[]): number[] {
  return Array.from(ids.map((i) => i.toString(16).toUpperCase().padStart(2, '0')).join(''), (c) => c.charCodeAt(0));
}

export function asText(d: Uint8Array): string {
  return text(d, 0, d.length).trim();
}
