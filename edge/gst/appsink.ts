/**
 * Pulls samples out of an appsink: GstAppSink, obtained through GstPipeline.appsink(name).
 *
 * Contract
 * - A sample is copied once on pull: into a new Buffer (pull), or into the caller's memory
 *   (pullInto: a slot of a shared ring, so raw video allocates nothing per frame).
 * - Outstanding pulls resolve in order; null means nothing more comes (end of stream, not
 *   playing, stopped, or closed: after the pipeline's close() every pull resolves null).
 */
import type * as Binding from 'gstreamer-superficial';

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

/** A pulled buffer's timing as GstSample carries it. */
const timing = (m: Binding.BufferMeta): Pick<GstSample, 'ptsNs' | 'dtsNs' | 'durationNs' | 'keyframe'> =>
  ({ ptsNs: m.pts, dtsNs: m.dts, durationNs: m.duration, keyframe: m.keyframe });

/** Pulls from one appsink. Obtained through GstPipeline.appsink(name). */
export class GstAppSink {
  /** @internal */
  constructor(
    /** The pipeline that handed this out; only its state is read (a type, not an import: pipeline.ts imports this module). */
    private readonly owner: { readonly state: string },
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
