/**
 * Loads the native binding (gstreamer-superficial, patched: see patches/README.md).
 *
 * Contract
 * - One instance per thread: every worker that uses GStreamer loads its own on first use and
 *   keeps it for the thread's life; a worker that exits stops and releases its pipelines.
 * - Errors: a GstError when the installed build lacks the orbox patch, instead of the abort
 *   the unpatched binding causes in a second worker.
 */
import { createRequire } from 'node:module';
import type * as Binding from 'gstreamer-superficial';
import { GstError } from './errors.js';

const require = createRequire(import.meta.url);
let binding: typeof Binding | undefined;

/** The native binding of this thread, loaded on first use. Throws a GstError when the
 *  installed build lacks the orbox patch (it would abort the process in a second worker). */
export function native(): typeof Binding {
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
