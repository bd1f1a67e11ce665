/**
 * The JPEG frame-header reader (edge/video/jpeg.ts, ITU-T T.81 B.1.1.3 / B.2.2) from a byte
 * table, against jpegenc's output, and the snapshot geometry and ring size of
 * edge/video/snapshot.ts.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../config/index.js';
import { readJpegInfo, snapshotGeometry, snapshotRingBytes } from '../index.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
// SOF0 of a 64x48 Y'CbCr picture: length 17, P=8, Y=48, X=64, Nf=3, three component specs.
const SOF0_64x48 = 'ffc0 0011 08 0030 0040 03 012200 021101 031101';

const table: [string, string, ReturnType<typeof readJpegInfo>][] = [
  ['SOF0 right after SOI', `ffd8 ${SOF0_64x48}`, { width: 64, height: 48, precision: 8, components: 3 }],
  ['APP0 (JFIF) and DQT before the SOF', `ffd8 ffe0 0010 4a46494600 0101 00 0001 0001 0000 ffdb 0004 0000 ${SOF0_64x48}`, { width: 64, height: 48, precision: 8, components: 3 }],
  ['fill bytes before a marker', `ffd8 ffffff ${SOF0_64x48}`, { width: 64, height: 48, precision: 8, components: 3 }],
  ['DHT (C4) is not a frame header; SOF2 (progressive) is', 'ffd8 ffc4 0004 0000 ffc2 000b 08 0010 0020 01 011100', { width: 32, height: 16, precision: 8, components: 1 }],
  ['a standalone RST marker is stepped over', `ffd8 ffd0 ${SOF0_64x48}`, { width: 64, height: 48, precision: 8, components: 3 }],
  ['largest size', 'ffd8 ffc0 000b 08 ffff ffff 01 011100', { width: 65535, height: 65535, precision: 8, components: 1 }],
  ['empty', '', null],
  ['not a JPEG (PNG signature)', '89504e470d0a1a0a', null],
  ['SOI only', 'ffd8', null],
  ['scan before any frame header', 'ffd8 ffda 0004 0000', null],
  ['EOI before any frame header', 'ffd8 ffd9', null],
  ['SOF cut short', 'ffd8 ffc0 0011 08 00', null],
  ['segment length past the end', 'ffd8 ffe0 0100 0000', null],
  ['segment length below 2', 'ffd8 ffe0 0001', null],
  ['SOF length too small for its fields', 'ffd8 ffc0 0007 08 0030 0040', null],
  ['zero width', 'ffd8 ffc0 000b 08 0030 0000 01 011100', null],
  ['DNL height (Y = 0)', 'ffd8 ffc0 000b 08 0000 0040 01 011100', null],
  ['garbage where a marker should be', 'ffd8 00', null],
  ['fill bytes to the end', 'ffd8 ffffff', null],
];

t.test('frame header from a byte table; malformed input is null, never a throw', async (t) => {
  for (const [name, bytes, want] of table) t.same(readJpegInfo(hex(bytes)), want, name);
  // Every prefix of a valid header is either the full answer or null.
  const full = hex(`ffd8 ffe0 0004 0000 ${SOF0_64x48}`);
  for (let n = 0; n < full.length; n++) {
    const got = readJpegInfo(full.subarray(0, n));
    if (got !== null) t.fail(`prefix of ${n} bytes read as ${JSON.stringify(got)}`);
  }
});

t.test('what jpegenc writes reads as the size it was given', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-jpeg-'));
  for (const [w, h, fmt] of [[640, 360, 'I420'], [322, 180, 'I420'], [96, 64, 'GRAY8']] as const) {
    const file = join(dir, `${w}x${h}.jpg`);
    execFileSync('gst-launch-1.0', ['-q', 'videotestsrc', 'num-buffers=1', '!', `video/x-raw,format=${fmt},width=${w},height=${h}`, '!', 'jpegenc', '!', 'filesink', `location=${file}`]);
    t.same(readJpegInfo(readFileSync(file)), { width: w, height: h, precision: 8, components: fmt === 'GRAY8' ? 1 : 3 }, `${fmt} ${w}x${h}`);
  }
});

function channel(source: { width: number; height: number }, snapshot: Record<string, unknown> = {}) {
  return validateConfig({
    box: { id: 'g', dataDir: '/tmp/g' }, api: { socket: '/tmp/g.sock' },
    channels: [{
      name: 'c', source: { type: 'test-pattern', fps: 30, ...source },
      hq: { width: 64, height: 64, bitrateKbps: 100, gop: 15 }, lq: { width: 64, height: 64, bitrateKbps: 100, gop: 15 }, snapshot,
    }],
  }).channels[0];
}

t.test('still and thumbnail sizes follow the source; the ring holds a raw frame of the still', async (t) => {
  const cases: [{ width: number; height: number }, Record<string, unknown>, [number, number], [number, number]][] = [
    [{ width: 1920, height: 1080 }, {}, [1920, 1080], [320, 180]],
    [{ width: 1280, height: 720 }, { width: 640 }, [640, 360], [320, 180]],
    [{ width: 320, height: 240 }, {}, [320, 240], [320, 240]],
    [{ width: 160, height: 120 }, {}, [160, 120], [160, 120]],
    [{ width: 720, height: 576 }, { width: 352 }, [352, 282], [320, 256]], // PAL: 281.6 rounds to an even 282
    [{ width: 1281, height: 721 }, {}, [1280, 720], [320, 180]], // odd source: the even width below it
  ];
  for (const [src, snap, still, thumb] of cases) {
    const g = snapshotGeometry(channel(src, snap));
    t.same([g.still.width, g.still.height, g.thumbnail.width, g.thumbnail.height], [...still, ...thumb], `${src.width}x${src.height} ${JSON.stringify(snap)}`);
  }
  const hd = channel({ width: 1920, height: 1080 });
  const bytes = snapshotRingBytes(hd);
  t.equal(bytes, 4 << 20, '1080p: 4 MiB (a 3.1 MB raw frame rounded up to a power of two)');
  t.ok(bytes - 32 > 2 * 1_327_149, 'holds two of the largest 1080p still measured (noise, 1.33 MB)');
  t.equal(snapshotRingBytes(channel({ width: 160, height: 120 })), 256 * 1024, 'never below 256 KiB');
});
