/**
 * The pixel clock (pixel-clock.ts): its block layout as a byte table, the CRC's check value,
 * damaged reads reported (never misread), and stamps read back exact after a real H.264 round
 * trip through GStreamer (x264enc -> avdec_h264): 1080p at 8 Mb/s, 640x360 at 800 kb/s, and a
 * 1080p frame scaled to 640x360 (a channel's lq) at 800 kb/s, over a textured, moving picture.
 */
import t from 'tap';
import { GstPipeline } from '../../../edge/gst/index.js';
import { COLS, LUMA_ONE, LUMA_ZERO, blockSize, crc16, readStamp, stampBytes, stampCrc, writeStamp } from '../pixel-clock.js';
import { MovingPicture } from '../moving-picture.js';

t.test('layout: blocks, sizes, CRC', async (t) => {
  // CRC-16/CCITT-FALSE check value (the catalogue's "123456789").
  t.equal(crc16(new TextEncoder().encode('123456789')), 0x29b1, 'CRC-16/CCITT-FALSE check value');
  t.same(blockSize({ width: 1920, height: 1080 }), { bw: 48, bh: 44 });
  t.same(blockSize({ width: 1280, height: 720 }), { bw: 32, bh: 30 });
  t.same(blockSize({ width: 640, height: 360 }), { bw: 16, bh: 14 });
  t.throws(() => blockSize({ width: 160, height: 120 }), /below 8/, 'too small a frame is refused');
  t.equal(stampBytes({ width: 640, height: 360 }), 14 * 2 * 640);

  // Byte table: stamp 0x8000000000000001 -> block 0 and block 63 white, 1..62 black, then the
  // CRC's 16 bits in blocks 64..79 (MSB first).
  const g = { width: 640, height: 360 };
  const y = new Uint8Array(640 * 360).fill(128);
  const stamp = 0x8000_0000_0000_0001n;
  writeStamp(y, g, stamp);
  const crc = stampCrc(stamp);
  const at = (bit: number, dx = 0, dy = 0): number => y[(Math.floor(bit / COLS) * 14 + dy) * 640 + (bit % COLS) * 16 + dx];
  t.equal(at(0), LUMA_ONE, 'bit 0 (MSB) white');
  t.equal(at(0, 15, 13), LUMA_ONE, 'the whole block, to its last pixel');
  t.equal(at(1), LUMA_ZERO, 'bit 1 black');
  t.equal(at(62), LUMA_ZERO, 'bit 62 black');
  t.equal(at(63), LUMA_ONE, 'bit 63 (LSB) white: row 1, column 23');
  t.equal(y[(14 + 3) * 640 + 23 * 16 + 5], LUMA_ONE, 'bit 63 lies in the second block row');
  const crcBits = Array.from({ length: 16 }, (_, i) => (at(64 + i) === LUMA_ONE ? 1 : 0)).join('');
  t.equal(crcBits, crc.toString(2).padStart(16, '0'), 'blocks 64..79 are the CRC, MSB first');
  t.equal(y[28 * 640], 128, 'nothing below the two block rows is touched');
  t.same(readStamp(y, g), { ok: true, stamp }, 'reads back');
  t.same(readStamp(y.subarray(0, stampBytes(g)), g), { ok: true, stamp }, 'from just the top rows, as a short pullInto gives them');
});

