/**
 * The box's command runner: commands from orbox/v1/<box>/cmd executed one at a time, in
 * arrival order, at most once per command id, each answered with an Ack through the outbox.
 *
 * accept() runs synchronously inside mqtt.js's 'message' dispatch, so the id is in the FleetStore
 * ledger before the PUBACK lets the broker forget the command; a duplicate id gets the stored
 * answer again, flagged `duplicate`, without running. A command past its expires_at_ms answers
 * EXPIRED; a handler that runs past commandTimeoutMs answers FAILED and its signal is aborted.
 * A malformed or oversize payload answers INVALID when its id can be salvaged, and is summed up
 * in at most one "command.rejected" event per REJECT_EVENT_INTERVAL_MS.
 *
 * Lifecycle: answerInterrupted() once the store is open; on close the link aborts
 * `closeSignal` (the running handler's signal follows), calls cancelQueued(), waits a grace
 * period for `running`, then stop(). After the link has closed, answers are left to the ledger
 * (next start: FAILED, interrupted).
 *
 * Errors: a handler that throws, times out or returns a non-terminal state answers FAILED; only
 * a store failure throws out of accept().
 */
import { type Ack, type AckState, type FleetCommand, MAX_ACK_BYTES, TERMINAL_ACK_STATES, decodeAck, decodeCommand, encodeAck, salvageCommandId } from './codec.js';
import { FleetTimeoutError } from './errors.js';
import type { EventQueue } from './events.js';
import type { LogSink } from '../lib/log.js';
import type { Outbox } from './outbox.js';
import type { FleetStore } from './store.js';

/** Terminal answer of a command handler. */
export interface CommandResult {
  state: Exclude<AckState, 'waiting' | 'started'>;
  message?: string;
  details?: Record<string, string>;
}

export interface CommandContext {
  /** Sends an intermediate acknowledgement (e.g. a device command that is waiting, then started). */
  progress(state: 'waiting' | 'started', message?: string, details?: Record<string, string>): void;
  /** Aborted on close() or when the command times out. */
  signal: AbortSignal;
}

export interface FleetLinkHandlers {
  /**
   * Executes one command (never two at once, never the same id twice). `rebirth` is handled by
   * the link itself. Throwing answers FAILED with the error's message.
   */
  onCommand(cmd: FleetCommand, ctx: CommandContext): Promise<CommandResult>;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface CommandRejection {
  reason: string;
  /** Read from the payload when possible; an INVALID ack was queued for it. */
  commandId?: string;
  bytes: number;
}

/** At most one "command.rejected" event per this interval (a flood must not fill the outbox). */
const REJECT_EVENT_INTERVAL_MS = 1_000;

export interface CommandRunnerDeps {
  handlers: FleetLinkHandlers;
  store: FleetStore;
  outbox: Outbox;
  events: EventQueue;
  ackTopic: string;
  /** Largest accepted payload, bytes. */
  maxBytes: number;
  timeoutMs: number;
  timers: Timers;
  now: () => number;
  log: LogSink;
  /** Aborted when the link starts closing. */
  closeSignal: AbortSignal;
  /** True once the link has closed the store. */
  closed: () => boolean;
  /** Publishes a birth if online (the `rebirth` command). */
  rebirth: () => void;
  on: {
    rejected(rejection: CommandRejection): void;
    done(cmd: FleetCommand, ack: Ack): void;
    duplicate(commandId: string): void;
  };
}

export class CommandRunner {
  private execChain: Promise<void> = Promise.resolve();
  private readonly queued = new Map<string, FleetCommand>();
  private runningCommand: Promise<void> | undefined;
  private readonly counters = { executed: 0, rejected: 0, duplicates: 0 };
  private readonly rejectWindow = { count: 0, timer: undefined as unknown, lastReason: '' };

  constructor(private readonly deps: CommandRunnerDeps) {}

  get executed(): number {
    return this.counters.executed;
  }

  get rejected(): number {
    return this.counters.rejected;
  }

  get duplicates(): number {
    return this.counters.duplicates;
  }

  /** The command being executed, if any. */
  get running(): Promise<void> | undefined {
    return this.runningCommand;
  }

  /** Answers FAILED the commands a previous run died in; they are not run again. */
  answerInterrupted(): void {
    for (const id of this.deps.store.interruptedCommands()) {
      this.finish(id, { state: 'failed', message: 'interrupted by a box restart; not run again' });
    }
  }

  /** Answers CANCELLED the commands that have not started. */
  cancelQueued(): void {
    for (const [id] of this.queued) this.finish(id, { state: 'cancelled', message: 'box link closing' });
    this.queued.clear();
  }

  /** Drops the pending "command.rejected" summary. */
  stop(): void {
    if (this.rejectWindow.timer !== undefined) this.deps.timers.clearTimeout(this.rejectWindow.timer);
  }

