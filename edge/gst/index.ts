/**
 * edge/gst — the GStreamer layer: the only module the firmware reaches GStreamer through,
 * entered through this index. pipeline.ts: GstPipeline (lifecycle, bus events);
 * appsink.ts / appsrc.ts: pulling and pushing buffers; native.ts: the patched binding;
 * errors.ts: GstError and its subclasses.
 *
 * Across the layer
 * - Runs on: any worker thread (video-capture, video-encode, audio-*, net-send, duplex-voice),
 *   several at once, each with its own instance of the binding.
 * - Never blocks the event loop on GStreamer and never uses the libuv threadpool: pulls and bus
 *   messages are woken by GStreamer's own threads. The exceptions are state changes (start, the
 *   final NULL of stop/close), which GStreamer performs synchronously and take milliseconds.
 * - Time: every timestamp is in nanoseconds as a JS number (GStreamer running time; exact up to
 *   2^53 ns = 104 days). Encoders such as x264enc add a 1000 h offset to PTS/DTS (3.6e15 ns),
 *   still exact. null means "not set" (GST_CLOCK_TIME_NONE).
 */
export { GstError, GstParseError, GstStateError, GstClosedError, type PipelineState } from './errors.js';
export { GstPipeline } from './pipeline.js';
export type { PropertyValue, ElementMessage, GstPipelineEvents, GstPipelineOptions, StopResult, StopOptions } from './pipeline.js';
export { GstAppSink } from './appsink.js';
export type { Caps, GstSample, PulledInto } from './appsink.js';
export { GstAppSrc } from './appsrc.js';
export type { PushOptions, ShareRelease } from './appsrc.js';
