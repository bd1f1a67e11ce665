/**
 * A board profile fitted to one channel: the profile gives the elements and their tuning, the
 * channel's configuration gives each stream's size, rate, bitrate and GOP, and the stills'
 * size and interval (edge/video/snapshot.ts; the profile's interval is the default). The encoder's own
 * property names and units come from gst-pipelines/encoder-facts.ts (8 Mb/s is `bitrate=8000`
 * on x264enc and `bps=8000000` on mpph264enc), and the result is validated again by the
 * profile schema, which cross-checks exactly those.
 *
 * Errors: ProfileError (from validateProfile) when the fitted profile does not validate.
 * Runs on: video-encode; pure.
 */
import { ENCODER_FACTS, validateProfile, type H264Role, type Profile } from '../../gst-pipelines/index.js';
import type { ChannelConfig } from '../config/index.js';
import { snapshotGeometry, snapshotIntervalS } from './snapshot.js';

/** Value of the encoder's bitrate property for `kbps`, and the property to set (null when it
 *  lives inside a structure and cannot be set on its own at run time). */
export function bitrateProperty(factory: string, kbps: number): { prop: string | null; value: number } {
  const f = ENCODER_FACTS[factory];
  if (!f) throw new RangeError(`unknown H.264 encoder ${factory}`);
  return { prop: f.bitrateProp.includes('.') ? null : f.bitrateProp, value: Math.round((kbps * 1000) / f.bitrateUnitBps) };
}

export function channelProfile(base: Profile, ch: ChannelConfig): Profile {
  const p = structuredClone(base) as Profile;
  for (const role of ['hq', 'lq'] as H264Role[]) {
    const s = ch[role];
    const r = p.roles[role];
    const f = ENCODER_FACTS[r.encoder.factory];
    r.width = s.width;
    r.height = s.height;
    r.fps = ch.source.fps;
    r.bitrateBps = s.bitrateKbps * 1000;
    r.gopFrames = s.gop;
    const set = (prop: string, v: number): void => {
      const [top, field] = prop.split('.');
      if (field === undefined) { r.encoder.props[top] = v; return; }
      const cur = r.encoder.props[top];
      if (typeof cur === 'object' && cur !== null) cur.fields[field] = v;
      else r.encoder.props[top] = { structure: 'controls', fields: { [field]: v } };
    };
    set(f.bitrateProp, r.bitrateBps / f.bitrateUnitBps);
    set(f.gopProp, s.gop);
  }
  const snap = p.roles.snapshot;
  const { still } = snapshotGeometry(ch);
  snap.width = still.width;
  snap.height = still.height;
  snap.intervalS = snapshotIntervalS(ch, base.roles.snapshot.intervalS);
  return validateProfile(p);
}