  /** Handles one command payload. */
  accept(payload: Uint8Array): void {
    const { store, now } = this.deps;
    let cmd: FleetCommand;
    try {
      cmd = decodeCommand(payload, this.deps.maxBytes);
    } catch (err) {
      this.reject(payload, (err as Error).message);
      return;
    }
    const id = cmd.commandId;
    const known = store.ledger(id);
    if (known) {
      this.counters.duplicates++;
      this.deps.on.duplicate(id);
      if (known.state === 'done') {
        // The console may have missed the answer: send it again, flagged, without re-running.
        const ack = { ...decodeAck(known.ack), duplicate: true, timestampMs: now() };
        this.deps.outbox.enqueue(this.deps.ackTopic, encodeAck(ack), now());
      }
      return;
    }
    store.beginCommand(id, now());
    if (cmd.expiresAtMs !== 0 && now() > cmd.expiresAtMs) {
      this.finish(id, { state: 'expired', message: `expired at ${new Date(cmd.expiresAtMs).toISOString()}` }, cmd);
      return;
    }
    this.queued.set(id, cmd);
    this.execChain = this.execChain.then(() => this.execute(cmd));
  }

  private reject(payload: Uint8Array, reason: string): void {
    const { timers } = this.deps;
    this.counters.rejected++;
    const commandId = salvageCommandId(payload);
    if (commandId !== undefined && this.deps.store.beginCommand(commandId, this.deps.now())) {
      this.finish(commandId, { state: 'invalid', message: reason });
    }
    this.deps.on.rejected(commandId !== undefined ? { reason, commandId, bytes: payload.length } : { reason, bytes: payload.length });
    // One event per interval with a count: a flood of garbage must not flood the outbox.
    const w = this.rejectWindow;
    w.count++;
    w.lastReason = reason;
    if (w.timer === undefined) {
      w.timer = timers.setTimeout(() => {
        w.timer = undefined;
        if (this.deps.closeSignal.aborted) return;
        this.deps.events.publish('command.rejected', `${w.count} command payload(s) rejected; last: ${w.lastReason}`, {
          severity: 'warning',
          fields: { count: String(w.count) },
        });
        w.count = 0;
      }, REJECT_EVENT_INTERVAL_MS);
    }
  }

  private async execute(cmd: FleetCommand): Promise<void> {
    if (!this.queued.delete(cmd.commandId)) return; // cancelled by close()
    const run = this.runHandler(cmd).then((result) => this.finish(cmd.commandId, result, cmd));
    this.runningCommand = run;
    await run;
    this.runningCommand = undefined;
  }

  private async runHandler(cmd: FleetCommand): Promise<CommandResult> {
    if (cmd.body.kind === 'rebirth') {
      this.deps.rebirth();
      return { state: 'finished', message: 'birth published' };
    }
    const { closeSignal, timers, timeoutMs, now } = this.deps;
    const ac = new AbortController();
    const onClose = () => ac.abort(closeSignal.reason);
    closeSignal.addEventListener('abort', onClose, { once: true });
    const ctx: CommandContext = {
      signal: ac.signal,
      progress: (state, message = '', details = {}) => {
        if (this.deps.closed()) return;
        const ack: Ack = { commandId: cmd.commandId, state, message, timestampMs: now(), details, duplicate: false };
        this.deps.outbox.enqueue(this.deps.ackTopic, encodeAck(ack), now());
      },
    };
    let timer: unknown;
    const timeout = new Promise<CommandResult>((resolve) => {
      timer = timers.setTimeout(() => {
        ac.abort(new FleetTimeoutError('command', timeoutMs));
        resolve({ state: 'failed', message: `timeout after ${timeoutMs} ms` });
      }, timeoutMs);
    });
    // Once the link closes, the ledger answers a command that did not finish in the grace
    // period (next start: FAILED, interrupted); its timer must not keep the process alive.
    const dropTimer = () => timers.clearTimeout(timer);
    closeSignal.addEventListener('abort', dropTimer, { once: true });
    try {
      const result = await Promise.race([this.deps.handlers.onCommand(cmd, ctx), timeout]);
      if (!result || !TERMINAL_ACK_STATES.has(result.state)) {
        return { state: 'failed', message: `handler returned a non-terminal state: ${String(result?.state)}` };
      }
      return result;
    } catch (err) {
      return { state: 'failed', message: (err as Error)?.message ?? String(err) };
    } finally {
      timers.clearTimeout(timer);
      closeSignal.removeEventListener('abort', onClose);
      closeSignal.removeEventListener('abort', dropTimer);
    }
  }

  /** Stores the final answer in the ledger and queues it, in one transaction. */
  private finish(commandId: string, result: CommandResult, cmd?: FleetCommand): void {
    if (this.deps.closed()) return; // the ledger keeps 'executing': next start answers FAILED
    const ack: Ack = {
      commandId,
      state: result.state,
      message: result.message ?? '',
      timestampMs: this.deps.now(),
      details: result.details ?? {},
      duplicate: false,
    };
    let bytes = encodeAck(ack);
    if (bytes.length > MAX_ACK_BYTES) {
      // Never queue what the broker may refuse: it would be re-sent on every connection.
      this.deps.log.warn({ commandId, bytes: bytes.length }, 'command result too large for the fleet link');
      ack.state = 'failed';
      ack.message = `result of ${bytes.length} bytes exceeds the fleet link's limit of ${MAX_ACK_BYTES} bytes`;
      ack.details = {};
      bytes = encodeAck(ack);
    }
    this.deps.outbox.finishCommand(commandId, this.deps.ackTopic, bytes, this.deps.now());
    if (cmd) {
      if (result.state !== 'expired') this.counters.executed++;
      this.deps.on.done(cmd, ack);
    }
  }
}
