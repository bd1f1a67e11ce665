/**
 * edge/gst — the GStreamer layer: the only module the firmware reaches GStreamer through.
 *
 * Contract
 * - Runs on: any worker thread (video-capture, video-encode, audio-*, net-send, duplex-voice),
 *   several at once. Each thread loads its own instance of the native binding
 *   (gstreamer-superficial, patched: see patches/README.md); a worker that exits stops and
 *   releases its pipelines.
 * - Never blocks the event loop on GStreamer and never uses the libuv threadpool: pulls and bus
 *   messages are woken by GStreamer's own threads. The exceptions are state changes (start, the
 *   final NULL of stop/close), which GStreamer performs synchronously and take milliseconds.
 * - Lifecycle, one state (`GstPipeline.state`):
 *     created --start()--> playing --stop()--> stopping --> stopped --start()--> playing ...
 *     any state --close()--> closed (idempotent; releases the native pipeline at once)
 *   The constructor only parses (throws GstParseError). Calls in the wrong state throw
 *   GstStateError; calls after close() throw GstClosedError, except close() and stop().
 * - Bus messages become typed events while the pipeline plays: 'error' (GstError; as with every
 *   Node EventEmitter, an 'error' with no listener throws: every owner must listen), 'warning',
 *   'eos', 'element' (ElementMessage; splitmuxsink fragment-opened/closed decoded).
 * - Time: every timestamp is in nanoseconds as a JS number (GStreamer running time; exact up to
 *   2^53 ns = 104 days). Encoders such as x264enc add a 1000 h offset to PTS/DTS (3.6e15 ns),
 *   still exact. null means "not set" (GST_CLOCK_TIME_NONE).
 * - Samples are copied once on pull: into a new Buffer (pull), or into the caller's memory
 *   (pullInto: a slot of a shared ring, so raw video allocates nothing per frame). Pushed
 *   buffers are copied once into a GstBuffer (push), or lent without a copy (pushShared:
 *   shared memory, handed back by clearing bits in a shared word when GStreamer is done).
 * - Capture time: a live source stamps buffers with the running time at capture;
 *   `baseTimeNs() + ptsNs` places it on the monotonic clock of process.hrtime.
 */
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import type * as Binding from 'gstreamer-superficial';

// ---------------------------------------------------------------- errors

/** A GStreamer error: a bus error/warning, a failed property set, a missing element. */
export class GstError extends Error {
  override name = 'GstError';
  constructor(
    message: string,
    /** Name of the element it came from, when known. */
    readonly element?: string,
    /** GStreamer's debug detail, when given. */
    readonly debug?: string,
  ) {
    super(message);
  }
}

/** The launch description does not parse (syntax, unknown element or property). */
export class GstParseError extends GstError {
  override name = 'GstParseError';
  constructor(message: string, readonly description: string) {
    super(message);
  }
}

/** A call not allowed in the pipeline's current state. */
export class GstStateError extends GstError {
  override name = 'GstStateError';
  constructor(readonly operation: string, readonly state: PipelineState, readonly allowed: readonly PipelineState[]) {
    super(`${operation}: not allowed in state '${state}' (allowed: ${allowed.join(', ')})`);
  }
}

/** The pipeline was closed. */
export class GstClosedError extends GstError {
  override name = 'GstClosedError';
  constructor(operation: string) {
    super(`${operation}: pipeline is closed`);
  }
}

// ---------------------------------------------------------------- binding

const require = createRequire(import.meta.url);
let binding: typeof Binding | undefined;

/** The native binding of this thread, loaded on first use. Throws a GstError when the
 *  installed build lacks the orbox patch (it would abort the process in a second worker). */
function native(): typeof Binding {
  if (binding) return binding;
  const b = require('gstreamer-superficial') as typeof Binding;
  if (typeof (b.Pipeline.prototype as { dispose?: unknown }).dispose !== 'function') {
    throw new GstError(
      'gstreamer-superficial is built without patches/gstreamer-superficial+1.7.4.patch: ' +
        'run `npx patch-package && npm rebuild gstreamer-superficial`',
    );
  }
  binding = b;
  return b;
}

