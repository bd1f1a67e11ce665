/**
 * Pipeline profiles: the schema every per-board profile is validated against.
 *
 * Owns: the shape of a profile (capture, convert/scale, per-role encoder settings, recording
 * muxer), and the checks that cannot be typed: encoder bitrate and GOP written in the
 * element's own property names and units (see encoder-facts.ts) agree with the role's nominal
 * `bitrateBps` and `gopFrames`.
 *
 * Errors: `validateProfile` throws `ProfileError`, whose `issues` name the key path of each
 * problem (`roles.hq.encoder.props.bitrate`), so a wrong profile is fixed at the right line.
 * Runs on: any thread (the probe runs on video-encode; tests run it on every profile).
 */
import { z } from 'zod';
import { ENCODER_FACTS } from './encoder-facts.js';

/** Stream roles of a channel: high quality (recorded), low latency, JPEG snapshots. */
export const ROLES = ['hq', 'lq', 'snapshot'] as const;
export type Role = (typeof ROLES)[number];
export const H264_ROLES = ['hq', 'lq'] as const;
export type H264Role = (typeof H264_ROLES)[number];

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** A GstStructure-valued property such as v4l2h264enc `extra-controls` ("controls,video_bitrate=..."). */
const structureValue = z.strictObject({
  structure: z.string().regex(/^[a-z][a-z0-9_-]*$/, 'structure name: lower-case letters, digits, - and _'),
  fields: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/), scalar),
});

const propValue = z.union([scalar, structureValue]);

const factoryName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'a GStreamer factory name (lower-case letters, digits, _)');

export const elementSpec = z.strictObject({
  factory: factoryName,
  props: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'property names are lower-case with -'), propValue).default({}),
});

const even = (what: string) => z.number().int().positive().refine((n) => n % 2 === 0, `${what} must be even (4:2:0 chroma)`);

const h264Role = z.strictObject({
  width: even('width'),
  height: even('height'),
  /** Frames per second; the role's rate (videorate drops to it when below the input rate). */
  fps: z.number().int().min(1).max(120),
  /** Nominal target bitrate in bit/s; the encoder's own property must say the same. */
  bitrateBps: z.number().int().min(64_000).max(100_000_000),
  /** Keyframe interval in frames; the encoder's own property must say the same. */
  gopFrames: z.number().int().min(1).max(600),
  encoder: elementSpec,
  /** Caps right after the encoder (some elements take profile/level only from caps). */
  outputCaps: z.string().startsWith('video/x-h264').optional(),
  /** Low-latency stream: a 2-frame queue (old frames dropped at once) instead of the one second a recorded role's queue holds before it drops its oldest. */
  leaky: z.boolean().default(false),
});

const snapshotRole = z.strictObject({
  width: even('width'),
  height: even('height'),
  /** One JPEG every `intervalS` seconds (the latest is kept in its appsink). */
  intervalS: z.number().int().min(1).max(3600),
  /** Scale/convert to system-memory raw video for the JPEG encoder. */
  convert: z.array(elementSpec),
  format: z.enum(['I420', 'NV12']),
  encoder: elementSpec,
});

const rawFormat = z.enum(['NV12', 'I420', 'UYVY', 'YUY2', 'BGRx', 'RGBA']);

