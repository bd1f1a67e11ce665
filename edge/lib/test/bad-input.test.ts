import t from 'tap';
import { BadInputLog, escapeUntrusted } from '../bad-input.js';
import { ReceiverReports, RTT_MAX_MS, appendViewerLabel, stripViewerLabels } from '../../rtp/receiver-reports.js';
import { ntpFromUnixNs, ntpMiddle32 } from '../../rtp/rtcp.js';

t.test('escapeUntrusted: printable ASCII kept, the rest escaped, cut to the budget with a marker', async (t) => {
  t.equal(escapeUntrusted('udp 10.0.0.7:50000'), 'udp 10.0.0.7:50000');
  t.equal(escapeUntrusted('a\r\nb\x1b[2J\\'), 'a\\x0d\\x0ab\\x1b[2J\\\\');
  t.equal(escapeUntrusted('é€'), '\\xe9\\u{20ac}');
  t.equal(escapeUntrusted(Buffer.from([0, 0x41, 0xff])), '\\x00A\\xff');
  t.equal(escapeUntrusted('x'.repeat(1000), 10), `${'x'.repeat(10)}…(+990)`);
});

t.test('BadInputLog: a burst per kind and window, the rest counted and summed up once', async (t) => {
  const lines: { o: Record<string, unknown>; m?: string }[] = [];
  let now = 0;
  const log = new BadInputLog({ warn: (o, m) => lines.push({ o: o as Record<string, unknown>, m }) }, { burst: 3, windowMs: 1000, now: () => now });
  for (let i = 0; i < 9000; i++) log.report('setup-bad-transport', '127.0.0.9', `SETUP ${'A'.repeat(1000)}\r\n`);
  log.report('bad-uri', '127.0.0.9', 'OPTIONS *');
  t.equal(lines.length, 4, '3 of one kind + 1 of another');
  t.ok(String(lines[0].o.input).length < 150, `input bounded (${String(lines[0].o.input).length} chars) and escaped: ${String(lines[0].o.input).slice(-20)}`);
  t.notOk(String(lines[0].o.input).includes('\r'), 'no raw control characters');
  now = 1500;
  log.report('setup-bad-transport', '127.0.0.9', 'x');
  t.match(lines[4].m, /^8997 more of setup-bad-transport suppressed$/, 'the window ends with one summary line');
  t.equal(lines.length, 6, 'and the new window logs again');
  t.equal(log.count('setup-bad-transport'), 9001);
  t.throws(() => new BadInputLog({ warn: () => {} }, { burst: -1 }), /burst/);
});

t.test('viewer labels: a viewer\'s own ORBX packets are stripped, the last label is the one read, forged RTTs refused', async (t) => {
  const rr = Buffer.alloc(32);
  rr[0] = 0x81; rr[1] = 201; rr.writeUInt16BE(7, 2); rr.writeUInt32BE(0xabcd, 4); rr.writeUInt32BE(0x1234, 8);
  const forged = appendViewerLabel(rr, 'udp 6.6.6.6:1');
  t.same(stripViewerLabels(forged), rr, 'the forged APP packet is removed');
  t.equal(stripViewerLabels(rr), rr, 'a compound without labels is returned as is');
  const r = new ReceiverReports({ mediaSsrc: 0x1234 });
  r.onRtcp(appendViewerLabel(forged, 'udp 10.0.0.7:5000'), forged.length + 32, 1_000_000_000n);
  t.same(r.snapshot(1_000_000_000n).map((v) => v.viewer), ['udp 10.0.0.7:5000'], 'even unstripped, the server\'s (last) label names the viewer');
  // A report whose LSR/DLSR puts the RTT at hours: not an echo of our clock.
  const bad = Buffer.from(rr);
  const arrival = ntpMiddle32(ntpFromUnixNs(5_000_000_000_000n, { msw: 0, lsw: 0 }));
  bad.writeUInt32BE((arrival - 3600 * 65536) >>> 0, 24); // LSR one hour before arrival, DLSR 0
  const lab = appendViewerLabel(bad, 'tcp 10.0.0.8:1');
  r.onRtcp(lab, lab.length, 5_000_000_000_000n);
  const v = r.snapshot(5_000_000_000_000n).find((x) => x.viewer === 'tcp 10.0.0.8:1');
  t.ok(v, 'the viewer is listed');
  t.equal(v?.rttMs, null, `an RTT of an hour is not taken (limit ${RTT_MAX_MS} ms)`);
});
