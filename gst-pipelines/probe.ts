/**
 * The profile probe: picks the first profile, in list order, whose elements exist on the
 * running system and whose hq encoder really encodes.
 *
 * Why a trial encode: a hardware encoder can be registered and still fail to open its device
 * (VA-API without a render node, a V4L2 M2M encoder whose firmware is missing). Ten frames
 * through the hq encoder settle it. Why the device-tree check: two boards can share element
 * names (v4l2h264enc on a Pi and on an i.MX 8M Plus) but need different settings.
 *
 * Lifecycle: stateless calls; the verdict is cached per process (keyed by the profile list)
 * and optionally in a JSON file keyed by the GStreamer version and the profile data, so a
 * box restart does not pay for the gst-inspect calls again. `clearProbeCache()` for tests.
 *
 * Errors: `NoProfileError` (carries what was tried) when nothing fits.
 * Runs on: video-encode at start (and `orbox status`, which reports `picked.id`).
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { threadId } from 'node:worker_threads';
import { buildChannelPipeline, profileFactories } from './build.js';
import { factoryExists, gstVersion, runLaunch } from './gst-launch.js';
import { PROFILE_DATA } from './profiles/index.js';
import type { Profile } from './schema.js';
import { validateProfile } from './schema.js';

export interface ProfileTrial {
  readonly id: string;
  /** Factories not in the registry. */
  readonly missing: readonly string[];
  /** The board's device tree lists none of the profile's `compatible` strings. */
  readonly otherBoard?: boolean;
  /** Why the trial encode failed (when elements existed). */
  readonly trialError?: string;
}

export interface ProbeReport {
  readonly picked: Profile;
  /** Every profile looked at, in order, up to and including the picked one. */
  readonly tried: readonly ProfileTrial[];
  readonly source: 'probe' | 'memory' | 'file';
}

export class NoProfileError extends Error {
  constructor(readonly tried: readonly ProfileTrial[]) {
    super('no pipeline profile fits this system: ' + tried.map((t) => `${t.id} (${t.otherBoard ? 'other board' : t.missing.length ? `missing ${t.missing.join(',')}` : t.trialError})`).join('; '));
    this.name = 'NoProfileError';
  }
}

export interface ProbeOptions {
  /** Profiles in preference order. Default: every profile in profiles/, validated. */
  readonly profiles?: readonly Profile[];
  /** Element lookup. Default `gst-inspect-1.0 --exists`. */
  readonly hasFactory?: (factory: string) => Promise<boolean>;
  /** Trial encode; `false` to skip, or a function returning an error text or null. */
  readonly trial?: boolean | ((p: Profile) => Promise<string | null>);
  /** Device-tree compatible strings; default read from /proc/device-tree/compatible (null when absent). */
  readonly compatible?: readonly string[] | null;
  /** JSON file caching the verdict across restarts. */
  readonly cacheFile?: string;
}

const memo = new Map<string, ProbeReport>();

export function clearProbeCache(): void {
  memo.clear();
}

/** Every profile in profiles/, validated (throws ProfileError on a bad one). */
export function allProfiles(): Profile[] {
  return PROFILE_DATA.map((d) => validateProfile(d));
}

async function readCompatible(): Promise<string[] | null> {
  try {
    const raw = await readFile('/proc/device-tree/compatible');
    return raw.toString('latin1').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

/** Ten 320x240 frames through the profile's hq convert chain and encoder. */
export async function trialEncode(p: Profile): Promise<string | null> {
  const built = buildChannelPipeline(
    { ...p, roles: { ...p.roles, hq: { ...p.roles.hq, width: 320, height: 240 } } },
    {
      channel: 'probe',
      input: { kind: 'description', description: 'videotestsrc num-buffers=10', width: 320, height: 240, fps: 30 },
      roles: ['hq'],
    },
  );
  const r = await runLaunch(built.description, { timeoutMs: 15_000 });
  if (r.code === 0 && !r.timedOut) return null;
  const why = /ERROR: ([^\n]*)/.exec(r.stdout + r.stderr)?.[1] ?? (r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`);
  return why;
}

/** Picks the profile for this system. Throws NoProfileError. */
export async function probeProfile(opts: ProbeOptions = {}): Promise<ProbeReport> {
  const profiles = opts.profiles ?? allProfiles();
  const key = profiles.map((p) => p.id).join(',');
  const hit = memo.get(key);
  if (hit) return { ...hit, source: 'memory' };

  let fileKey: string | undefined;
  if (opts.cacheFile) {
    fileKey = createHash('sha256').update(await gstVersion()).update(JSON.stringify(profiles)).digest('hex');
    try {
      const c = JSON.parse(await readFile(opts.cacheFile, 'utf8')) as { key?: string; picked?: string; tried?: ProfileTrial[] };
      const picked = profiles.find((p) => p.id === c.picked);
      if (c.key === fileKey && picked && Array.isArray(c.tried)) {
        const rep: ProbeReport = { picked, tried: c.tried, source: 'file' };
        memo.set(key, rep);
        return rep;
      }
    } catch {
      // no cache or unreadable: probe
    }
  }

  const has = opts.hasFactory ?? factoryExists;
  const compatible = opts.compatible !== undefined ? opts.compatible : await readCompatible();
  const trial = opts.trial === false ? null : typeof opts.trial === 'function' ? opts.trial : trialEncode;
  const known = new Map<string, boolean>();
  const tried: ProfileTrial[] = [];
  for (const p of profiles) {
    if (compatible && p.compatible && !p.compatible.some((c) => compatible.includes(c))) {
      tried.push({ id: p.id, missing: [], otherBoard: true });
      continue;
    }
    const missing: string[] = [];
    for (const f of profileFactories(p)) {
      let ok = known.get(f);
      if (ok === undefined) { ok = await has(f); known.set(f, ok); }
      if (!ok) missing.push(f);
    }
    if (missing.length) { tried.push({ id: p.id, missing }); continue; }
    const err = trial ? await trial(p) : null;
    if (err !== null) { tried.push({ id: p.id, missing: [], trialError: err }); continue; }
    tried.push({ id: p.id, missing: [] });
    const rep: ProbeReport = { picked: p, tried, source: 'probe' };
    memo.set(key, rep);
    if (opts.cacheFile && fileKey) {
      // One temporary name per writer: video-capture and video-encode probe at the same time,
      // and a shared name let one rename the other's file away (ENOENT).
      const tmp = `${opts.cacheFile}.${process.pid}.${threadId}.tmp`;
      await writeFile(tmp, JSON.stringify({ key: fileKey, picked: p.id, tried }));
      await rename(tmp, opts.cacheFile);
    }
    return rep;
  }
  throw new NoProfileError(tried);
}
