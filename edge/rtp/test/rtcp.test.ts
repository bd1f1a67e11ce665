import t from 'tap';
import {
  encodeSenderReportCompound, forEachReportBlock, ntpFromUnixNs, unixNsFromNtp, ntpMiddle32, decodeSenderReport,
  sdesCnameSize, newReportBlock, type ReportBlock, type SenderReport,
} from '../rtcp.js';
import { H264Packetizer } from '../h264-packetizer.js';
import { BoxClock } from '../../lib/clock.js';

// 2023-11-14T22:13:20.5Z; expected words computed independently:
//   NTP msw = 1700000000 + 2208988800 = 0xe8fe6f80, lsw = 0.5 * 2^32 = 0x80000000,
//   RTP = 0x12345678 + floor(ns * 90000 / 1e9) mod 2^32 = 0x28db9640.
const NOW = 1_700_000_000_500_000_000n;

t.test('SR + SDES CNAME bytes are exact for an injected clock', async (t) => {
  const stream = { ssrc: 0xcafebabe, clockRate: 90000, packetCount: 1000, octetCount: 0x01020304, timestampAt: (ns: bigint) => new H264Packetizer({ timestampOffset: 0x12345678, ssrc: 1, initialSequence: 0 }).timestampAt(ns) };
  const buf = Buffer.alloc(64, 0xee);
  const n = encodeSenderReportCompound(stream, 'orbox-or1', NOW, buf, 0);
  t.equal(n, 28 + sdesCnameSize('orbox-or1'));
  t.equal(sdesCnameSize('orbox-or1'), 20, 'header 4 + SSRC 4 + item 2+9 + one null byte');
  t.equal(buf.subarray(0, n).toString('hex'), [
    '80c80006', 'cafebabe', 'e8fe6f80', '80000000', '28db9640', '000003e8', '01020304', // SR
    '81ca0004', 'cafebabe', '01096f72626f782d6f7231', '00', // SDES: CNAME item, null item ends the chunk at a word boundary
  ].join(''));
  t.equal(buf[n], 0xee, 'nothing written past the end');
  t.throws(() => encodeSenderReportCompound(stream, 'orbox-or1', NOW, Buffer.alloc(47)), { name: 'BufferTooSmallError' });
});

t.test('SR maps the same instant as the packetiser: RTP time of a frame captured at T equals the SR at T', async (t) => {
  const clock = new BoxClock({ wallNs: NOW, monoNs: 0n });
  const p = new H264Packetizer({ random: () => 0x7fffffff });
  const capture = clock.toWall(123_456_789n);
  const b = p.packetize(Buffer.from([0, 0, 1, 0x41, 1, 2, 3]), capture, false);
  const buf = Buffer.alloc(100);
  encodeSenderReportCompound(p, 'x', capture, buf);
  const sr: SenderReport = { ssrc: 0, ntp: { msw: 0, lsw: 0 }, rtpTimestamp: 0, packetCount: 0, octetCount: 0 };
  t.equal(decodeSenderReport(buf, 0, buf.length, sr), 28);
  t.equal(sr.rtpTimestamp, b.timestamp);
  t.equal(sr.ssrc, p.ssrc);
  t.equal(sr.packetCount, 1);
  t.equal(sr.octetCount, 4);
  const back = unixNsFromNtp(sr.ntp.msw, sr.ntp.lsw);
  t.ok(capture - back >= 0n && capture - back < 2n, 'NTP time is the capture time, truncated to 2^-32 s');
  t.equal(ntpMiddle32(ntpFromUnixNs(NOW)), 0x6f808000);
});

t.test('receiver-report blocks parse from a compound RR + SDES; malformed input carries offsets', async (t) => {
  // RR from SSRC 0x01020304 with two blocks, then an SDES that must be skipped.
  const rr = Buffer.from([
    0x82, 201, 0x00, 0x0d, 1, 2, 3, 4,
    0xca, 0xfe, 0xba, 0xbe, 0x40, 0xff, 0xff, 0xfe, 0x00, 0x01, 0x00, 0x10, 0, 0, 0, 9, 0x6f, 0x80, 0x80, 0x00, 0, 0, 0x80, 0,
    0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x81, 202, 0x00, 0x02, 1, 2, 3, 4, 1, 1, 0x41, 0,
  ]);
  const seen: (ReportBlock & { reporter: number })[] = [];
  const reused = newReportBlock();
  for (let round = 0; round < 2; round++) {
    seen.length = 0;
    t.equal(forEachReportBlock(rr, rr.length, (r, b) => seen.push({ ...b, reporter: r }), reused), 2);
  }
  t.same(seen[0], { reporter: 0x01020304, ssrc: 0xcafebabe, fractionLost: 64, cumulativeLost: -2, extendedHighestSequence: 0x10010, jitter: 9, lastSr: 0x6f808000, delaySinceLastSr: 0x8000 });
  t.same(seen[1], { reporter: 0x01020304, ssrc: 7, fractionLost: 0, cumulativeLost: 3, extendedHighestSequence: 0xffff, jitter: 0, lastSr: 0, delaySinceLastSr: 0 });
  const cut = rr.subarray(0, 40);
  t.throws(() => forEachReportBlock(cut, cut.length, () => {}), { name: 'RtpFormatError', offset: 0 });
  const badSecond = Buffer.from(rr);
  badSecond[56] = 0x41;
  t.throws(() => forEachReportBlock(badSecond, badSecond.length, () => {}), { name: 'RtpFormatError', offset: 56 });
  const tooMany = Buffer.from([0x83, 201, 0, 1, 1, 2, 3, 4]);
  t.throws(() => forEachReportBlock(tooMany, tooMany.length, () => {}), { name: 'RtpFormatError', offset: 0 });
});
