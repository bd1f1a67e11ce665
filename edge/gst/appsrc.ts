/**
 * Pushes buffers into an appsrc: GstAppSrc, obtained through GstPipeline.appsrc(name).
 *
 * Contract
 * - A pushed buffer is copied once into a GstBuffer (push), or lent without a copy
 *   (pushShared: shared memory, handed back by clearing bits in a shared word when GStreamer
 *   is done with it).
 * - A push the appsrc refuses (not playing, flushing, after end of stream) returns false;
 *   after the pipeline's close() every call throws GstClosedError.
 */
import type * as Binding from 'gstreamer-superficial';
import { GstClosedError } from './errors.js';

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

const FLOW_OK = 0;

function pushTiming(opts: PushOptions): Binding.PushTiming {
  return { pts: opts.ptsNs, dts: opts.dtsNs ?? null, duration: opts.durationNs ?? null, keyframe: opts.keyframe };
}

/** Pushes into one appsrc. Obtained through GstPipeline.appsrc(name). */
export class GstAppSrc {
  /** @internal */
  constructor(
    /** The pipeline that handed this out; only its state is read (a type, not an import: pipeline.ts imports this module). */
    private readonly owner: { readonly state: string },
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
