import t from 'tap';
import { ReceiverReports, appendViewerLabel } from '../receiver-reports.js';
import { ntpFromUnixNs, ntpMiddle32 } from '../rtcp.js';

// 2023-11-14T22:13:20.5Z (see rtcp.test.ts): NTP middle 32 bits 0x6f808000.
const NOW = 1_700_000_000_500_000_000n;
const MS = 1_000_000n;
const OURS = 0xcafebabe;

/** RR (PT 201) from `reporter` with one block per entry, then an optional SDES CNAME. */
function rr(reporter: number, blocks: { ssrc?: number; fraction?: number; lost?: number; ext: number; jitter?: number; lsr?: number; dlsr?: number }[], cname?: string): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(8);
  h[0] = 0x80 | blocks.length;
  h[1] = 201;
  h.writeUInt16BE(1 + 6 * blocks.length, 2);
  h.writeUInt32BE(reporter, 4);
  parts.push(h);
  for (const b of blocks) {
    const x = Buffer.alloc(24);
    x.writeUInt32BE(b.ssrc ?? OURS, 0);
    x.writeUInt32BE((((b.fraction ?? 0) << 24) | ((b.lost ?? 0) & 0xffffff)) >>> 0, 4);
    x.writeUInt32BE(b.ext, 8);
    x.writeUInt32BE(b.jitter ?? 0, 12);
    x.writeUInt32BE(b.lsr ?? 0, 16);
    x.writeUInt32BE(b.dlsr ?? 0, 20);
    parts.push(x);
  }
  if (cname !== undefined) {
    const text = Buffer.from(cname);
    const size = 4 + ((4 + 2 + text.length + 1 + 3) & ~3);
    const s = Buffer.alloc(size);
    s[0] = 0x81; s[1] = 202; s.writeUInt16BE(size / 4 - 1, 2);
    s.writeUInt32BE(reporter, 4);
    s[8] = 1; s[9] = text.length; text.copy(s, 10);
    parts.push(s);
  }
  return Buffer.concat(parts);
}

t.test('options are validated and name the option', async (t) => {
  t.throws(() => new ReceiverReports({ mediaSsrc: -1 }), { name: 'RtpOptionError', option: 'mediaSsrc' });
  t.throws(() => new ReceiverReports({ mediaSsrc: 1, clockRate: 0 }), { name: 'RtpOptionError', option: 'clockRate' });
  t.throws(() => new ReceiverReports({ mediaSsrc: 1, timeoutMs: 0 }), { name: 'RtpOptionError', option: 'timeoutMs' });
  t.throws(() => new ReceiverReports({ mediaSsrc: 1, maxViewers: 0 }), { name: 'RtpOptionError', option: 'maxViewers' });
});

t.test('one viewer: loss, jitter, CNAME and RTT from LSR/DLSR are exact for injected times', async (t) => {
  const r = new ReceiverReports({ mediaSsrc: OURS });
  // Our SR went out at NOW; the viewer held it 0.25 s (DLSR 0x4000) and its RR arrives 0.28 s
  // after NOW: RTT = 30 ms (0.28 - 0.25 s), to 1/65536 s.
  const lsr = ntpMiddle32(ntpFromUnixNs(NOW));
  const n = r.onRtcp(rr(0x11111111, [{ fraction: 64, lost: 5, ext: 0x10010, jitter: 450, lsr, dlsr: 0x4000 }], 'viewer@host'), 1000, NOW + 280n * MS);
  t.equal(n, 1);
  const [v] = r.snapshot(NOW + 300n * MS);
  t.equal(v.ssrc, 0x11111111);
  t.equal(v.cname, 'viewer@host');
  t.equal(v.fractionLost, 0.25, '64/256');
  t.equal(v.cumulativeLost, 5);
  t.equal(v.intervalLoss, null, 'one report: no interval yet');
  t.equal(v.extendedHighestSequence, 0x10010);
  t.equal(v.jitterMs, 5, '450 units at 90 kHz');
  t.ok(Math.abs(v.rttMs! - 30) < 0.05, `RTT ${v.rttMs} ms`);
  t.equal(v.reports, 1);
  t.equal(v.lastReportAgeMs, 20);

  // Second report: 200 packets more expected, 20 more lost -> 10 % over the interval.
  r.onRtcp(rr(0x11111111, [{ fraction: 26, lost: 25, ext: 0x10010 + 200, jitter: 90, lsr: 0 }]), 1000, NOW + 1300n * MS);
  const [w] = r.snapshot(NOW + 1300n * MS);
  t.equal(w.intervalLoss, 0.1);
  t.equal(w.cumulativeLost, 25);
  t.ok(Math.abs(w.rttMs! - 30) < 0.05, 'LSR 0 (no SR seen) keeps the last RTT');
  t.equal(w.reports, 2);
  t.equal(w.cname, 'viewer@host', 'CNAME kept from the earlier SDES');
});

