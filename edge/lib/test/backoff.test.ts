// The one retry backoff (edge/lib/backoff.ts): its formula, its reset, and its refusals.
import t from 'tap';
import { Backoff, backoffDelay } from '../backoff.js';

t.test('backoff: capped exponential with jitter, reset after success', async (t) => {
  const b0 = new Backoff({ minMs: 100, maxMs: 1000, jitter: 0.5 }, () => 0);
  t.same([1, 2, 3, 4, 5, 6].map(() => b0.next()), [100, 200, 400, 800, 1000, 1000], 'r=0: the cap itself');
  const b1 = new Backoff({ minMs: 100, maxMs: 1000, jitter: 0.5 }, () => 0.999999);
  t.same([1, 2, 3, 4, 5].map(() => b1.next()), [50, 100, 200, 400, 500], 'r->1: half the cap');
  b1.reset();
  t.equal(b1.next(), 50, 'reset starts over');
  const full = new Backoff({ minMs: 100, maxMs: 1000, jitter: 1 }, () => 0.5);
  t.equal(full.next(), 50);
  const big = new Backoff({ minMs: 1, maxMs: 60_000, jitter: 0 });
  for (let i = 0; i < 2000; i++) big.next();
  t.equal(big.next(), 60_000, 'no overflow after many attempts');
  t.throws(() => new Backoff({ minMs: 0, maxMs: 1, jitter: 0 }), RangeError);
});

t.test('backoff: a caller that keeps its own count gets the same delays', async (t) => {
  const opts = { minMs: 250, maxMs: 2000, jitter: 0.5 };
  const b = new Backoff(opts, () => 0.25);
  t.same([0, 1, 2, 3, 4].map((n) => backoffDelay(n, opts, () => 0.25)), [0, 1, 2, 3, 4].map(() => b.next()));
  t.same([0, 1, 2, 3].map((n) => backoffDelay(n, opts, () => 0)), [250, 500, 1000, 2000]);
  t.throws(() => backoffDelay(0, { minMs: 10, maxMs: 5, jitter: 0 }), /minMs 10, maxMs 5/, 'the refusal names the values');
  t.throws(() => backoffDelay(0, { minMs: 10, maxMs: 50, jitter: 2 }), /jitter must be within 0..1, found 2/);
});
