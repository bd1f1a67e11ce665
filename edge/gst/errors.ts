/**
 * The GStreamer layer's errors. Every failure it reports is a GstError, so an owner can tell
 * GStreamer's failures from its own; the subclasses say which way a call was refused.
 *
 * Contract: plain Error subclasses without state, usable on any thread.
 */

/** A pipeline's one state enum (GstPipeline); errors carry it, so it is defined here, below the pipeline. */
export type PipelineState = 'created' | 'playing' | 'stopping' | 'stopped' | 'closed';

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
