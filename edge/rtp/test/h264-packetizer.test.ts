import t from 'tap';
import { H264Packetizer, type PacketBatch } from '../h264-packetizer.js';
import { startsKeyframe } from '../h264.js';
import { depayH264 } from '../../../test-rig/rtp/depay.js';

const SSRC = [0x11, 0x22, 0x33, 0x44];
const hex = (a: number[]): string => Buffer.from(a).toString('hex');
const au = (...nals: number[][]): Buffer => Buffer.from(nals.flatMap((n) => [0, 0, 0, 1, ...n]));
const packets = (b: PacketBatch): string[] => {
  const out: string[] = [];
  for (let i = 0; i < b.count; i++) out.push(b.packets[i].subarray(0, b.lengths[i]).toString('hex'));
  return out;
};
const mk = (o: Partial<ConstructorParameters<typeof H264Packetizer>[0]> = {}): H264Packetizer =>
  new H264Packetizer({ ssrc: 0x11223344, initialSequence: 65534, timestampOffset: 0xfffffff0, mtu: 40, historyDepth: 16, ...o });

const SPS = [0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01];
const PPS = [0x68, 0xce, 0x3c];

t.test('single NAL unit packet: header bytes, marker on the last packet, 90 kHz from capture ns', async (t) => {
  const p = mk();
  const b = p.packetize(au([0x41, 0xaa, 0xbb]), 0n, false);
  t.same(packets(b), [hex([0x80, 0xe0, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xf0, ...SSRC, 0x41, 0xaa, 0xbb])]);
  // 1 s later: +90000 ticks, wrapping past 2^32: 0xfffffff0 + 90000 = 0x15f80 mod 2^32.
  const b2 = p.packetize(au([0x41, 0xcc]), 1_000_000_000n, false);
  t.same(packets(b2), [hex([0x80, 0xe0, 0xff, 0xff, 0x00, 0x01, 0x5f, 0x80, ...SSRC, 0x41, 0xcc])]);
  t.equal(b2.timestamp, 0x15f80);
  t.equal(p.packetCount, 2);
  t.equal(p.octetCount, 5, 'payload octets only');
});

t.test('STAP-A aggregates SPS, PPS and a small IDR: sizes, F/NRI, one packet', async (t) => {
  const p = mk();
  const idr = [0x65, 0x88, 0x84, 0x21];
  const b = p.packetize(au(SPS, PPS, idr), 0n, true);
  t.same(packets(b), [hex([0x80, 0xe0, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xf0, ...SSRC,
    0x78, 0x00, 0x06, ...SPS, 0x00, 0x03, ...PPS, 0x00, 0x04, ...idr])]);
  t.equal(b.parameterSetsInserted, false, 'the AU carried its own');
  // NRI is the maximum of the aggregated units (0x20 and 0x40 -> 0x40), F the OR.
  const b2 = p.packetize(au([0x26, 1], [0x46, 2]), 0n, false);
  t.equal(b2.packets[0][12], 0x40 | 24);
  const b3 = p.packetize(au([0x86, 1], [0x06, 2]), 0n, false);
  t.equal(b3.packets[0][12], 0x80 | 24, 'F bit ORed');
});

t.test('STAP-A splits when the next NAL unit would overflow the MTU', async (t) => {
  const p = mk(); // room 28 bytes of payload
  const a = [0x06, ...Array(10).fill(1)]; // 11 bytes
  const b = p.packetize(au(a, a, a), 0n, false);
  // 1 + (2+11) + (2+11) = 27 fits, a third would make 40: STAP-A(a,a) + single(a).
  t.equal(b.count, 2);
  t.equal(b.lengths[0], 12 + 27);
  t.equal(b.packets[0][12], 0x18);
  t.equal(b.lengths[1], 12 + 11);
  t.equal(b.packets[0][1] & 0x80, 0, 'no marker on the first');
  t.equal(b.packets[1][1] & 0x80, 0x80, 'marker on the last');
});

t.test('FU-A: even fragments, S/E bits, NRI kept, marker only on the last, sequence wraps', async (t) => {
  const p = mk();
  const body = Array.from({ length: 60 }, (_, i) => i + 1);
  const b = p.packetize(au([0x65, ...body]), 0n, true);
  // 28 bytes room - 2 = 26 per fragment: 60 bytes -> 3 fragments of 20.
  const hdr = (m: boolean, seq: number): number[] => [0x80, m ? 0xe0 : 0x60, seq >> 8, seq & 0xff, 0xff, 0xff, 0xff, 0xf0, ...SSRC];
  t.same(packets(b), [
    hex([...hdr(false, 65534), 0x7c, 0x85, ...body.slice(0, 20)]),
    hex([...hdr(false, 65535), 0x7c, 0x05, ...body.slice(20, 40)]),
    hex([...hdr(true, 0), 0x7c, 0x45, ...body.slice(40, 60)]),
  ]);
  t.equal(b.firstSequence, 65534);
  t.equal(p.nextSequence, 1);
  // 61 bytes of body: fragments 21, 20, 20 (the first carries the remainder).
  const b2 = p.packetize(au([0x41, ...Array(61).fill(7)]), 0n, false);
  t.same([b2.lengths[0], b2.lengths[1], b2.lengths[2]], [14 + 21, 14 + 20, 14 + 20]);
  t.same([b2.packets[0][13], b2.packets[1][13], b2.packets[2][13]], [0x81, 0x01, 0x41]);
});

