/**
 * Quantiles of a sample, the one definition every figure of the box uses (status latencies,
 * sync durations, the benches): the value at rank floor(q * n) of the sorted sample, so p99
 * of 100 values is the largest but none, and of fewer than 100 the largest.
 */

/** The q-quantile (0..1) of an ascending-sorted sample; 0 for an empty one. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  return n ? sorted[Math.min(n - 1, Math.floor(q * n))]! : 0;
}

/** Sorted ascending copy, for quantile(). */
export const sortedCopy = (xs: Iterable<number>): number[] => Array.from(xs).sort((a, b) => a - b);
