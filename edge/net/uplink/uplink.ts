/**
 * The uplink of net-send: every configured (receiver, channel) pair as an UplinkPairSender fed by
 * the channel's hq and lq AccessUnitFanouts, and, for a channel with audio, its input's
 * `audio.<input>` fanout (Opus packets, one per record).
 *
 * Contract
 * - Owns: the pairs, the SRTP index journal (`<dataDir>/uplink/srtp-index.json`), the shared
 *   keyframe limiter (PLI/FIR from all receivers of a stream cost one IDR per
 *   `uplink.keyframeMinIntervalMs`), and the 5 ms timer that drives the pairs' chains.
 * - start() never throws: a pair whose ports are taken (a previous net-send still closing them)
 *   is retried with capped backoff and jitter; a journal that cannot be read stops the uplink
 *   (sending could repeat a keystream) and is logged, and the RTSP side goes on.
 * - restartReceiver(name): the receiver's pairs close and start again with its current keys
 *   (after a rekey: a fresh SDP was fetched).
 * - close() idempotent.
 * Runs on: net-send.
 */
import type { BoxClock } from '../../lib/clock.js';
import { Backoff } from '../../lib/backoff.js';
import type { Logger } from '../../lib/log.js';
import { KeyframeLimiter } from '../../rtp/index.js';
import type { BoxConfig } from '../../config/index.js';
import { uplinkPairs, type UplinkPair } from '../../config/uplink.js';
import type { AccessUnitFanout } from '../au-fanout.js';
import { IndexJournal } from './index-journal.js';
import { keyId } from './keys.js';
import { UplinkPairSender, type PairStats, type UplinkUnits } from './pair-sender.js';
import type { StreamRole } from './stream-choice.js';
import { defaultUplinkUnits } from './units.js';
import { channelAudio, receiverKeys, uplinkJournalFile } from './session.js';

export interface UplinkOptions {
  config: BoxConfig;
  clock: BoxClock;
  log?: Logger;
  /** net-send's readers, by ring name (`video.<channel>.<role>`). */
  fanouts: ReadonlyMap<string, AccessUnitFanout>;
  requestKeyframe: (channel: string, role: StreamRole, reason: string) => void;
  units?: UplinkUnits;
  now?: () => number;
  tickMs?: number;
}

interface Running {
  pair: UplinkPair;
  sender: UplinkPairSender | null;
  unsubscribe: (() => void)[];
  retry: NodeJS.Timeout | undefined;
  backoff: Backoff;
  generation: number;
}

export class Uplink {
  private readonly running = new Map<string, Running>();
  private journal: IndexJournal | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly now: () => number;
  private readonly limiter: KeyframeLimiter;

  constructor(private readonly o: UplinkOptions) {
    this.now = o.now ?? (() => performance.now());
    this.limiter = new KeyframeLimiter(o.config.uplink.keyframeMinIntervalMs);
  }

  async start(): Promise<void> {
    const cfg = this.o.config;
    try {
      this.journal = new IndexJournal(uplinkJournalFile(cfg.box.dataDir));
    } catch (err) {
      this.o.log?.error({ err }, 'uplink not started: its SRTP index journal cannot be read');
      return;
    }
    for (const pair of uplinkPairs(cfg.uplink)) {
      this.running.set(`${pair.receiver.name}/${pair.channel}`, { pair, sender: null, unsubscribe: [], retry: undefined, backoff: new Backoff({ minMs: 250, maxMs: 10_000, jitter: 0.5 }), generation: 0 });
    }
    this.retainKeys();
    await Promise.all([...this.running.values()].map((r) => this.startPair(r)));
    this.timer = setInterval(() => {
      const now = this.now();
      for (const r of this.running.values()) r.sender?.tick(now);
    }, this.o.tickMs ?? 5);
  }

  /** Drops journal entries of keys no receiver uses any more. */
  private retainKeys(): void {
    const ids = new Set<string>();
    for (const r of this.o.config.uplink.receivers) {
      if (!r.srtp.enabled) continue;
      for (const k of Object.values(receiverKeys(this.o.config, r.name).channels)) for (const b of [k.media, k.fecColumns, k.fecRows, ...(k.audio ? [k.audio.key] : [])]) ids.add(keyId(b));
    }
    this.journal!.retain(ids);
  }

  private async startPair(r: Running): Promise<void> {
    if (this.closed) return;
    const gen = ++r.generation;
    const { pair } = r;
    const cfg = this.o.config;
    const ch = cfg.channels.find((c) => c.name === pair.channel)!;
    const rc = pair.receiver;
    const audio = channelAudio(cfg, pair.channel);
    let sender: UplinkPairSender;
    try {
      const keys = rc.srtp.enabled ? receiverKeys(cfg, rc.name).channels[pair.channel]! : null;
      sender = new UplinkPairSender({
        pair, boxId: cfg.box.id, fps: ch.source.fps, hqKbps: ch.hq.bitrateKbps, keys, suite: rc.srtp.suite,
        audio: audio ? { channels: audio.channels } : null,
        journal: this.journal!, units: this.o.units ?? defaultUplinkUnits, clock: this.o.clock, now: this.now, log: this.o.log,
        requestKeyframe: (role, reason) => this.o.requestKeyframe(pair.channel, role, reason),
        onKeyframeRequest: (role, kind) => {
          if (this.limiter.allow(`${pair.channel}/${role}`, this.now())) this.o.requestKeyframe(pair.channel, role, `${kind.toUpperCase()} from uplink receiver ${rc.name}`);
        },
      });
      await sender.start();
    } catch (err) {
      if (this.closed || gen !== r.generation) return;
      const delay = r.backoff.next();
      this.o.log?.warn({ err, pair: `${rc.name}/${pair.channel}`, retryMs: delay }, 'uplink pair did not start; retrying');
      r.retry = setTimeout(() => void this.startPair(r), delay);
      return;
    }
    if (this.closed || gen !== r.generation) { await sender.close(); return; }
    r.backoff.reset();
    r.sender = sender;
    for (const role of ['hq', 'lq'] as const) {
      const f = this.o.fanouts.get(`video.${pair.channel}.${role}`);
      if (f) r.unsubscribe.push(f.subscribe((au, key, wall, mono) => sender.onAccessUnit(role, au, key, wall, mono)));
    }
    const af = audio ? this.o.fanouts.get(`audio.${audio.input}`) : undefined;
    if (af) r.unsubscribe.push(af.subscribe((frame, _key, wall) => sender.onOpusFrame(frame, wall)));
    this.o.log?.info({ pair: sender.name, to: `${rc.host}:${pair.remotePort}`, srtp: rc.srtp.enabled }, 'uplink pair sending');
  }

  private async stopPair(r: Running): Promise<void> {
    r.generation++;
    clearTimeout(r.retry);
    for (const u of r.unsubscribe.splice(0)) u();
    const s = r.sender;
    r.sender = null;
    await s?.close();
  }

  async restartReceiver(receiver: string): Promise<void> {
    const rs = [...this.running.values()].filter((r) => r.pair.receiver.name === receiver);
    for (const r of rs) await this.stopPair(r);
    this.retainKeys();
    await Promise.all(rs.map((r) => this.startPair(r)));
  }

  stats(): PairStats[] {
    return [...this.running.values()].flatMap((r) => (r.sender ? [r.sender.stats()] : []));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all([...this.running.values()].map((r) => this.stopPair(r)));
  }
}
