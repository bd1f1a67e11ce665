/**
 * gst-launch description syntax: rendering elements and values, and splitting a description
 * into the argv that the `gst-launch-1.0` command expects.
 *
 * Owns: quoting. A description is parsed by `gst_parse_launch` (in-process, through the
 * binding) or by `gst-launch-1.0` (child processes in tests and the probe). The two differ:
 * gst-launch escapes each of its arguments before joining them, so one argument holding the
 * whole description would become a single token. `toLaunchArgv` splits like a shell would.
 *
 * Errors: `renderValue` throws RangeError on values that cannot be written safely
 * (a double quote inside a string). Runs on: any thread; pure.
 */
import type { ElementSpec, PropValue } from './schema.js';

const BARE = /^[A-Za-z0-9_.:/+%-]+$/;

function quote(s: string): string {
  if (s.includes('"') || s.includes('\\')) throw new RangeError(`value cannot be quoted in a launch description: ${s}`);
  return BARE.test(s) ? s : `"${s}"`;
}

/** One property value in launch syntax. Structures become `"name,field=value,..."`. */
export function renderValue(v: PropValue): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new RangeError(`non-finite property value ${v}`);
    return String(v);
  }
  if (typeof v === 'string') return quote(v);
  const fields = Object.entries(v.fields).map(([k, f]) => `${k}=${typeof f === 'string' ? f : renderValue(f)}`);
  return `"${[v.structure, ...fields].join(',')}"`;
}

export interface RenderOptions {
  /** Element name (unique in the pipeline). */
  name?: string;
  /** Extra properties, after the spec's own. */
  extra?: Record<string, PropValue | undefined>;
  /** Factories to render as a caps-agnostic stand-in (parse checks where the element is absent). */
  standIn?: ReadonlySet<string>;
}

/**
 * What stands in for an element that does not exist on this machine, in parse checks only.
 * `identity` would not do: it forwards caps queries, so an "encoder" identity between raw
 * caps and h264parse fails to link. gdppay ! gdpdepay accepts anything and offers ANY, so
 * the rest of the description (real elements, their properties, caps syntax, names, tee
 * branches) is checked by GStreamer's own parser; the absent element's properties are not.
 */
export const STAND_IN = 'gdppay ! gdpdepay';

/** `factory name=n prop=value ...`. */
export function renderElement(spec: ElementSpec | string, opts: RenderOptions = {}): string {
  const s: ElementSpec = typeof spec === 'string' ? { factory: spec, props: {} } : spec;
  const parts: string[] = [];
  const standIn = opts.standIn?.has(s.factory) ?? false;
  parts.push(standIn ? STAND_IN : s.factory);
  if (opts.name !== undefined) parts.push(`name=${quote(opts.name)}`);
  if (!standIn) {
    for (const [k, v] of Object.entries({ ...s.props, ...opts.extra })) {
      if (v !== undefined) parts.push(`${k}=${renderValue(v)}`);
    }
  }
  return parts.join(' ');
}

/** A capsfilter element (explicit, so that caps with memory features need no special syntax). */
export function renderCaps(caps: string, name?: string): string {
  return `capsfilter${name === undefined ? '' : ` name=${quote(name)}`} caps=${quote(caps)}`;
}

/**
 * Splits a description into gst-launch-1.0 arguments the way a POSIX shell would for
 * double-quoted words: whitespace separates, double quotes group and are removed.
 */
export function toLaunchArgv(description: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (const ch of description) {
    if (ch === '"') { quoted = !quoted; inWord = true; continue; }
    if (!quoted && /\s/.test(ch)) {
      if (inWord) { out.push(cur); cur = ''; inWord = false; }
      continue;
    }
    cur += ch;
    inWord = true;
  }
  if (quoted) throw new RangeError('unbalanced double quote in description');
  if (inWord) out.push(cur);
  return out;
}
