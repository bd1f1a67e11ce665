/**
 * Interop with GStreamer 1.22's `rtpst2022-1-fecenc` / `rtpst2022-1-fecdec` as the oracle
 * (SMPTE 2022-1 has no public vectors; see shared reference rtp-resilience.md), both ways:
 * (a) our media and FEC over UDP into `rtpst2022-1-fecdec`, some media dropped: what it outputs
 *     for the dropped sequence numbers equals the originals byte for byte;
 * (b) `rtpst2022-1-fecenc` output captured to files, media dropped: our decoder rebuilds the
 *     dropped packets bit-exact.
 * Both use media SSRC 0: GStreamer's encoder refuses another, and its decoder writes 0 into
 * what it rebuilds.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { St2022FecEncoder } from '../st2022-1-encoder.js';
import { St2022FecDecoder } from '../st2022-1-decoder.js';
import { writeFixedHeader } from '../header.js';
import { seqAdd } from '../seq.js';
import type { StreamInfo } from '../interceptor.js';
import { mulberry32 } from '../../demo/prng.js';
import { GstPeer, H264_RTP_CAPS, sleep, unframeRtpStream } from '../../../test-rig/rtp/gst-peers.js';

const dir = mkdtempSync(join(tmpdir(), 'orbox-fec-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));


const seqOf = (p: Uint8Array): number => (p[2] << 8) | p[3];

/** Three UDP ports base, base+2, base+4 free on 127.0.0.1 (media, column FEC, row FEC). */
async function freePortTriple(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 22_000 + 2 * Math.floor(Math.random() * 4_900);
    const socks = [0, 2, 4].map(() => createSocket('udp4'));
    const ok = await Promise.all(socks.map((s, k) => new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.bind(base + 2 * k, '127.0.0.1', () => resolve(true));
    })));
    for (const s of socks) s.close();
    if (ok.every(Boolean)) return base;
  }
  throw new Error('no free UDP port triple');
}

t.test('(a) rtpst2022-1-fecdec rebuilds the media packets we drop, from our FEC, byte for byte', async (t) => {
  const port = await freePortTriple();
  const out = join(dir, 'a-out.rtps');
  const peer = new GstPeer([
    'rtpst2022-1-fecdec', 'name=dec', '!', 'rtpstreampay', '!', 'filesink', `location=${out}`,
    'udpsrc', `port=${port}`, 'address=127.0.0.1', `caps=${H264_RTP_CAPS}`, '!', 'dec.sink',
    // The encoder's fec_0 is the column stream (media + 2), fec_1 the row stream (media + 4).
    'udpsrc', `port=${port + 2}`, 'address=127.0.0.1', 'caps=application/x-rtp,payload=97', '!', 'dec.fec_0',
    'udpsrc', `port=${port + 4}`, 'address=127.0.0.1', 'caps=application/x-rtp,payload=97', '!', 'dec.fec_1',
  ]);
  await peer.ready();
  await sleep(300);

  const sock = createSocket('udp4');
  const wire: { port: number; bytes: Buffer }[] = [];
  const info: StreamInfo = { name: 'or1/hq', kind: 'video', ssrc: 0, payloadType: 96, clockRate: 90000 };
  const enc = new St2022FecEncoder({
    columns: 5, rows: 5, payloadType: 97,
    columnSink: (p, n) => wire.push({ port: port + 2, bytes: Buffer.from(p.subarray(0, n)) }),
    rowSink: (p, n) => wire.push({ port: port + 4, bytes: Buffer.from(p.subarray(0, n)) }),
  });
  const send = enc.bindLocalStream(info, (p, n) => wire.push({ port, bytes: Buffer.from(p.subarray(0, n)) }));
  const rnd = mulberry32(15);
  const originals = new Map<number, Buffer>();
  const seq0 = 65480; // the third matrix crosses 65535 -> 0
  for (let i = 0; i < 100; i++) {
    const n = 12 + 40 + Math.floor(rnd() * 1100);
    const p = new Uint8Array(n);
    writeFixedHeader(p, i % 6 === 5, 96, seqAdd(seq0, i), (90_000 + 3003 * Math.floor(i / 6)) >>> 0, 0);
    for (let k = 12; k < n; k++) p[k] = Math.floor(rnd() * 256);
    originals.set(seqAdd(seq0, i), Buffer.from(p));
    send(p, n);
  }
  enc.close();
  // Matrix 0: one loss; matrix 1: two rows of two (columns then rows, iteratively); matrix 2:
  // three in one row across the wrap (each column rebuilds one).
  const dropIdx = [3, 25, 26, 31, 32, 55, 56, 57];
  const dropped = new Set(dropIdx.map((i) => seqAdd(seq0, i)));
  t.same(dropIdx.slice(-3).map((i) => seqAdd(seq0, i)), [65535, 0, 1], 'matrix 2 drops across the wrap');
  let sent = 0;
  for (const w of wire) {
    if (w.port === port && dropped.has(seqOf(w.bytes))) continue;
    sock.send(w.bytes, w.port, '127.0.0.1');
    if (++sent % 5 === 0) await sleep(2); // pace: keep the loopback socket buffers from overflowing
  }
  await sleep(500);
  const res = await peer.stop();
  sock.close();
  t.equal(res.exitCode, 0, `gst-launch exit (${res.stderrTail.slice(-300)})`);

  const got = unframeRtpStream(readFileSync(out));
  const bySeq = new Map<number, Buffer>();
  for (const p of got) {
    t.same(p, originals.get(seqOf(p)), `output packet ${seqOf(p)} equals what we sent`);
    bySeq.set(seqOf(p), p);
  }
  for (const s of dropped) t.ok(bySeq.get(s)?.equals(originals.get(s)!), `dropped ${s} rebuilt by GStreamer, byte for byte`);
  t.equal(bySeq.size, 100, 'every sequence number came out');
});

