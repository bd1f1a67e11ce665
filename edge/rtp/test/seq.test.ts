import t from 'tap';
import { seq16, u32, seqAdd, tsAdd, seqDiff, tsDiff, seqNewer, tsNewer, Unwrapper } from '../seq.js';

t.test('seq and timestamp helpers mask and wrap at 65535->0 and 2^32-1->0', async (t) => {
  t.equal(seq16(65536), 0);
  t.equal(seq16(-1), 65535);
  t.equal(seqAdd(65535, 1), 0);
  t.equal(seqAdd(65535, 2), 1);
  t.equal(seqAdd(0, -1), 65535);
  t.equal(u32(-1), 0xffffffff);
  t.equal(u32(2 ** 32 + 5), 5);
  t.equal(tsAdd(0xffffffff, 1), 0);
  t.equal(tsAdd(0xfffffff0, 0x20), 0x10);
  t.equal(seqDiff(65535, 0), 1);
  t.equal(seqDiff(0, 65535), -1);
  t.equal(seqDiff(10, 10), 0);
  t.equal(seqDiff(0, 32767), 32767);
  t.equal(seqDiff(0, 32768), -32768);
  t.equal(tsDiff(0xffffffff, 0), 1);
  t.equal(tsDiff(0, 0xffffffff), -1);
  t.ok(seqNewer(65535, 0));
  t.notOk(seqNewer(0, 65535));
  t.ok(tsNewer(0xfffffff0, 3));
  t.notOk(tsNewer(3, 0xfffffff0));
});

t.test('Unwrapper extends across wraps, maps late packets below, resets', async (t) => {
  const u = new Unwrapper(16);
  t.equal(u.unwrap(65534), 65534);
  t.equal(u.unwrap(65535), 65535);
  t.equal(u.unwrap(0), 65536);
  t.equal(u.unwrap(65535), 65535, 'late packet maps before the wrap');
  t.equal(u.unwrap(1), 65537);
  for (let i = 2; i < 3 * 65536; i += 1000) u.unwrap(i & 0xffff);
  t.ok(u.unwrap(5) > 3 * 65536, 'many cycles forward');
  u.reset();
  t.equal(u.unwrap(7), 7);
  const ts = new Unwrapper(32);
  t.equal(ts.unwrap(0xfffffff0), 0xfffffff0);
  t.equal(ts.unwrap(0x10), 0x100000010);
  t.equal(ts.unwrap(0xffffffff), 0xffffffff, 'late timestamp');
});
