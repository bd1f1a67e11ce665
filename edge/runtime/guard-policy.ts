/** The guard's restart policy, apart from the thread so it can be tested as a function. */
import { backoffDelay } from '../lib/backoff.js';
import type { HealthTable, WorkerName } from '../lib/health.js';

/** A worker that has run this long forgets its earlier failures. */
export const STABLE_MS = 10_000;
/** Failures in a row restarted at once, before backoff starts. */
export const IMMEDIATE_RESTARTS = 3;

/**
 * Delay in ms before restart number `fails` in a row (1-based): 0 for the first
 * IMMEDIATE_RESTARTS, then the box's backoff (edge/lib/backoff.ts) from baseMs up to maxMs,
 * up to half of it taken off by jitter.
 */
export function restartDelay(fails: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  if (fails <= IMMEDIATE_RESTARTS) return 0;
  return backoffDelay(fails - IMMEDIATE_RESTARTS - 1, { minMs: baseMs, maxMs, jitter: 0.5 }, random);
}

/**
 * Counts one more failure in a row of `w` in the health table and returns the restart delay
 * it earns. Used by the guard for every worker, and by the supervisor for the guard.
 */
export function countFailure(h: HealthTable, w: WorkerName, policy: { backoffMs: number; backoffMaxMs: number }): { fails: number; delayMs: number } {
  const fails = h.failsInRow(w) + 1;
  h.setFailsInRow(w, fails);
  return { fails, delayMs: restartDelay(fails, policy.backoffMs, policy.backoffMaxMs) };
}