t.test('(b) our decoder rebuilds, bit-exact, the media dropped from rtpst2022-1-fecenc output', async (t) => {
  const files = { media: join(dir, 'b-media.rtps'), col: join(dir, 'b-col.rtps'), row: join(dir, 'b-row.rtps') };
  const res = await new GstPeer([
    'videotestsrc', 'pattern=ball', 'num-buffers=60', '!', 'video/x-raw,width=640,height=360', '!',
    'x264enc', 'tune=zerolatency', 'key-int-max=30', 'bitrate=1500', '!',
    'rtph264pay', 'ssrc=0', 'mtu=600', 'seqnum-offset=65400', '!',
    'rtpst2022-1-fecenc', 'rows=5', 'columns=5', 'name=enc', '!', 'rtpstreampay', '!', 'filesink', `location=${files.media}`,
    // The FEC sinks must not wait for preroll: the encoder pushes to all three from one thread.
    'enc.fec_0', '!', 'rtpstreampay', '!', 'filesink', 'async=false', `location=${files.col}`,
    'enc.fec_1', '!', 'rtpstreampay', '!', 'filesink', 'async=false', `location=${files.row}`,
  ]).done(30_000);
  t.equal(res.exitCode, 0, 'gst-launch exit');
  const media = unframeRtpStream(readFileSync(files.media));
  const cols = unframeRtpStream(readFileSync(files.col));
  const rows = unframeRtpStream(readFileSync(files.row));
  t.ok(media.length >= 150, `${media.length} media packets (>= 6 matrices)`);
  t.equal(seqOf(media[0]), 65400);
  t.equal(rows.length, Math.floor(media.length / 5));
  t.equal(cols.length, 5 * Math.floor(media.length / 25));

  // Index in the stream -> lost: a single; two iterative chains (the second across 65535 -> 0).
  const dropIdx = [3, 25, 26, 31, 32, 135, 136, 140, 149];
  const lost = new Set(dropIdx);
  const got: Buffer[] = [];
  const dec = new St2022FecDecoder({ sink: (p, n) => got.push(Buffer.from(p.subarray(0, n))) });
  media.forEach((p, i) => { if (!lost.has(i)) dec.pushMedia(p, p.length); });
  for (const p of rows) dec.pushFec(p, p.length, 'row');
  for (const p of cols) dec.pushFec(p, p.length, 'column');
  t.same(got.map(seqOf).sort((a, b) => a - b), dropIdx.map((i) => seqAdd(65400, i)).sort((a, b) => a - b), 'every dropped one rebuilt');
  for (const p of got) t.same(p, media[(seqOf(p) - 65400 + 65536) & 0xffff], `packet ${seqOf(p)} bit-exact`);
  dec.flush();
  t.match(dec.stats, { recovered: dropIdx.length, unrecoverable: 0, badFec: 0, fecPackets: rows.length + cols.length });
});
