/** Shared by the ring tests and their worker threads: seeded PRNG and checkable payloads. */

/** Seeded PRNG that drives the schedules (shared with the device simulators and fuzzers). */
import { mulberry32 as prng } from '../../../demo/prng.js';
export { prng };

/** Fills `dst` with bytes that are a function of (seq, index), so a torn copy is detectable. */
export function fillPayload(dst: Uint8Array, seq: number): void {
  let x = (seq * 2654435761) >>> 0;
  for (let i = 0; i < dst.length; i++) {
    x = (x ^ (x << 13)) >>> 0; x = (x ^ (x >>> 17)) >>> 0; x = (x ^ (x << 5)) >>> 0;
    dst[i] = x & 0xff;
  }
}

export function payloadMatches(p: Uint8Array, seq: number): boolean {
  let x = (seq * 2654435761) >>> 0;
  for (let i = 0; i < p.length; i++) {
    x = (x ^ (x << 13)) >>> 0; x = (x ^ (x >>> 17)) >>> 0; x = (x ^ (x << 5)) >>> 0;
    if (p[i] !== (x & 0xff)) return false;
  }
  return true;
}

/** Payload length of record `seq` under a seeded size schedule (empty and max sizes included). */
export function sizeOf(seq: number, seed: number, max: number): number {
  const r = prng(seed ^ Math.imul(seq, 0x9e3779b1))();
  if (r < 0.05) return 0;
  if (r < 0.08) return max;
  if (r < 0.6) return Math.floor(r * 200);
  return Math.floor(r * r * max);
}