t.test('blocks about other SSRCs are ignored; several viewers; negative cumulative loss; BYE and timeout forget', async (t) => {
  const r = new ReceiverReports({ mediaSsrc: OURS, timeoutMs: 5000 });
  t.equal(r.onRtcp(rr(1, [{ ssrc: 0xdeadbeef, ext: 10 }]), 100, NOW), 0, 'a block about another stream');
  t.same(r.snapshot(NOW), []);
  r.onRtcp(rr(1, [{ ssrc: 0xdeadbeef, ext: 10 }, { ext: 20, lost: 0xffffff }]), 100, NOW);
  r.onRtcp(rr(2, [{ ext: 30 }]), 100, NOW + 1000n * MS);
  const s = r.snapshot(NOW + 1000n * MS);
  t.same(s.map((v) => v.ssrc), [1, 2]);
  t.equal(s[0].cumulativeLost, -1, 'duplicates: signed 24-bit -1');
  t.equal(s[0].rttMs, null, 'never echoed an SR');
  // BYE from viewer 2 (PT 203, one SSRC).
  r.onRtcp(Buffer.from([0x81, 203, 0, 1, 0, 0, 0, 2]), 8, NOW + 1100n * MS);
  t.same(r.snapshot(NOW + 1100n * MS).map((v) => v.ssrc), [1]);
  t.same(r.snapshot(NOW + 5001n * MS), [], 'silent for more than timeoutMs: forgotten');
});

t.test('a flood of invented SSRCs keeps at most maxViewers, evicting the longest silent', async (t) => {
  const r = new ReceiverReports({ mediaSsrc: OURS, maxViewers: 4 });
  for (let i = 0; i < 100; i++) r.onRtcp(rr(1000 + i, [{ ext: i }]), 100, NOW + BigInt(i) * MS);
  t.equal(r.size, 4);
  t.same(r.snapshot(NOW + 100n * MS).map((v) => v.ssrc).sort(), [1096, 1097, 1098, 1099]);
});

t.test('malformed RTCP throws RtpFormatError with the offset of the bad packet', async (t) => {
  const r = new ReceiverReports({ mediaSsrc: OURS });
  const good = rr(7, [{ ext: 1 }]);
  const cases: [string, Buffer, number][] = [
    ['version 0', Buffer.from([0x00, 201, 0, 1, 0, 0, 0, 1]), 0],
    ['length past the end', Buffer.from([0x80, 201, 0, 9, 0, 0, 0, 1]), 0],
    ['truncated header after a good packet', Buffer.concat([good, Buffer.from([0x80, 201])]), good.length],
    ['blocks that do not fit', Buffer.from([0x82, 201, 0, 1, 0, 0, 0, 1]), 0],
    ['SDES item past its packet', Buffer.from([0x81, 202, 0, 2, 0, 0, 0, 7, 1, 40, 0x41, 0x42]), 8],
    ['SDES without a null item', Buffer.from([0x81, 202, 0, 2, 0, 0, 0, 7, 1, 2, 0x41, 0x42]), 12],
    ['BYE with more SSRCs than bytes', Buffer.from([0x83, 203, 0, 1, 0, 0, 0, 2]), 0],
  ];
  for (const [name, bytes, offset] of cases) {
    t.throws(() => r.onRtcp(bytes, bytes.length, NOW), { name: 'RtpFormatError', offset }, name);
  }
  t.same(r.snapshot(NOW).map((v) => v.ssrc), [7], 'the good packet before a bad one was applied');
});

t.test('viewers labelled by the RTSP server (APP ORBX) are told apart even with the same SSRC (ffmpeg reports as our SSRC + 1)', async (t) => {
  const r = new ReceiverReports({ mediaSsrc: OURS });
  const ffmpegSsrc = (OURS + 1) >>> 0;
  const a = appendViewerLabel(rr(ffmpegSsrc, [{ ext: 100, lost: 3 }], 'vm'), 'udp 10.0.0.7:50000');
  const b = appendViewerLabel(rr(ffmpegSsrc, [{ ext: 100, lost: 0 }], 'vm'), 'tcp 10.0.0.8:41234');
  t.equal(a.length % 4, 0, 'the APP packet keeps the compound 32-bit aligned');
  // 'udp 10.0.0.7:50000' is 18 bytes, NUL-padded to 20: APP of 4 + 4 + 4 + 20 = 32 bytes.
  const app = a.subarray(a.length - 32);
  t.equal(app.subarray(0, 8).toString('hex'), '80cc0007' + '00000000', 'APP header: V=2, PT 204, length 7 words, SSRC 0');
  t.equal(app.subarray(8, 12).toString('latin1'), 'ORBX');
  t.equal(app.subarray(12).toString('hex'), Buffer.from('udp 10.0.0.7:50000\0\0').toString('hex'));
  r.onRtcp(a, a.length, NOW);
  r.onRtcp(b, b.length, NOW);
  const s = r.snapshot(NOW);
  t.same(s.map((v) => [v.viewer, v.ssrc, v.cumulativeLost, v.cname]), [['udp 10.0.0.7:50000', ffmpegSsrc, 3, 'vm'], ['tcp 10.0.0.8:41234', ffmpegSsrc, 0, 'vm']]);
  // BYE in a labelled compound forgets only that viewer.
  const bye = appendViewerLabel(Buffer.from([0x81, 203, 0, 1, ...Buffer.from(ffmpegSsrc.toString(16).padStart(8, '0'), 'hex')]), 'tcp 10.0.0.8:41234');
  r.onRtcp(bye, bye.length, NOW);
  t.same(r.snapshot(NOW).map((v) => v.viewer), ['udp 10.0.0.7:50000']);
});
