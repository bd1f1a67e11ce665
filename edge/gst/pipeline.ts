/**
 * GstPipeline: one GStreamer pipeline from a gst-launch description, its lifecycle and its
 * bus messages as typed events.
 *
 * Contract
 * - Lifecycle, one state (`GstPipeline.state`):
 *     created --start()--> playing --stop()--> stopping --> stopped --start()--> playing ...
 *     any state --close()--> closed (idempotent; releases the native pipeline at once)
 *   The constructor only parses (throws GstParseError). Calls in the wrong state throw
 *   GstStateError; calls after close() throw GstClosedError, except close() and stop().
 * - Bus messages become typed events while the pipeline plays: 'error' (GstError; as with every
 *   Node EventEmitter, an 'error' with no listener throws: every owner must listen), 'warning',
 *   'eos', 'element' (ElementMessage: structure name and fields).
 * - Capture time: a live source stamps buffers with the running time at capture;
 *   `baseTimeNs() + ptsNs` places it on the monotonic clock of process.hrtime.
 */
import { EventEmitter } from 'node:events';
import type * as Binding from 'gstreamer-superficial';
import { GstAppSink } from './appsink.js';
import { GstAppSrc } from './appsrc.js';
import { GstClosedError, GstError, GstParseError, GstStateError, type PipelineState } from './errors.js';
import { native } from './native.js';


/** Property values as the binding converts them: integers exactly (64-bit as bigint or
 *  decimal string), enums by nick/name/number, flags as "a+b" or a number, caps as a string. */
export type PropertyValue = string | number | bigint | boolean | null;

/** An element message (an element's own bus message, e.g. level's or splitmuxsink's). */
export interface ElementMessage {
  /** The element that posted it. */
  readonly source: string;
  /** The message structure's name. */
  readonly name: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

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
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    if (k !== 'type' && k !== 'name' && k !== '_src_element_name') fields[k] = v;
  }
  return { source, name, fields };
}
