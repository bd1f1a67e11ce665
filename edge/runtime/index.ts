/**
 * The runtime layer: the contract between the supervisor and the nine worker threads, below
 * both so that imports only run downward (lib <- protocols/media <- runtime <- control,
 * workers <- supervisor <- cli).
 *
 *   boot.ts          what a worker is handed at start (WorkerBoot), the messages between a
 *                    worker and the supervisor, worker events
 *   context.ts       the thread's runtime around a worker module: WorkerContext, runWorker,
 *                    ring pumps
 *   ring-plan.ts     which rings a configuration needs and who produces and consumes each
 *   guard-policy.ts  the restart policy the guard (and the supervisor, for the guard) applies
 */
export * from './boot.js';
export * from './context.js';
export * from './ring-plan.js';
export * from './guard-policy.js';