// ---------------------------------------------------------------- types

export type PipelineState = 'created' | 'playing' | 'stopping' | 'stopped' | 'closed';

/** The first structure of a sample's caps; `name` is the media type (e.g. "video/x-raw"). */
export interface Caps {
  readonly name?: string;
  readonly [field: string]: unknown;
}

/** One buffer pulled from an appsink. */
export interface GstSample {
  /** A copy of the buffer's bytes. */
  readonly data: Buffer;
  readonly caps: Caps;
  /** Presentation time, ns, or null. */
  readonly ptsNs: number | null;
  /** Decode time, ns, or null (raw video usually has none). */
  readonly dtsNs: number | null;
  /** Duration, ns, or null. */
  readonly durationNs: number | null;
  /** Not a delta unit: a keyframe (encoded video) or any independent buffer (raw). */
  readonly keyframe: boolean;
}

/** What pullInto() copied: the sample's size and everything else a GstSample carries. */
export interface PulledInto extends Omit<GstSample, 'data'> {
  /** The sample's size in bytes (may exceed the destination: then only what fits was copied). */
  readonly size: number;
}

/** Timing of one pushed buffer. Numbers must be non-negative integers (ns). */
export interface PushOptions {
  ptsNs: number | bigint;
  dtsNs?: number | bigint;
  durationNs?: number | bigint;
  /** false marks the buffer as a delta unit (not decodable on its own). Default: unset flag. */
  keyframe?: boolean;
}

/**
 * How a lent buffer is handed back: when GStreamer frees it, the bits of `mask` are cleared
 * in `words[index]` (an atomic AND, as Atomics.and; no waiter is woken).
 */
export interface ShareRelease {
  readonly words: Int32Array;
  readonly index: number;
  readonly mask: number;
}

/** Property values as the binding converts them: integers exactly (64-bit as bigint or
 *  decimal string), enums by nick/name/number, flags as "a+b" or a number, caps as a string. */
export type PropertyValue = string | number | bigint | boolean | null;

/** An element message, splitmuxsink's fragment messages decoded. */
export type ElementMessage =
  | {
      readonly kind: 'fragment-opened' | 'fragment-closed';
      /** The splitmuxsink that posted it. */
      readonly source: string;
      /** Path of the fragment file. */
      readonly location: string;
      /** Running time of the fragment's start (opened) or end (closed), ns. */
      readonly runningTimeNs: number;
    }
  | {
      readonly kind: 'other';
      readonly source: string;
      /** The message structure's name. */
      readonly name: string;
      readonly fields: Readonly<Record<string, unknown>>;
    };

/** Events of a GstPipeline (listener argument tuples). */
export interface GstPipelineEvents {
  error: [GstError];
  warning: [GstError];
  eos: [];
  element: [ElementMessage];
}

/** Result of stop(). */
export interface StopResult {
  /** true when end-of-stream went through the whole pipeline before the deadline
   *  (muxers finalised their files); false when the deadline forced the stop. */
  readonly drained: boolean;
}

export interface StopOptions {
  /** Send end-of-stream first and wait for it (default true). */
  eos?: boolean;
  /** How long to wait for end-of-stream, ms (default 3000). */
  deadlineMs?: number;
}

// ---------------------------------------------------------------- appsink / appsrc

/** A pulled buffer's timing as GstSample carries it. */
const timing = (m: Binding.BufferMeta): Pick<GstSample, 'ptsNs' | 'dtsNs' | 'durationNs' | 'keyframe'> =>
  ({ ptsNs: m.pts, dtsNs: m.dts, durationNs: m.duration, keyframe: m.keyframe });

/** Pulls from one appsink. Obtained through GstPipeline.appsink(name). */
export class GstAppSink {
  /** @internal */
  constructor(
    private readonly owner: GstPipeline,
    private readonly element: Binding.AppSink,
    readonly name: string,
  ) {}