export const profileSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    board: z.string().min(1),
    notes: z.string().optional(),
    /**
     * Device-tree `compatible` strings of the board (any one matches). The probe skips the
     * profile on a board with a device tree that lists none of them; boards without a device
     * tree (x86) are matched on elements alone.
     */
    compatible: z.array(z.string().regex(/^[a-z0-9-]+,[a-z0-9-]+$/, 'vendor,device')).optional(),
    /** Pixel format of frames in the raw rings (video-capture converts to it). */
    rawFormat,
    /** What video-capture uses for a V4L2 device on this board. */
    capture: z.strictObject({
      source: elementSpec,
      convert: z.array(elementSpec),
    }),
    /** Convert and scale before each encoder. */
    encode: z.strictObject({
      /** Elements between the raw tee and the encoder's input caps (scaler, converter). */
      convert: z.array(elementSpec),
      /** Caps memory feature at the encoder input, e.g. `memory:NVMM`. */
      memory: z.string().regex(/^memory:[A-Za-z0-9]+$/).optional(),
      format: rawFormat,
      /**
       * `caps`: the convert chain scales to the role's size (size goes in the caps filter).
       * `encoder`: the encoder scales itself; the role's size is set on these properties.
       */
      scaling: z.discriminatedUnion('by', [
        z.strictObject({ by: z.literal('caps') }),
        z.strictObject({ by: z.literal('encoder'), widthProp: z.string(), heightProp: z.string() }),
      ]),
    }),
    roles: z.strictObject({ hq: h264Role, lq: h264Role, snapshot: snapshotRole }),
    recording: z.strictObject({
      muxer: z.enum(['matroskamux', 'mpegtsmux']),
      extension: z.enum(['mkv', 'ts']),
      muxerProps: z.record(z.string(), scalar).default({}),
    }),
  })
  .superRefine((p, ctx) => {
    for (const role of H264_ROLES) {
      const r = p.roles[role];
      const facts = ENCODER_FACTS[r.encoder.factory];
      if (!facts) {
        ctx.addIssue({
          code: 'custom',
          path: ['roles', role, 'encoder', 'factory'],
          message: `unknown H.264 encoder "${r.encoder.factory}" (known: ${Object.keys(ENCODER_FACTS).join(', ')})`,
        });
        continue;
      }
      const checkProp = (prop: string, want: number, what: string): void => {
        const [top, field] = prop.split('.');
        const v = r.encoder.props[top];
        const path: (string | number)[] = ['roles', role, 'encoder', 'props', top];
        let got: unknown = v;
        if (field !== undefined) {
          path.push('fields', field);
          got = typeof v === 'object' && v !== null ? v.fields[field] : undefined;
        }
        if (got !== want) {
          ctx.addIssue({ code: 'custom', path, message: `${r.encoder.factory} ${what}: expected ${want}, got ${JSON.stringify(got)}` });
        }
      };
      const unitValue = r.bitrateBps / facts.bitrateUnitBps;
      if (!Number.isInteger(unitValue)) {
        ctx.addIssue({ code: 'custom', path: ['roles', role, 'bitrateBps'], message: `must be a whole number of ${facts.bitrateUnit}` });
      } else {
        checkProp(facts.bitrateProp, unitValue, `${facts.bitrateProp} is in ${facts.bitrateUnit} (${r.bitrateBps} bit/s)`);
      }
      checkProp(facts.gopProp, r.gopFrames, `${facts.gopProp} is the GOP in frames`);
    }
    const ext = p.recording.muxer === 'matroskamux' ? 'mkv' : 'ts';
    if (p.recording.extension !== ext) {
      ctx.addIssue({ code: 'custom', path: ['recording', 'extension'], message: `${p.recording.muxer} writes .${ext}` });
    }
  });

export type ElementSpec = z.output<typeof elementSpec>;
export type PropValue = z.output<typeof propValue>;
/** A validated profile (defaults filled in). */
export type Profile = z.output<typeof profileSchema>;
/** What a profile data module writes (defaults may be omitted). */
export type ProfileInput = z.input<typeof profileSchema>;

export interface ProfileIssue {
  /** Dotted key path, array indices in brackets: `encode.convert[1].factory`. */
  readonly path: string;
  readonly message: string;
}

/** A profile that does not validate; `issues` name each bad key path. */
export class ProfileError extends Error {
  constructor(
    readonly profileId: string,
    readonly issues: readonly ProfileIssue[],
  ) {
    super(`profile ${profileId}: ` + issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; '));
    this.name = 'ProfileError';
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out === '' ? String(k) : `.${String(k)}`;
  return out;
}

/** Validates profile data; returns it with defaults filled in. Throws ProfileError. */
export function validateProfile(data: unknown): Profile {
  const res = profileSchema.safeParse(data);
  if (res.success) return res.data;
  const id = typeof data === 'object' && data !== null && typeof (data as { id?: unknown }).id === 'string' ? (data as { id: string }).id : '?';
  throw new ProfileError(
    id,
    res.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
  );
}
