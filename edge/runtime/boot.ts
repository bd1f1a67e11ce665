/**
 * What the supervisor hands a worker thread at start (its `workerData`): the worker's name,
 * the validated configuration, the clock anchor, the health table and the rings it produces
 * into or consumes from. Control additionally observes every ring, read-only, for status.
 */
import type { MessagePort } from 'node:worker_threads';
import type { BoxConfig } from '../config/index.js';
import type { ClockAnchor } from '../lib/clock.js';
import type { WorkerName } from '../lib/health.js';
import type { CpuLatencyState } from '../lib/cpu-latency.js';
import type { RingSpec } from './ring-plan.js';

export interface RingAttachment {
  sab: SharedArrayBuffer;
  type: 'record' | 'slot';
  role: 'producer' | 'consumer';
  /** Consumer slot in the ring (consumers only). */
  index: number;
}

export interface WorkerBoot {
  name: WorkerName;
  incarnation: number;
  config: BoxConfig;
  anchor: ClockAnchor;
  health: SharedArrayBuffer;
  rings: Record<string, RingAttachment>;
  /** Control only: every ring with its plan entry. */
  observe?: { spec: RingSpec; sab: SharedArrayBuffer }[];
  /** Control only: the supervisor's CPU wake-up latency request, for status. */
  cpuLatency?: CpuLatencyState;
  /** net-send only: this incarnation's channel to the RTSP server the supervisor owns (RtspServerHost.attach). */
  rtspServer?: MessagePort;
}

/** Control messages carried in a worker's inbox ring (JSON records). */
export type InboxMessage =
  | { type: 'ping'; id: string }
  | { type: 'fault'; mode: 'exit' | 'throw' | 'hang' }
  | { type: 'command'; id: string; from: string; name: string; args?: unknown }
  | { type: 'event'; from: WorkerName; event: WorkerEvent }
  /** To video-encode: force an IDR on a stream (a receiver's PLI/FIR, an uplink switching to it). */
  | { type: 'keyframe'; channel: string; role: 'hq' | 'lq'; reason: string }
  /** To net-send: an uplink receiver has new keys (a fresh SDP); its pairs restart with them. */
  | { type: 'uplink-rekeyed'; receiver: string }
  /** To net-send, from control's web console: a WHEP player's offer for a stream; answered by a `whep-answer` event. */
  | { type: 'whep-offer'; id: string; channel: string; role: 'hq' | 'lq'; sdp: string }
  | { type: 'whep-close'; id: string };

/** Events a worker reports; the supervisor routes them to control's inbox. */
export type WorkerEvent = { type: string; [k: string]: unknown };

/** Messages a worker posts to the supervisor (parentPort). */
export type ToSupervisor =
  | { type: 'ready' }
  | { type: 'event'; event: WorkerEvent }
  | { type: 'send'; to: WorkerName; msg: InboxMessage }
  | { type: 'restart'; worker: WorkerName; fault: number; delayMs: number };

/** Messages the supervisor posts to a worker (parentPort); lifecycle only. */
export type FromSupervisor = { type: 'stop'; deadlineMs: number };