  /**
   * The next sample, or null at end of stream, when the pipeline is not playing, or once it is
   * stopped or closed. Several pulls may be outstanding; they resolve in order.
   */
  pull(): Promise<GstSample | null> {
    if (this.owner.state === 'closed') return Promise.resolve(null);
    return new Promise((resolve) => {
      this.element.pull((buf, caps, meta) => {
        if (!buf || !meta) return resolve(null);
        resolve({ data: buf, caps, ...timing(meta) });
      });
    });
  }

  /**
   * Like pull(), but the sample's bytes are copied into `into` (e.g. a claimed slot of a shared
   * ring) and no Buffer is allocated. Resolves with the sample's size (`size > into.byteLength`:
   * only what fits was copied) and its timing, or null as pull() does.
   */
  pullInto(into: Uint8Array): Promise<PulledInto | null> {
    if (this.owner.state === 'closed') return Promise.resolve(null);
    return new Promise((resolve) => {
      this.element.pull((size, caps, meta) => {
        if (size === null || !meta) return resolve(null);
        resolve({ size, caps, ...timing(meta) });
      }, into);
    });
  }

  /** Samples until end of stream / stop / close. */
  async *[Symbol.asyncIterator](): AsyncGenerator<GstSample, void, undefined> {
    for (;;) {
      const s = await this.pull();
      if (!s) return;
      yield s;
    }
  }
}

const FLOW_OK = 0;

function pushTiming(opts: PushOptions): Binding.PushTiming {
  return { pts: opts.ptsNs, dts: opts.dtsNs ?? null, duration: opts.durationNs ?? null, keyframe: opts.keyframe };
}

/** Pushes into one appsrc. Obtained through GstPipeline.appsrc(name). */
export class GstAppSrc {
  /** @internal */
  constructor(
    private readonly owner: GstPipeline,
    private readonly element: Binding.AppSrc,
    readonly name: string,
  ) {}

  /**
   * Copies `data` into a buffer stamped with `opts` and queues it. Returns false when the
   * appsrc refused it (not playing, flushing, after end of stream); throws GstClosedError after
   * close() and TypeError on a bad timestamp.
   */
  push(data: Uint8Array, opts: PushOptions): boolean {
    if (this.owner.state === 'closed') throw new GstClosedError('push');
    return this.element.push(data, pushTiming(opts)) === FLOW_OK;
  }

  /**
   * Queues `data`, a view of a SharedArrayBuffer, without copying it: GStreamer reads that
   * memory (read-only: an element that writes gets its own copy) until it frees the buffer,
   * then `release` says so. The caller must not change the bytes before. The release happens
   * exactly once however the buffer ends, also at once when the appsrc refuses it (then this
   * returns false); when this throws (closed, bad timestamp) nothing was lent.
   */
  pushShared(data: Uint8Array, opts: PushOptions, release: ShareRelease): boolean {
    if (this.owner.state === 'closed') throw new GstClosedError('pushShared');
    return this.element.pushShared(data, pushTiming(opts), release) === FLOW_OK;
  }

  /** End of stream after the queued buffers. Returns false if the appsrc refused it. */
  endOfStream(): boolean {
    if (this.owner.state === 'closed') throw new GstClosedError('endOfStream');
    return this.element.endOfStream() === FLOW_OK;
  }
}

// ---------------------------------------------------------------- pipeline

export interface GstPipelineOptions {
  /** A label for errors and logs (default: the first element of the description). */
  label?: string;
}

/**
 * One GStreamer pipeline from a gst-launch description. See the module contract for the
 * lifecycle and events.
 */
export class GstPipeline extends EventEmitter<GstPipelineEvents> {
  readonly description: string;
  readonly label: string;
  #state: PipelineState = 'created';
  #native: Binding.Pipeline;
  #elements = new Map<string, Binding.Element>();
  #sinks = new Map<string, GstAppSink>();
  #srcs = new Map<string, GstAppSrc>();
  #stopping: Promise<StopResult> | undefined;
  #eosSeen = false;
  #onEosOrError: (() => void) | undefined;