t.test('SPS/PPS inserted before every IDR: out of band, then the latest from the stream', async (t) => {
  const p = mk({ sps: Buffer.from(SPS), pps: Buffer.from(PPS), mtu: 200 });
  const idr = [0x65, 1, 2, 3];
  let b = p.packetize(au([0x09, 0xf0], idr), 0n, true);
  t.equal(b.parameterSetsInserted, true);
  t.same(depayH264(packets(b).map((h) => Buffer.from(h, 'hex'))).accessUnits[0].nals.map((n) => hex([...n])), [hex(SPS), hex(PPS), hex(idr)], 'AUD dropped, SPS+PPS first');
  b = p.packetize(au([0x41, 5]), 0n, false);
  t.equal(b.parameterSetsInserted, false, 'not before a non-IDR');
  const sps2 = [0x67, 0x64, 0x00, 0x28, 0xac];
  b = p.packetize(au(sps2, PPS, idr), 0n, true);
  t.equal(b.parameterSetsInserted, false);
  b = p.packetize(au(idr), 0n, false); // IDR NAL without the keyframe flag still counts
  t.equal(b.parameterSetsInserted, true);
  t.same(depayH264(packets(b).map((h) => Buffer.from(h, 'hex'))).accessUnits[0].nals.map((n) => hex([...n])), [hex(sps2), hex(PPS), hex(idr)], 'latest SPS from the stream');
  t.same([...p.currentSps!], sps2);
  const bare = mk({ mtu: 200 });
  bare.packetize(au(idr), 0n, true);
  t.equal(bare.missingParameterSets, 1, 'counted when none is known');
});

t.test('random AUs round trip through the test depayloader at several MTUs; history ring reuse', async (t) => {
  let seed = 12345;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed; };
  for (const mtu of [40, 100, 1400]) {
    const p = new H264Packetizer({ mtu, random: rnd, historyDepth: 64 });
    for (let k = 0; k < 40; k++) {
      const nals: number[][] = [];
      const n = 1 + (rnd() % 6);
      for (let i = 0; i < n; i++) {
        const len = 1 + (rnd() % (rnd() % 3 === 0 ? 5000 : 60));
        nals.push([0x21 + (rnd() % 4), ...Array.from({ length: len }, () => 1 + (rnd() % 255))]);
      }
      const b = p.packetize(au(...nals), BigInt(k) * 33_333_333n, false);
      const pk = packets(b).map((h) => Buffer.from(h, 'hex'));
      for (const x of pk) if (x.length > mtu) t.fail(`packet of ${x.length} > mtu ${mtu}`);
      const d = depayH264(pk);
      if (d.problems.length || d.accessUnits.length !== 1) { t.fail(`mtu ${mtu} AU ${k}: ${d.problems.join('; ')}`); continue; }
      t.same(d.accessUnits[0].nals.map((x) => x.toString('hex')), nals.map(hex), `mtu ${mtu} AU ${k}`);
      if (b.count > p.historySize / 2) t.fail('an AU used more than half of the history ring');
    }
  }
});

t.test('options are validated and name the option; randomness is injected', async (t) => {
  t.throws(() => new H264Packetizer({ mtu: 10 }), { name: 'RtpOptionError', option: 'mtu' });
  t.throws(() => new H264Packetizer({ payloadType: 128 }), { name: 'RtpOptionError', option: 'payloadType' });
  t.throws(() => new H264Packetizer({ initialSequence: 70000 }), { name: 'RtpOptionError', option: 'initialSequence' });
  t.throws(() => new H264Packetizer({ historyDepth: 2 }), { name: 'RtpOptionError', option: 'historyDepth' });
  const draws = [0xaabbccdd, 0x1234_5678, 0x8000_0001];
  const p = new H264Packetizer({ random: () => draws.shift()! });
  t.equal(p.ssrc, 0xaabbccdd);
  t.equal(p.nextSequence, 0x5678);
  t.equal(p.timestampOffset, 0x80000001);
  t.equal(p.timestampAt(0n), 0x80000001);
  t.equal(p.timestampAt(11_112n), 0x80000002, 'one tick is 11111.1 ns');
});

t.test('startsKeyframe: only the first packet of an IDR access unit lets a new viewer in', async (t) => {
  const big = (type: number, n: number): number[] => [type, ...Array.from({ length: n }, (_, i) => i & 0xff)];
  const p = mk({ mtu: 40 });
  const firstOf = (b: PacketBatch): boolean[] => Array.from({ length: b.count }, (_, i) => startsKeyframe(b.packets[i], b.lengths[i]));
  // IDR with its parameter sets (STAP-A of SPS+PPS, then FU-A fragments of the slice).
  const idr = firstOf(p.packetize(au(SPS, PPS, big(0x65, 100)), 0n, true));
  t.ok(idr[0], 'the IDR access unit starts a viewer (STAP-A of SPS and PPS)');
  t.ok(idr[1], 'so does the first fragment of the IDR slice (FU-A, S bit, type 5): SDP carries the parameter sets');
  t.notOk(idr.slice(2).some(Boolean), 'later fragments do not');
  t.ok(firstOf(p.packetize(au(big(0x65, 100)), 1n, true))[0], 'an IDR whose SPS/PPS the packetiser inserts');
  // P slices, single or fragmented, never do.
  t.same(firstOf(p.packetize(au([0x41, 1, 2]), 3n, false)), [false], 'a small P slice');
  t.notOk(firstOf(p.packetize(au(big(0x41, 100)), 4n, false)).some(Boolean), 'a fragmented P slice');
  // Garbage and truncated packets.
  t.notOk(startsKeyframe(Buffer.from([0x80, 0x60, 0, 1])), 'shorter than a header');
  t.notOk(startsKeyframe(Buffer.from([0x40, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x67])), 'not RTP version 2');
  t.notOk(startsKeyframe(Buffer.from([0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9])), 'an extension longer than the packet');
});
