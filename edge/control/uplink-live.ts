/**
 * Whether an expert is receiving the live uplink: some receiver answered one of net-send's
 * uplink pairs within the last 10 s (its RTCP count, in net-send's stats, grew). Uploads wait
 * and an OTA reboot is held while it does. Runs on control; keeps the last counts it saw.
 */
import type { Recordings } from './recordings.js';

const LIVE_MS = 10_000;
const seen = new Map<string, { count: number; at: number }>();

export function uplinkLive(rec: Recordings, now = Date.now()): boolean {
  const pairs = ((rec.status() as { uplink?: unknown }).uplink ?? []) as { receiver: string; channel: string; rtcpIn: number }[];
  let live = false;
  for (const p of Array.isArray(pairs) ? pairs : []) {
    const k = `${p.receiver}/${p.channel}`;
    const last = seen.get(k);
    // The first count seen is history (it may be old); only growth after it is an answer.
    if (!last || p.rtcpIn > last.count) seen.set(k, { count: p.rtcpIn, at: last ? now : -Infinity });
    if (now - seen.get(k)!.at < LIVE_MS) live = true;
  }
  return live;
}
