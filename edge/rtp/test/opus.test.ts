/**
 * RFC 7587 payloader and SDP: byte tables (TOC durations from RFC 6716 Table 2, the packet
 * bytes for fixed SSRC/sequence/offset), marker and timestamp rules, the 2^32 wrap, and
 * GStreamer as the oracle: our packets of a 1 kHz tone (encoded by opusenc) go through
 * rtpopusdepay ! opusdec and decode to 1 kHz, across a timestamp and a sequence wrap.
 */
import t, { type Test } from 'tap';
import { GstPipeline } from '../../gst/index.js';
import { OpusPacketizer, buildOpusMediaSdp, opusPacketSamples, OPUS_CLOCK_RATE } from '../opus.js';
import { RtpFormatError, RtpOptionError, BufferTooSmallError } from '../errors.js';
import { decodeOpusRtp, zeroCrossingHz } from '../../../test-rig/audio/opus-peer.js';

t.test('TOC: packet durations (RFC 6716 §3.1 Table 2, §3.2 frame counts)', async (t) => {
  // [bytes, 48 kHz samples]
  const table: [number[], number][] = [
    [[0 << 3 | 0], 480], // SILK NB 10 ms, 1 frame
    [[1 << 3 | 0], 960], // SILK NB 20 ms
    [[3 << 3 | 1, 0, 0], 5760], // SILK NB 60 ms, 2 frames = 120 ms
    [[11 << 3 | 0], 2880], // SILK WB 60 ms
    [[13 << 3 | 0], 960], // Hybrid SWB 20 ms
    [[16 << 3 | 0], 120], // CELT NB 2.5 ms
    [[31 << 3 | 0, 0xaa], 960], // CELT FB 20 ms (opusenc's restricted-lowdelay 20 ms frames)
    [[31 << 3 | 2, 1, 0], 1920], // code 2: two frames
    [[28 << 3 | 3, 0x83], 360], // code 3, VBR/padding bits set, M = 3 of 2.5 ms
    [[31 << 3 | 3, 6], 5760], // code 3, 6 x 20 ms = 120 ms
  ];
  for (const [b, n] of table) t.equal(opusPacketSamples(Uint8Array.from(b)), n, `toc 0x${b[0].toString(16)}`);
  const bad: [number[], number][] = [[[], 0], [[31 << 3 | 3], 1], [[31 << 3 | 3, 0], 1], [[31 << 3 | 3, 7], 1]];
  for (const [b, off] of bad) {
    throwsWith(t, () => opusPacketSamples(Uint8Array.from(b)), RtpFormatError, (e) => e.offset === off, `bad ${JSON.stringify(b)} at ${off}`);
  }
  // Offsets are in the caller's buffer.
  throwsWith(t, () => opusPacketSamples(Uint8Array.from([9, 9, 31 << 3 | 3]), 2, 1), RtpFormatError, (e) => e.offset === 3, 'offset in the caller\'s buffer');
});

/** Asserts that fn throws an instance of `cls` for which `check` holds. */
function throwsWith<E>(t: Test, fn: () => unknown, cls: new (...a: never[]) => E, check: (e: E) => boolean, msg?: string): void {
  try { fn(); t.fail(`${msg ?? ''} did not throw`); } catch (e) { t.ok(e instanceof cls && check(e as E), msg ?? (e as Error).message); }
}

const frame20 = (fill: number, len = 5): Uint8Array => { const f = new Uint8Array(len).fill(fill); f[0] = 31 << 3; return f; };
const MS20 = 20_000_000n;

t.test('packetizer: bytes, marker on the first packet, 48 kHz timestamps, sequence and timestamp wrap', async (t) => {
  const p = new OpusPacketizer({ ssrc: 0x11223344, initialSequence: 0xffff, timestampOffset: 0xffffff00, payloadType: 111 });
  const a = p.packetize(frame20(0xab), 0n);
  t.same([...a.buf.subarray(0, a.length)], [
    0x80, 0x80 | 111, 0xff, 0xff, // V=2, M=1, PT 111, seq 65535
    0xff, 0xff, 0xff, 0x00, // ts = offset + 0
    0x11, 0x22, 0x33, 0x44, // SSRC
    0xf8, 0xab, 0xab, 0xab, 0xab, // the Opus packet as is
  ]);
  t.same({ seq: a.sequence, marker: a.marker, samples: a.samples }, { seq: 0xffff, marker: true, samples: 960 });
  const b = p.packetize(frame20(0xcd), MS20);
  t.same([...b.buf.subarray(0, 8)], [0x80, 111, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc0]); // seq 0, ts 0xffffff00 + 960 wraps to 0x2c0, M=0
  const c = p.packetize(frame20(0xcd), 2n * MS20);
  t.equal(c.timestamp, (0xffffff00 + 1920) >>> 0, 'timestamp wraps past 2^32');
  t.equal(c.timestamp, 0x680);
  t.equal(p.packetCount, 3);
  t.equal(p.octetCount, 15);
  // A capture time 0.5 ms late continues the stream (gapless timestamps); one 30 ms late resyncs with M=1.
  const d = p.packetize(frame20(1), 3n * MS20 + 500_000n);
  t.same({ ts: d.timestamp, m: d.marker }, { ts: (0x680 + 960) >>> 0, m: false });
  const e = { ...p.packetize(frame20(1), 5n * MS20 + 10_000_000n) }; // the packet object is reused: copy
  t.same({ ts: e.timestamp, m: e.marker }, { ts: p.timestampAt(5n * MS20 + 10_000_000n), m: true });
  t.equal(p.resyncs, 1);
  // The caller's talkspurt start sets M without moving the timestamp.
  const f = p.packetize(frame20(1), 6n * MS20 + 10_000_000n, true);
  t.same({ ts: f.timestamp, m: f.marker }, { ts: (e.timestamp + 960) >>> 0, m: true });
  t.equal(p.clockRate, OPUS_CLOCK_RATE);
  t.equal(p.timestampAt(1_000_000_000n), (0xffffff00 + 48000) >>> 0, 'one second is 48000 ticks');
});

