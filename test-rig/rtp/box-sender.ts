/**
 * Plays the box's part in tests and benches: packetises access units with H264Packetizer and
 * sends them through RtspOut stream handles (or any `send`), with an RTCP SR + SDES every
 * second of media, paced by a timer.
 */
import { H264Packetizer } from '../../edge/rtp/h264-packetizer.js';
import { encodeSenderReportCompound } from '../../edge/rtp/rtcp.js';
import type { AccessUnit } from './h264-source.js';

export interface MediaSink {
  send(packet: Uint8Array, length?: number): boolean;
  sendRtcp(packet: Uint8Array, length?: number): boolean;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sends `count` AUs (cycling through `aus` from index 0) to every sink; returns AUs sent. */
export async function sendAccessUnits(sinks: MediaSink[], aus: AccessUnit[], count: number, paceMs: number, startNs = 1_700_000_000_000_000_000n): Promise<number> {
  const pz = sinks.map(() => new H264Packetizer({}));
  const rtcp = Buffer.alloc(256);
  for (let i = 0; i < count; i++) {
    const au = aus[i % aus.length];
    const ns = startNs + BigInt(i) * 33_333_333n;
    sinks.forEach((s, k) => {
      const b = pz[k].packetize(au.data, ns, au.keyframe);
      for (let j = 0; j < b.count; j++) s.send(b.packets[j], b.lengths[j]);
      if (i % 30 === 0) s.sendRtcp(rtcp, encodeSenderReportCompound(pz[k], 'orbox-test', ns, rtcp));
    });
    await sleep(paceMs);
  }
  return count;
}
