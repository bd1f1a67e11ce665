import t from 'tap';
import { NalSpans, splitAnnexB } from '../annexb.js';

function nals(bytes: number[]): number[][] {
  const b = Buffer.from(bytes);
  const s = new NalSpans(1);
  splitAnnexB(b, s);
  const out: number[][] = [];
  for (let i = 0; i < s.count; i++) out.push([...b.subarray(s.offsets[i], s.offsets[i] + s.lengths[i])]);
  return out;
}

t.test('Annex B splitter: 3- and 4-byte start codes, trailing zeros, empty NALs', async (t) => {
  t.same(nals([0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5, 6]), [[0x67, 1, 2], [0x68, 3], [0x65, 4, 5, 6]]);
  t.same(nals([0, 0, 1, 0x09, 0xf0, 0, 0, 0, 0, 0, 1, 0x41, 9, 0]), [[0x09, 0xf0], [0x41, 9]], 'trailing_zero_8bits trimmed');
  t.same(nals([0, 0, 1, 0, 0, 1, 0x41, 7]), [[0x41, 7]], 'empty NAL skipped');
  t.same(nals([0, 0, 1, 0x41, 0, 0, 3, 1]), [[0x41, 0, 0, 3, 1]], 'emulation prevention kept');
  t.same(nals([]), []);
  const s = new NalSpans(1);
  for (let i = 0; i < 3; i++) splitAnnexB(Buffer.from([0, 0, 1, 0x41, 1, 0, 0, 1, 0x41, 2, 0, 0, 1, 0x41, 3]), s);
  t.equal(s.count, 3, 'reused spans hold only the last split');
});

t.test('Annex B splitter rejects data without start code, with offset', async (t) => {
  t.throws(() => nals([0x41, 1, 2]), { name: 'RtpFormatError', offset: 0 });
  t.throws(() => nals([0, 7, 0, 0, 1, 0x41]), { name: 'RtpFormatError', offset: 1 });
});