  /** Parses `description` (gst-launch syntax). Throws GstParseError. */
  constructor(description: string, options: GstPipelineOptions = {}) {
    super();
    if (typeof description !== 'string' || description.trim() === '') {
      throw new GstParseError('empty pipeline description', String(description));
    }
    this.description = description;
    this.label = options.label ?? description.trim().split(/[\s!]/)[0];
    try {
      this.#native = new (native().Pipeline)(description);
    } catch (e) {
      if (e instanceof GstError) throw e;
      throw new GstParseError(`${this.label}: ${(e as Error).message}`, description);
    }
  }

  get state(): PipelineState {
    return this.#state;
  }

  /**
   * Where running time 0 lies on the monotonic clock (process.hrtime), ns; null while the
   * pipeline has no clock (not yet playing). A live source's `ptsNs + baseTimeNs()` is the
   * moment it captured the buffer (for v4l2src, the driver's timestamp).
   */
  baseTimeNs(): number | null {
    if (this.#state !== 'playing') return null;
    return this.#native.baseTime();
  }

  /** Plays the pipeline and starts delivering bus events. Allowed in created and stopped. */
  start(): void {
    this.#require('start', ['created', 'stopped']);
    this.#eosSeen = false;
    this.#native.pollBus((m) => this.#onBus(m));
    this.#native.play();
    this.#state = 'playing';
  }

  /**
   * Stops the pipeline: by default sends end-of-stream and waits for it (so muxers finish their
   * files) up to `deadlineMs`, then sets it to NULL. Pending pulls resolve null. Idempotent:
   * concurrent calls share one stop; in created/stopped/closed it resolves at once.
   */
  stop(options: StopOptions = {}): Promise<StopResult> {
    if (this.#stopping) return this.#stopping;
    if (this.#state !== 'playing') return Promise.resolve({ drained: false });
    const { eos = true, deadlineMs = 3000 } = options;
    this.#state = 'stopping';
    this.#stopping = (async () => {
      let drained = false;
      if (eos) {
        drained = await new Promise<boolean>((resolve) => {
          if (this.#eosSeen) return resolve(true);
          const timer = setTimeout(() => {
            this.#onEosOrError = undefined;
            resolve(false);
          }, deadlineMs);
          this.#onEosOrError = () => {
            clearTimeout(timer);
            this.#onEosOrError = undefined;
            resolve(this.#eosSeen);
          };
          this.#native.sendEOS();
        });
      }
      if (this.#state === 'stopping') {
        this.#native.stop();
        this.#state = 'stopped';
      }
      this.#stopping = undefined;
      return { drained };
    })();
    return this.#stopping;
  }

  /** Stops at once and releases the native pipeline. Idempotent. Pending pulls resolve null. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#onEosOrError?.();
    this.#native.dispose();
    this.#elements.clear();
    this.#sinks.clear();
    this.#srcs.clear();
  }

  /** The appsink named `name` (GstError if there is none). */
  appsink(name: string): GstAppSink {
    this.#requireOpen('appsink');
    let s = this.#sinks.get(name);
    if (!s) {
      const el = this.#element(name);
      if (typeof (el as Partial<Binding.AppSink>).pull !== 'function') {
        throw new GstError(`${this.label}: element '${name}' is not an appsink`, name);
      }
      s = new GstAppSink(this, el as Binding.AppSink, name);
      this.#sinks.set(name, s);
    }
    return s;
  }

  /** The appsrc named `name` (GstError if there is none). */
  appsrc(name: string): GstAppSrc {
    this.#requireOpen('appsrc');
    let s = this.#srcs.get(name);
    if (!s) {
      const el = this.#element(name);
      if (typeof (el as Partial<Binding.AppSrc>).push !== 'function') {
        throw new GstError(`${this.label}: element '${name}' is not an appsrc`, name);
      }
      s = new GstAppSrc(this, el as Binding.AppSrc, name);
      this.#srcs.set(name, s);
    }
    return s;
  }

  /**
   * Sets property `prop` of element `name`, in any state but closed (encoder bitrate can change
   * while playing where the element supports it). Throws GstError for an unknown element or
   * property, TypeError/RangeError for a value the property does not take.
   */
  set(name: string, prop: string, value: PropertyValue): void {
    this.#requireOpen('set');
    const el = this.#element(name);
    if (!Object.prototype.hasOwnProperty.call(el, prop)) {
      throw new GstError(`${this.label}: element '${name}' has no property '${prop}'`, name);
    }
    el[prop] = value;
  }

  /** Reads property `prop` of element `name` (enums as nick, flags as "a+b", 64-bit beyond
   *  2^53 as bigint). */
  get(name: string, prop: string): PropertyValue {
    this.#requireOpen('get');
    const el = this.#element(name);
    if (!Object.prototype.hasOwnProperty.call(el, prop)) {
      throw new GstError(`${this.label}: element '${name}' has no property '${prop}'`, name);
    }
    return el[prop] as PropertyValue;
  }

  /** Asks the encoder upstream of element `name` (e.g. the appsink after it) for a keyframe. */
  forceKeyUnit(name: string): void {
    this.#requireOpen('forceKeyUnit');
    this.#element(name);
    this.#native.forceKeyUnit(name, 0);
  }

  #element(name: string): Binding.Element {
    let el = this.#elements.get(name);
    if (!el) {
      el = this.#native.findChild(name);
      if (!el) throw new GstError(`${this.label}: no element named '${name}'`, name);
      this.#elements.set(name, el);
    }
    return el;
  }

  #require(op: string, allowed: readonly PipelineState[]): void {
    if (this.#state === 'closed') throw new GstClosedError(op);
    if (!allowed.includes(this.#state)) throw new GstStateError(op, this.#state, allowed);
  }

  #requireOpen(op: string): void {
    if (this.#state === 'closed') throw new GstClosedError(op);
  }

  #onBus(m: Binding.BusMessage): void {
    if (this.#state === 'closed') return;
    const source = m._src_element_name ?? '';
    switch (m.type) {
      case 'eos':
        this.#eosSeen = true;
        this.#onEosOrError?.();
        this.emit('eos');
        return;
      case 'error': {
        const err = new GstError(`${this.label}: ${source}: ${m.message ?? 'error'}`, source, m.debug);
        this.#onEosOrError?.();
        this.emit('error', err);
        return;
      }
      case 'warning':
        this.emit('warning', new GstError(`${this.label}: ${source}: ${m.message ?? 'warning'}`, source, m.debug));
        return;
      case 'element':
        this.emit('element', toElementMessage(m, source));
        return;
    }
  }
}

function toElementMessage(m: Binding.BusMessage, source: string): ElementMessage {
  const name = String(m.name ?? '');
  if (
    (name === 'splitmuxsink-fragment-opened' || name === 'splitmuxsink-fragment-closed') &&
    typeof m['location'] === 'string'
  ) {
    return {
      kind: name === 'splitmuxsink-fragment-opened' ? 'fragment-opened' : 'fragment-closed',
      source,
      location: m['location'],
      runningTimeNs: Number(m['running-time']),
    };
  }
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    if (k !== 'type' && k !== 'name' && k !== '_src_element_name') fields[k] = v;
  }
  return { kind: 'other', source, name, fields };
}

// ---------------------------------------------------------------- probe

const existsCache = new Map<string, boolean>();

/**
 * Whether an element factory of this name is available here (for the pipeline profile probe).
 * Instantiates the element once (which loads its plugin); cached per thread.
 */
export function elementExists(factoryName: string): boolean {
  if (!/^[A-Za-z0-9_.-]+$/.test(factoryName)) {
    throw new TypeError(`elementExists: not a factory name: ${JSON.stringify(factoryName)}`);
  }
  const known = existsCache.get(factoryName);
  if (known !== undefined) return known;
  let exists: boolean;
  try {
    new (native().Pipeline)(factoryName).dispose();
    exists = true;
  } catch (e) {
    if (e instanceof GstError) throw e;
    exists = false;
  }
  existsCache.set(factoryName, exists);
  return exists;
}