t.test('packetizer: options and limits', async (t) => {
  t.throws(() => new OpusPacketizer({ payloadType: 95 }), RtpOptionError);
  t.throws(() => new OpusPacketizer({ initialSequence: 65536 }), RtpOptionError);
  const p = new OpusPacketizer({ mtu: 100, random: () => 7 });
  t.same({ ssrc: p.ssrc, seq: p.nextSequence, off: p.timestampOffset }, { ssrc: 7, seq: 7, off: 7 });
  t.throws(() => p.packetize(frame20(0, 89), 0n), BufferTooSmallError);
  t.throws(() => p.packetize(new Uint8Array(0), 0n), RtpFormatError);
  t.equal(p.packetize(frame20(0, 88), 0n).length, 100);
});

t.test('SDP media description (RFC 7587 §7, §6.1)', async (t) => {
  t.equal(buildOpusMediaSdp(), [
    'm=audio 0 RTP/AVP 97',
    'a=rtpmap:97 opus/48000/2',
    'a=fmtp:97 minptime=10;useinbandfec=1;stereo=0;sprop-stereo=0',
    'a=ptime:20',
  ].join('\r\n') + '\r\n');
  t.equal(buildOpusMediaSdp({ payloadType: 111, port: 5004, transport: 'RTP/SAVPF', channels: 2, receiveStereo: true, useInbandFec: false, maxAverageBitrate: 64000, controlUrl: 'rtsp://10.0.0.2:8554/or1/hq/streamid=1' }), [
    'm=audio 5004 RTP/SAVPF 111',
    'a=rtpmap:111 opus/48000/2',
    'a=fmtp:111 minptime=10;useinbandfec=0;stereo=1;sprop-stereo=1;maxaveragebitrate=64000',
    'a=ptime:20',
    'a=control:rtsp://10.0.0.2:8554/or1/hq/streamid=1',
  ].join('\r\n') + '\r\n');
  throwsWith(t, () => buildOpusMediaSdp({ maxAverageBitrate: 5000 }), RtpOptionError, (e) => e.option === 'maxAverageBitrate');
  throwsWith(t, () => buildOpusMediaSdp({ controlUrl: 'streamid=1' }), RtpOptionError, (e) => e.option === 'controlUrl');
});

t.test('GStreamer interop: opusenc frames in our packets decode to the 1 kHz tone (rtpopusdepay ! opusdec)', async (t) => {
  for (const rate of [48000, 16000]) {
    // 2 s of a 1 kHz sine encoded by opusenc at the input rate: the RTP clock stays 48 kHz.
    const p = new GstPipeline(`audiotestsrc num-buffers=100 samplesperbuffer=${rate / 50} freq=1000 volume=0.5 ! audio/x-raw,format=S16LE,rate=${rate},channels=1 ! opusenc frame-size=20 bitrate=64000 ! appsink name=s sync=false`);
    p.start();
    const sink = p.appsink('s');
    const frames: Buffer[] = [];
    for (;;) { const s = await sink.pull(); if (!s) break; frames.push(s.data); }
    p.close();
    t.ok(frames.length >= 99, `${rate}: ${frames.length} Opus frames`);
    // Start just below the wraps so the decoder sees both.
    const pz = new OpusPacketizer({ ssrc: 1, initialSequence: 65500, timestampOffset: 0xffff0000 });
    const packets = frames.map((f, i) => { const q = pz.packetize(f, BigInt(i) * MS20); return Buffer.from(q.buf.subarray(0, q.length)); });
    t.equal(pz.packetCount, frames.length);
    const pcm = await decodeOpusRtp(packets);
    t.ok(Math.abs(pcm.length - frames.length * 960) <= 960, `${rate}: ${pcm.length} samples decoded at 48 kHz for ${frames.length} frames`);
    const hz = zeroCrossingHz(pcm, 48000, 4800, pcm.length - 4800);
    t.ok(Math.abs(hz - 1000) < 2, `${rate}: decoded tone ${hz.toFixed(2)} Hz`);
  }
});