t.test('a damaged read is reported, not misread', async (t) => {
  const g = { width: 640, height: 360 };
  const y = new Uint8Array(640 * 360);
  const stamp = 1_234_567_890_123_456_789n;
  writeStamp(y, g, stamp);
  // One block flipped cleanly (white <-> black): the CRC catches it.
  const flip = (bit: number, v: number): void => {
    for (let r = 0; r < 14; r++) y.fill(v, (Math.floor(bit / COLS) * 14 + r) * 640 + (bit % COLS) * 16, (Math.floor(bit / COLS) * 14 + r) * 640 + (bit % COLS) * 16 + 16);
  };
  const before = y[5 * 640 + 10 * 16 + 5];
  flip(10, before === LUMA_ONE ? LUMA_ZERO : LUMA_ONE);
  const r = readStamp(y, g);
  t.equal(r.ok, false);
  t.equal(!r.ok && r.reason, 'checksum', 'a flipped bit fails the CRC');
  flip(10, before);
  t.same(readStamp(y, g), { ok: true, stamp }, 'restored, it reads again');
  // A block smeared to grey is not guessed at.
  flip(70, 128);
  const r2 = readStamp(y, g);
  t.same(!r2.ok && r2.reason === 'ambiguous' && r2.block, 70, 'a grey block is ambiguous, at its index');
  // Every single-bit flip over a set of stamps is caught.
  let caught = 0;
  const z = new Uint8Array(640 * 28);
  for (let bit = 0; bit < 80; bit++) {
    writeStamp(z, g, 0x0123_4567_89ab_cdefn);
    const row = Math.floor(bit / COLS) * 14, col = (bit % COLS) * 16;
    const v = z[row * 640 + col] === LUMA_ONE ? LUMA_ZERO : LUMA_ONE;
    for (let rr = 0; rr < 14; rr++) z.fill(v, (row + rr) * 640 + col, (row + rr) * 640 + col + 16);
    if (!readStamp(z, g).ok) caught++;
  }
  t.equal(caught, 80, 'each of the 80 single-block flips is detected');
  t.throws(() => writeStamp(y, g, -1n), /unsigned 64-bit/);
  t.throws(() => readStamp(new Uint8Array(100), g), /the stamp needs/);
});

interface Trip { width: number; height: number; outWidth: number; outHeight: number; kbps: number; frames: number }

/** Pushes stamped frames through x264enc -> avdec_h264 (optionally scaled first) and reads every decoded one. */
async function roundTrip(o: Trip): Promise<{ sent: bigint[]; read: (bigint | string)[] }> {
  const scale = o.outWidth !== o.width ? ` ! videoscale ! video/x-raw,width=${o.outWidth},height=${o.outHeight}` : '';
  const p = new GstPipeline(
    `appsrc name=src format=time caps=video/x-raw,format=I420,width=${o.width},height=${o.height},framerate=30/1${scale} ` +
      `! x264enc tune=zerolatency speed-preset=ultrafast bitrate=${o.kbps} key-int-max=30 ! avdec_h264 ` +
      `! video/x-raw,format=I420 ! appsink name=sink sync=false max-buffers=200`,
  );
  p.start();
  const pic = new MovingPicture(o.width, o.height);
  const frame = new Uint8Array(pic.frameBytes);
  const sent: bigint[] = [];
  // Stamps that use all 64 bits: a wall-clock-like value plus a large per-frame step.
  for (let k = 0; k < o.frames; k++) {
    const stamp = 0xf00d_0000_0000_0000n + BigInt(k) * 0x0000_0123_4567_89abn + BigInt(Date.now());
    pic.render(k, frame);
    writeStamp(frame, { width: o.width, height: o.height }, stamp);
    sent.push(stamp);
    p.appsrc('src').push(frame, { ptsNs: k * 33_333_333, durationNs: 33_333_333 });
  }
  p.appsrc('src').endOfStream();
  const top = new Uint8Array(stampBytes({ width: o.outWidth, height: o.outHeight }));
  const read: (bigint | string)[] = [];
  for (;;) {
    const s = await p.appsink('sink').pullInto(top);
    if (!s) break;
    const r = readStamp(top, { width: o.outWidth, height: o.outHeight });
    read.push(r.ok ? r.stamp : r.reason);
  }
  p.close();
  return { sent, read };
}

for (const trip of [
  { width: 1920, height: 1080, outWidth: 1920, outHeight: 1080, kbps: 8000, frames: 45 },
  { width: 640, height: 360, outWidth: 640, outHeight: 360, kbps: 800, frames: 60 },
  { width: 1920, height: 1080, outWidth: 640, outHeight: 360, kbps: 800, frames: 45 },
]) {
  t.test(`stamps survive H.264: ${trip.width}x${trip.height} -> ${trip.outWidth}x${trip.outHeight} at ${trip.kbps} kbit/s`, async (t) => {
    const { sent, read } = await roundTrip(trip);
    t.equal(read.length, sent.length, 'every frame decoded');
    t.same(read, sent, 'every stamp read back exact, in order');
  });
}
