/**
 * IntelliVue FLOAT-Type (Data Export Interface Programming Guide, "FLOAT-Type"; IEEE 11073-20101
 * FLOAT): u32 = signed 8-bit base-10 exponent | signed 24-bit mantissa. Special values have
 * exponent 0: NaN 0x007FFFFF, NRes 0x00800000, +INF 0x007FFFFE, -INF 0x00800002.
 */

export type FloatSpecial = 'NaN' | 'NRes' | '+INF' | '-INF';
export interface DecodedFloat {
  /** The number, or NaN for a special value. */
  value: number;
  special?: FloatSpecial;
}

export const FLOAT_NAN = 0x007fffff;
export const FLOAT_NRES = 0x00800000;
export const FLOAT_PINF = 0x007ffffe;
export const FLOAT_NINF = 0x00800002;

export function decodeFloat(u32: number): DecodedFloat {
  u32 >>>= 0;
  switch (u32) {
    case FLOAT_NAN: return { value: NaN, special: 'NaN' };
    case FLOAT_NRES: return { value: NaN, special: 'NRes' };
    case FLOAT_PINF: return { value: NaN, special: '+INF' };
    case FLOAT_NINF: return { value: NaN, special: '-INF' };
  }
  const exponent = (u32 >> 24) | 0; // arithmetic shift gives the signed byte
  const mantissa = ((u32 & 0xffffff) << 8) >> 8;
  // Divide for negative exponents: 986 / 10 is 98.6 exactly rounded, 986 * 0.1 is not.
  const value = exponent >= 0 ? mantissa * 10 ** exponent : mantissa / 10 ** -exponent;
  return { value };
}

/** Encodes `value` with `decimals` digits after the point (used by the simulator and tests). */
export function encodeFloat(value: number, decimals = 0): number {
  if (Number.isNaN(value)) return FLOAT_NAN;
  let exp = -decimals;
  let m = Math.round(value * 10 ** decimals);
  while (m > 0x7ffffd || m < -0x7ffffd) {
    m = Math.round(m / 10);
    exp++;
  }
  return (((exp & 0xff) << 24) | (m & 0xffffff)) >>> 0;
}
