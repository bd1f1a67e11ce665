/**
 * The recovery figure behind the choice of 2022-1 geometry: at 5, 10 and 20 % i.i.d.
 * (Bernoulli) loss, on media and FEC packets alike, for 5x5 and 10x10 (L x D), the share of
 * lost media packets that FEC alone rebuilds, the residual loss, and the overhead (FEC bytes /
 * media bytes). 20 000 media packets a point, sized like H.264 at MTU 1400 (most full, the
 * last of each frame shorter), sent in the encoder's order (column packets spread), seeded.
 */
import t from 'tap';
import { St2022FecEncoder } from '../st2022-1-encoder.js';
import { St2022FecDecoder } from '../st2022-1-decoder.js';
import { writeFixedHeader } from '../header.js';
import { seqAdd } from '../seq.js';
import type { StreamInfo } from '../interceptor.js';
import { mulberry32 } from '../../demo/prng.js';

const PACKETS = 20_000;
const info: StreamInfo = { name: 'or1/hq', kind: 'video', ssrc: 7, payloadType: 96, clockRate: 90000 };

interface Point { loss: number; l: number; d: number; lost: number; recovered: number; residual: number; overhead: number; meanMedia: number }

function run(loss: number, l: number, d: number, seed: number): Point {
  const rnd = mulberry32(seed);
  let lost = 0;
  const dec = new St2022FecDecoder({ sink: () => {} });
  const drop = (): boolean => rnd() < loss;
  const enc = new St2022FecEncoder({
    columns: l, rows: d,
    rowSink: (p, n) => { if (!drop()) dec.pushFec(p, n, 'row'); },
    columnSink: (p, n) => { if (!drop()) dec.pushFec(p, n, 'column'); },
  });
  const send = enc.bindLocalStream(info, (p, n) => {
    if (drop()) lost++; else dec.pushMedia(p, n);
  });
  const pkt = new Uint8Array(1400);
  for (let i = 0; i < PACKETS; i++) {
    // ~6 packets a frame: five full, the last 100..1400 bytes.
    const n = i % 6 === 5 ? 100 + Math.floor(rnd() * 1300) : 1400;
    writeFixedHeader(pkt, i % 6 === 5, 96, seqAdd(40_000, i), 3003 * Math.floor(i / 6), info.ssrc);
    for (let k = 12; k < n; k += 97) pkt[k] = k ^ i;
    send(pkt, n);
  }
  enc.close();
  dec.flush();
  const s = dec.stats;
  const e = enc.stats;
  return { loss, l, d, lost, recovered: s.recovered, residual: s.unrecoverable / PACKETS, overhead: e.fecBytes / e.mediaBytes, meanMedia: e.mediaBytes / e.mediaPackets };
}

t.test('2022-1 recovery share and overhead at 5/10/20 % Bernoulli loss, 5x5 and 10x10', async (t) => {
  const pts: Point[] = [];
  for (const [l, d] of [[5, 5], [10, 10]] as const) {
    for (const loss of [0.05, 0.1, 0.2]) pts.push(run(loss, l, d, 1000 * l + 100 * loss));
  }
  t.comment('L x D  loss  lost   rebuilt  share   residual  overhead');
  for (const p of pts) {
    t.comment(`${p.l}x${p.d}`.padEnd(6) + ` ${(100 * p.loss).toFixed(0).padStart(3)} %  ${String(p.lost).padStart(5)}  ${String(p.recovered).padStart(6)}   ${(100 * p.recovered / p.lost).toFixed(1).padStart(5)} %  ${p.residual.toExponential(1).padStart(8)}  ${(100 * p.overhead).toFixed(1)} %`);
    // Every loss is either rebuilt or counted unrecoverable.
    t.equal(p.recovered + Math.round(p.residual * PACKETS), p.lost, `${p.l}x${p.d} at ${p.loss}: rebuilt + unrecoverable = lost`);
  }
  const at = (l: number, loss: number): Point => pts.find((p) => p.l === l && p.loss === loss)!;
  // Overhead: (L + D) FEC packets per L*D media, each as long as the longest it protects (1400
  // here, nearly always) + 16 bytes, over the mean media packet.
  for (const p of pts) {
    const expected = ((p.l + p.d) / (p.l * p.d)) * (1400 + 16) / p.meanMedia;
    t.ok(Math.abs(p.overhead - expected) < 0.005, `${p.l}x${p.d} overhead ${p.overhead.toFixed(3)} ~ ${expected.toFixed(3)}`);
  }
  for (const l of [5, 10]) {
    const share = [0.05, 0.1, 0.2].map((x) => at(l, x).recovered / at(l, x).lost);
    t.ok(share[0] > share[1] && share[1] > share[2], `${l}x${l}: the share falls as loss rises`);
  }
  for (const loss of [0.05, 0.1, 0.2]) t.ok(at(5, loss).recovered / at(5, loss).lost > at(10, loss).recovered / at(10, loss).lost, `5x5 rebuilds more than 10x10 at ${loss}`);
  t.ok(at(5, 0.05).recovered / at(5, 0.05).lost > 0.9, '5x5 rebuilds over 90 % at 5 %');
  t.ok(at(5, 0.2).residual > 0.01, 'at 20 % FEC alone leaves over 1 % lost (retransmission stays the main repair)');
});
