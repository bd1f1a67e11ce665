/**
 * A minimal RFC 6184 depacketiser for verifying our own packetiser in tests (single NAL unit,
 * STAP-A, FU-A). Not for the box: it allocates freely and trusts its input. GStreamer's
 * rtph264depay is the independent oracle; this one gives precise failure messages.
 */
import { decodeRtpHeader, newRtpHeader } from '../../edge/rtp/header.js';

export interface DepayResult {
  /** Access units: each a list of NAL units, in order. */
  accessUnits: { timestamp: number; nals: Buffer[] }[];
  problems: string[];
}

export function depayH264(packets: Buffer[]): DepayResult {
  const h = newRtpHeader();
  const res: DepayResult = { accessUnits: [], problems: [] };
  let cur: { timestamp: number; nals: Buffer[] } | null = null;
  let fu: Buffer[] | null = null;
  let lastSeq = -1;
  for (const p of packets) {
    const off = decodeRtpHeader(p, p.length, h);
    if (off < 0) { res.problems.push('short packet'); continue; }
    if (lastSeq >= 0 && ((lastSeq + 1) & 0xffff) !== h.sequenceNumber) res.problems.push(`seq gap ${lastSeq} -> ${h.sequenceNumber}`);
    lastSeq = h.sequenceNumber;
    if (!cur) cur = { timestamp: h.timestamp, nals: [] };
    else if (cur.timestamp !== h.timestamp) res.problems.push(`timestamp changed inside an AU at seq ${h.sequenceNumber}`);
    const pl = p.subarray(off, p.length - h.paddingLength);
    const type = pl[0] & 0x1f;
    if (type >= 1 && type <= 23) cur.nals.push(Buffer.from(pl));
    else if (type === 24) {
      let o = 1;
      while (o + 2 <= pl.length) {
        const n = pl.readUInt16BE(o);
        cur.nals.push(Buffer.from(pl.subarray(o + 2, o + 2 + n)));
        o += 2 + n;
      }
      if (o !== pl.length) res.problems.push(`STAP-A sizes do not add up at seq ${h.sequenceNumber}`);
    } else if (type === 28) {
      const s = (pl[1] & 0x80) !== 0;
      const e = (pl[1] & 0x40) !== 0;
      if (s) {
        if (fu) res.problems.push(`FU-A restarted at seq ${h.sequenceNumber}`);
        fu = [Buffer.from([(pl[0] & 0xe0) | (pl[1] & 0x1f)])];
      }
      if (!fu) { res.problems.push(`FU-A without start at seq ${h.sequenceNumber}`); continue; }
      fu.push(Buffer.from(pl.subarray(2)));
      if (e) { cur.nals.push(Buffer.concat(fu)); fu = null; }
    } else res.problems.push(`unexpected NAL type ${type}`);
    if (h.marker) {
      if (fu) res.problems.push(`marker inside an FU-A at seq ${h.sequenceNumber}`);
      res.accessUnits.push(cur);
      cur = null;
    }
  }
  if (cur) res.problems.push('stream ended inside an access unit (no marker)');
  return res;
}
