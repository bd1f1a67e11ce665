/**
 * Philips IntelliVue Data Export: AbsoluteTime (Data Export Interface Programming Guide), the
 * 8 BCD bytes century, year, month, day, hour, minute, second, 1/100 s; 0xFF 0xFF first marks a
 * monitor that sends no absolute time. Read in monitor messages (decode.ts); written by the
 * monitor simulator.
 *
 * Errors: decodeAbsTime() throws DecodeError when fewer than 8 bytes are left.
 */
import type { FrameReader } from '../errors.js';
import type { BeWriter } from './be-writer.js';

export const ABS_TIME_ABSENT = 0xff;

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
