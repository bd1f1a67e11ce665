/**
 * Remote commands from control to a device driver: one state machine per transaction id.
 *
 * States follow IEEE 11073 SDC's invocation states plus the product's own:
 *
 *   arrival --malformed / unknown port / duplicate id--> invalid (at once)
 *           --driver cannot--> unsupported (at once)
 *           --accepted--> waiting --request sent--> started --device answer--> finished | failed
 *           any non-terminal --cancel()--> cancelled;  --60 s without answer--> invalid (timeout)
 *           any non-terminal --close()--> cancelled (service closed)
 *
 * Latency is measured from arrival (the request's `arrivedMonoNs` stamped by control, or our own
 * reading when absent) to the terminal state, i.e. the device's acknowledgement.
 * A command always resolves with a CommandResult; it never rejects.
 *
 * Runs on: the device-data worker (DeviceDataService.command()).
 */
import { z } from 'zod';
import type { CommandReporter, CommandState, ProtocolDriver, TerminalCommandState } from './driver.js';
import type { ClockLike } from '../lib/clock.js';

export const COMMAND_TIMEOUT_MS = 60_000;

export const CommandRequestSchema = z
  .object({
    transactionId: z.string().min(1).max(64),
    port: z.string().min(1),
    action: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'lower-case dotted name'),
    args: z.record(z.string(), z.unknown()).optional(),
    /** Box monotonic ns at arrival in control; latency runs from here. */
    arrivedMonoNs: z.bigint().optional(),
  })
  .strict();
export type CommandRequest = z.input<typeof CommandRequestSchema>;

export interface CommandResult {
  transactionId: string;
  port: string;
  action: string;
  state: TerminalCommandState;
  reason?: string;
  detail?: string;
  arrivedMonoNs: bigint;
  ackMonoNs: bigint;
  /** ackMonoNs - arrivedMonoNs. */
  latencyNs: bigint;
  history: { state: CommandState; atMonoNs: bigint }[];
}

export type CommandStateListener = (transactionId: string, state: CommandState, atMonoNs: bigint) => void;

/** Timer injection: returns a cancel function. */
export type SetTimer = (fn: () => void, ms: number) => () => void;
export const realTimer: SetTimer = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref?.();
  return () => clearTimeout(t);
};

interface InFlight {
  result: Omit<CommandResult, 'state' | 'ackMonoNs' | 'latencyNs'> & { state: CommandState };
  resolve: (r: CommandResult) => void;
  cancelTimer: () => void;
}

export class CommandTracker {
  private readonly inFlight = new Map<string, InFlight>();
  private closed = false;

  constructor(
    private readonly clock: ClockLike,
    private readonly onState: CommandStateListener = () => {},
    private readonly timeoutMs = COMMAND_TIMEOUT_MS,
    private readonly setTimer: SetTimer = realTimer,
  ) {
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
  }

  /** Number of commands not yet in a terminal state. */
  pending(): number {
    return this.inFlight.size;
  }

  submit(raw: unknown, driverFor: (port: string) => ProtocolDriver | undefined): Promise<CommandResult> {
    const arrivedNow = this.clock.now().monoNs;
    const parsed = CommandRequestSchema.safeParse(raw);
    const r = raw as Partial<Record<string, unknown>> | null;
    const tx = typeof r?.['transactionId'] === 'string' ? (r['transactionId'] as string) : '';
    const port = typeof r?.['port'] === 'string' ? (r['port'] as string) : '';
    const action = typeof r?.['action'] === 'string' ? (r['action'] as string) : '';
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ');
      return Promise.resolve(this.immediate(tx, port, action, arrivedNow, 'invalid', `malformed command: ${why}`));
    }
    const req = parsed.data;
    const arrived = req.arrivedMonoNs ?? arrivedNow;
    if (this.closed) return Promise.resolve(this.immediate(req.transactionId, req.port, req.action, arrived, 'cancelled', 'service closed'));
    if (this.inFlight.has(req.transactionId)) {
      return Promise.resolve(this.immediate(req.transactionId, req.port, req.action, arrived, 'invalid', 'duplicate transaction id in flight'));
    }
    const driver = driverFor(req.port);
    if (!driver) return Promise.resolve(this.immediate(req.transactionId, req.port, req.action, arrived, 'invalid', `unknown port ${req.port}`));

    return new Promise<CommandResult>((resolve) => {
      const f: InFlight = {
        result: { transactionId: req.transactionId, port: req.port, action: req.action, arrivedMonoNs: arrived, state: 'waiting', history: [] },
        resolve,
        cancelTimer: () => {},
      };
      this.inFlight.set(req.transactionId, f);
      this.transition(f, 'waiting');
      const reporter: CommandReporter = {
        started: () => this.transition(f, 'started'),
        finished: (detail) => this.finish(f, 'finished', undefined, detail),
        failed: (reason) => this.finish(f, 'failed', reason),
      };
      let acc;
      try {
        acc = driver.command(req.action, req.args ?? {}, reporter);
      } catch (err) {
        this.finish(f, 'failed', `driver error: ${(err as Error).message}`);
        return;
      }
      if (acc.kind === 'unsupported') this.finish(f, 'unsupported', acc.reason);
      else if (acc.kind === 'invalid') this.finish(f, 'invalid', acc.reason);
      else if (this.inFlight.get(req.transactionId) === f) {
        const left = this.timeoutMs - Number((this.clock.now().monoNs - arrived) / 1_000_000n);
        f.cancelTimer = this.setTimer(() => this.finish(f, 'invalid', `timeout: no answer within ${this.timeoutMs / 1000} s`), Math.max(0, left));
      }
    });
  }

  /** Cancels a command in flight; false when the id is unknown or already terminal. */
  cancel(transactionId: string): boolean {
    const f = this.inFlight.get(transactionId);
    if (!f) return false;
    this.finish(f, 'cancelled', 'cancelled by request');
    return true;
  }

  /** Cancels everything in flight; later submissions resolve as cancelled. Idempotent. */
  close(): void {
    this.closed = true;
    for (const f of [...this.inFlight.values()]) this.finish(f, 'cancelled', 'service closed');
  }

  private transition(f: InFlight, s: CommandState): void {
    if (!this.inFlight.has(f.result.transactionId) || this.inFlight.get(f.result.transactionId) !== f) return;
    const at = this.clock.now().monoNs;
    f.result.state = s;
    f.result.history.push({ state: s, atMonoNs: at });
    this.onState(f.result.transactionId, s, at);
  }

  private finish(f: InFlight, s: TerminalCommandState, reason?: string, detail?: string): void {
    if (this.inFlight.get(f.result.transactionId) !== f) return; // already terminal
    this.transition(f, s);
    this.inFlight.delete(f.result.transactionId);
    f.cancelTimer();
    const ack = f.result.history[f.result.history.length - 1]!.atMonoNs;
    f.resolve({
      ...f.result,
      state: s,
      ...(reason !== undefined ? { reason } : {}),
      ...(detail !== undefined ? { detail } : {}),
      ackMonoNs: ack,
      latencyNs: ack - f.result.arrivedMonoNs,
    });
  }

  private immediate(tx: string, port: string, action: string, arrived: bigint, s: TerminalCommandState, reason: string): CommandResult {
    const at = this.clock.now().monoNs;
    this.onState(tx, s, at);
    return { transactionId: tx, port, action, state: s, reason, arrivedMonoNs: arrived, ackMonoNs: at, latencyNs: at - arrived, history: [{ state: s, atMonoNs: at }] };
  }
}
