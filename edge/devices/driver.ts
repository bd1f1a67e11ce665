/**
 * The contract between the device-data service (I/O, timers, sequence numbers, gaps) and one
 * protocol driver (session state machine + decoding). A driver never touches a port, a timer or
 * the clock directly: everything comes through its DriverHost, so a test drives it byte by byte
 * with a controlled clock, and replay runs the same decoder with a host that cannot write.
 */
import type { Timestamp } from '../lib/clock.js';
import type { ConnectionState, Protocol, SampleDraft } from './sample.js';

/** States of a remote command (SDC invocation states plus the product's invalid/unsupported). */
export type CommandState = 'waiting' | 'started' | 'finished' | 'failed' | 'cancelled' | 'invalid' | 'unsupported';
export type TerminalCommandState = Exclude<CommandState, 'waiting' | 'started'>;
export const TERMINAL_STATES: readonly CommandState[] = ['finished', 'failed', 'cancelled', 'invalid', 'unsupported'];

export interface DriverHost {
  /** Box clock. */
  now(): Timestamp;
  /** Queue bytes to the device (no-op in replay). */
  write(bytes: Uint8Array): void;
  /** A decoded sample; the host adds port, protocol and sequence number. */
  emit(sample: SampleDraft): void;
  /** Session state as the driver sees it. */
  setState(state: Extract<ConnectionState, 'associating' | 'connected' | 'silent'>, detail?: string): void;
  /** Whatever the device said about itself (model, id), once known. */
  setDeviceId(id: string): void;
}

/** How a driver reports the progress of a command it accepted. */
export interface CommandReporter {
  /** The request went out to the device. */
  started(): void;
  /** The device acknowledged / the command completed. */
  finished(detail?: string): void;
  /** The device refused or answered with an error. */
  failed(reason: string): void;
}

export type CommandAcceptance =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'unsupported'; readonly reason: string }
  | { readonly kind: 'invalid'; readonly reason: string };

export interface DriverStats {
  [counter: string]: number;
}

export interface ProtocolDriver {
  readonly protocol: Protocol;
  /** Counters (frames, bad checksums, aborts, overflows, dropped structures, ...). */
  readonly stats: DriverStats;
  /** The port is open: begin the session (association, requests). */
  start(): void;
  /** Bytes from the device, as read (any split). */
  receive(chunk: Uint8Array): void;
  /** Called by the host every few hundred ms: keep-alive, silence detection, re-association. */
  tick(): void;
  /** Validate and begin a remote command; progress is reported through `reporter`. */
  command(action: string, args: Record<string, unknown>, reporter: CommandReporter): CommandAcceptance;
  /** The port is gone or closing: forget the session, fail in-flight commands. */
  stop(reason: string): void;
  /** Device clock estimate (host - device), when the protocol carries device time. */
  clockEstimate(): { offsetNs?: bigint; driftPpm?: number };
}

/** Options every driver takes. */
export interface DriverOptions {
  /** Silence limit before the session is declared silent and re-established, ms (default per protocol). */
  silenceMs?: number;
}

/** A frame sink used by the framers: the view is valid only during the call. */
export type FrameSink = (frame: Uint8Array) => void;

/** Common framer shape: each protocol's byte stream -> frames, bounded (the drivers push every chunk a transport reads). */
export interface Framer {
  push(chunk: Uint8Array, onFrame: FrameSink): void;
  reset(): void;
  /** Bytes held right now (never above the framer's bound). */
  buffered(): number;
  readonly stats: DriverStats;
}
