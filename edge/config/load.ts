/**
 * Loading and validating the box configuration.
 *
 * Errors: ConfigError, whose message names the file and, for each problem, the key path
 * (`channels[1].hq.bitrateKbps`), what was expected and the value found. Nothing starts on
 * an invalid file: the supervisor validates before it allocates a single ring.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { defaultApiSocket } from './runtime-dir.js';
import { configSchema, type BoxConfig } from './schema.js';

export interface ConfigProblem {
  /** Key path in the file, e.g. `channels[1].hq.bitrateKbps`. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly source: string, readonly problems: ConfigProblem[]) {
    super(`invalid configuration ${source}:\n` + problems.map((p) => `  ${p.path || '(top level)'}: ${p.message}`).join('\n'));
  }
}

export function keyPath(path: ReadonlyArray<PropertyKey>): string {
  let s = '';
  for (const k of path) s += typeof k === 'number' ? `[${k}]` : s ? `.${String(k)}` : String(k);
  return s;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  // A URL's user:password (a camera address written with its credentials) is never echoed.
  const s = JSON.stringify(v)?.replace(/(\/\/)[^/@\s"]*:[^/@\s"]*@/g, '$1<credentials>@');
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
}

/** The value at `path` in the document as written (undefined when it is not there). */
function valueAt(raw: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = raw;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

function describe(issue: z.core.$ZodIssue & { input?: unknown }, raw: unknown): string {
  // A check across sections reports on the whole document; show the value its path names.
  const found = `found ${show(issue.code === 'custom' ? valueAt(raw, issue.path) : issue.input)}`;
  switch (issue.code) {
    case 'invalid_type': return `expected ${issue.expected}, ${found}`;
    case 'unrecognized_keys': return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_union': return `not one of the accepted forms, ${found}`;
    default: return `${issue.message}, ${found}`;
  }
}

/** Validates an already-parsed object. */
export function validateConfig(raw: unknown, source = 'configuration', baseDir = process.cwd()): BoxConfig {
  const r = configSchema.safeParse(raw, { reportInput: true });
  // Resolved once, here: the box and every CLI that reads this file find the same socket,
  // whatever folder each runs in.
  if (r.success) return { ...r.data, api: { socket: resolve(baseDir, r.data.api.socket ?? defaultApiSocket()) } };
  const problems = r.error.issues.map((i) => {
    const path = i.code === 'unrecognized_keys' && i.keys.length === 1 ? [...i.path, i.keys[0]] : i.path;
    return { path: keyPath(path), message: describe(i as never, raw) };
  });
  throw new ConfigError(source, problems);
}

/** Reads a YAML or JSON file and validates it. */
export function loadConfig(file: string): BoxConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? err})` }]);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(file, doc.errors.map((e) => ({ path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '', message: e.message.split('\n')[0] })));
  }
  return validateConfig(doc.toJS(), file, dirname(resolve(file)));
}
