/**
 * Logging: structured JSON lines on stderr (the journal on a box), one logger per worker with
 * the worker's name on every line, and patient identifiers removed from anything logged.
 *
 * Redaction is by key (a field named like a patient name, record number or date of birth,
 * or anything inside a `patient` object) and by content (an MRN, a date of birth or a
 * "patient: Name" phrase inside free text, an HL7 PID segment). It runs on every call, on the
 * message and on every object, before pino serialises: a log line cannot be the place
 * where a patient's identity leaves the box.
 */
import pino from 'pino';

export type Logger = pino.Logger;

/**
 * What a library below the workers logs through: the part of a worker's Logger it calls, so
 * the library neither depends on pino nor needs one in its tests (a worker passes ctx.log).
 */
export interface LogSink {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const IDENTIFIER_KEY = /^(patient_?name|name_?of_?patient|first_?name|last_?name|given_?name|family_?name|surname|full_?name|mrn|medical_?record(_?number)?|record_?number|patient_?id|pid|dob|date_?of_?birth|birth_?date|birthday|ssn|social_?security(_?number)?|insurance_?(number|id))$/i;
const PATIENT_CONTAINER = /^patient(_?info|_?data|_?demographics)?$/i;
export const REDACTED = '[redacted]';

const TEXT_RULES: [RegExp, string][] = [
  // HL7 v2 PID segment: keep the segment name, drop its fields.
  [/\bPID\|[^\r\n]*/g, `PID|${REDACTED}`],
  [/\b(MRN|medical record( number)?|record no\.?|patient id)\s*[:#=]?\s*[A-Za-z0-9-]{3,}/gi, `$1 ${REDACTED}`],
  [/\b(DOB|date of birth|born( on)?|birth ?date)\s*[:=]?\s*(\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{8})/gi, `$1 ${REDACTED}`],
  [/\b(patient( name)?|pt\.?)\s*[:=]\s*[\p{Lu}][\p{L}'-]+(,?\s+[\p{Lu}][\p{L}'-]+)*/gu, `$1: ${REDACTED}`],
];

export function redactText(s: string): string {
  let out = s;
  for (const [re, rep] of TEXT_RULES) out = out.replace(re, rep);
  return out;
}

/** Returns a copy of `v` with patient identifiers replaced; never mutates its argument. */
export function redact(v: unknown, depth = 0, inPatient = false): unknown {
  if (typeof v === 'string') return inPatient ? REDACTED : redactText(v);
  if (v === null || typeof v !== 'object' || depth > 8) return v;
  if (v instanceof Error) {
    return { type: v.name, message: redactText(v.message), stack: v.stack ? redactText(v.stack) : undefined, ...(redact({ ...v }, depth + 1) as object) };
  }
  if (Array.isArray(v)) return v.map((x) => redact(x, depth + 1, inPatient));
  if (ArrayBuffer.isView(v)) return `<${v.byteLength} bytes>`;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (IDENTIFIER_KEY.test(k)) out[k] = REDACTED;
    else out[k] = redact(x, depth + 1, inPatient || PATIENT_CONTAINER.test(k));
  }
  return out;
}

export interface LogOptions {
  level?: string;
  /** Where lines go: a file descriptor (default 2, stderr) or a stream with write(). */
  destination?: number | { write(s: string): unknown };
}

/** A logger whose every line carries `worker` and has passed through redact(). */
export function createLogger(worker: string, opts: LogOptions = {}): Logger {
  const dest = typeof opts.destination === 'object' ? opts.destination : pino.destination({ dest: opts.destination ?? 2, sync: true });
  return pino(
    {
      level: opts.level ?? process.env.ORBOX_LOG_LEVEL ?? 'info',
      base: { worker },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        logMethod(args, method) {
          // An Error logged on its own goes under `err`, as pino does for { err }.
          const clean = args.map((a) => redact(a instanceof Error ? { err: a } : a)) as Parameters<typeof method>;
          return method.apply(this, clean);
        },
      },
    },
    dest as pino.DestinationStream,
  );
}
