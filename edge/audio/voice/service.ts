/**
 * The room's talk service: at most one talk session at a time, started from an offer.
 *
 *   idle --offer(peer)--> offered --start(answer)--> talking --stop()--> idle
 *          (offer again: a new offer replaces the old one, new keys, same port)
 *
 * Contract
 * - offer(peer): binds the session's UDP port (voice.port) and makes the box's keys; returns
 *   the offer SDP (it holds the key the box sends with). Refused while a session is running.
 * - start(answerSdp): the peer's answer (where to send, its key) starts the session on the
 *   offer's socket. Refused with a clear message when a session runs (one at a time: "a talk
 *   session with <peer> is running"), when nothing was offered, or when the SDP is not usable.
 * - stop(), mute(on): idempotent. close(): stops the session and frees the port.
 * - The "expert listening" lamp: `listeningOutput` gets "1\n" while a session runs unmuted
 *   (the expert hears the room) and "0\n" otherwise; status shows the same flag.
 * - The room mic ring is read all the time: by the running session, or drained while idle (the
 *   ring must not overrun between sessions).
 * Errors: VoiceRefusal (a refused command, its message for the user); a failed session is
 * closed and its error kept in status (`lastError`). Runs on: duplex-voice.
 */
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import type { Logger } from '../../lib/log.js';
import { READ_EMPTY, type RingConsumer } from '../../lib/ring/index.js';
import { generateKeying, suiteByName, type SrtpKeying } from '../../srtp/index.js';
import type { VoiceConfig } from '../../config/voice.js';
import { parseVoiceOutput } from './output.js';
import { buildVoiceOffer, parseVoiceAnswer } from './sdp.js';
import { TalkSession, type TalkSessionOptions, type TalkSessionStats } from './session.js';

export class VoiceRefusal extends Error {}

export interface VoiceServiceOptions {
  boxId: string;
  room: string;
  voice: VoiceConfig;
  /** `audio.output`. */
  output: string;
  /** The room mic ring and its format; absent: sessions are receive-only. */
  mic?: { ring: RingConsumer; rate: number; channels: number; name: string };
  log?: Logger;
  /** Extra session options (tests: taps). */
  sessionExtras?: Partial<TalkSessionOptions>;
}

export interface VoiceStatus {
  state: 'idle' | 'offered' | 'talking';
  peer: string | null;
  listening: boolean;
  muted: boolean;
  mic: string | null;
  session: TalkSessionStats | null;
  lastError: string | null;
}

interface Offer { peer: string; socket: Socket; keying: SrtpKeying; sdp: string }

export class VoiceService {
  private offered: Offer | undefined;
  private session: TalkSession | undefined;
  private lastSession: TalkSessionStats | null = null;
  private lastError: string | null = null;
  private closed = false;
  private lamp: boolean | undefined;
  private readonly idle: Promise<void> | undefined;

  constructor(private readonly o: VoiceServiceOptions) {
    parseVoiceOutput(o.output);
    if (!suiteByName(o.voice.srtpSuite)) throw new RangeError(`voice.srtpSuite ${o.voice.srtpSuite} is not known`);
    this.setLamp(false);
    if (o.mic) this.idle = this.drainWhileIdle(o.mic.ring);
  }

  async offer(peer: string): Promise<{ sdp: string }> {
    this.check();
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(peer)) throw new VoiceRefusal(`peer name "${peer}": letters, digits, . _ @ - (1 to 64)`);
    if (this.session) throw new VoiceRefusal(`a talk session with ${this.session.peer} is running; \`orbox voice stop\` first`);
    let socket = this.offered?.socket;
    if (!socket) {
      socket = createSocket('udp4');
      const s = socket;
      await new Promise<void>((resolve, reject) => {
        s.once('error', (e) => reject(new VoiceRefusal(`voice.port ${this.o.voice.port}: ${e.message}`)));
        s.bind(this.o.voice.port, () => resolve());
      });
    }
    const keying = generateKeying(suiteByName(this.o.voice.srtpSuite)!);
    const sdp = buildVoiceOffer({
      boxId: this.o.boxId, room: this.o.room, peer, host: this.o.voice.host, port: this.o.voice.port, keying,
      sessionId: String(Date.now()),
    });
    this.offered = { peer, socket, keying, sdp };
    return { sdp };
  }

  async start(answerSdp: string): Promise<VoiceStatus> {
    this.check();
    if (this.session) throw new VoiceRefusal(`a talk session with ${this.session.peer} is running; one at a time per room (\`orbox voice stop\` first)`);
    const off = this.offered;
    if (!off) throw new VoiceRefusal('no offer to answer: run `orbox voice sdp <peer>` first and give the peer its SDP');
    let answer;
    try { answer = parseVoiceAnswer(answerSdp); } catch (e) { throw new VoiceRefusal((e as Error).message); }
    this.offered = undefined;
    const v = this.o.voice;
    const session = new TalkSession({
      peer: off.peer, answer, localKeying: off.keying, socket: off.socket,
      mic: this.o.mic?.ring, micRate: this.o.mic?.rate, micChannels: this.o.mic?.channels,
      output: parseVoiceOutput(this.o.output), jitterMs: v.jitterMs, bitrateKbps: v.bitrateKbps, pushToTalk: v.pushToTalk,
      echo: { echoDelayMs: v.echoDelayMs, noiseSuppression: v.noiseSuppression }, log: this.o.log,
      ...this.o.sessionExtras,
      onError: (e) => { this.lastError = `talk session with ${off.peer}: ${e.message}`; void this.stop(); },
    });
    this.session = session;
    this.lastError = null;
    session.start();
    this.setLamp(!session.isMuted);
    return this.status();
  }

  async stop(): Promise<VoiceStatus> {
    const s = this.session;
    this.session = undefined;
    if (s) {
      await s.close();
      this.lastSession = s.stats();
    }
    if (this.offered) { try { this.offered.socket.close(); } catch { /* closed */ } this.offered = undefined; }
    this.setLamp(false);
    return this.status();
  }

  mute(on: boolean): VoiceStatus {
    if (!this.session) throw new VoiceRefusal('no talk session is running');
    this.session.mute(on);
    this.setLamp(!on);
    return this.status();
  }

  status(): VoiceStatus {
    const s = this.session;
    return {
      state: s ? 'talking' : this.offered ? 'offered' : 'idle',
      peer: s?.peer ?? this.offered?.peer ?? null,
      listening: Boolean(s && !s.isMuted),
      muted: s?.isMuted ?? false,
      mic: this.o.mic?.name ?? null,
      session: s ? s.stats() : this.lastSession,
      lastError: this.lastError,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop();
    this.closed = true;
    this.o.mic?.ring.wake();
    await this.idle;
  }

  private check(): void { if (this.closed) throw new VoiceRefusal('the voice service is stopping'); }

  private setLamp(on: boolean): void {
    if (this.lamp === on || !this.o.voice.listeningOutput) { this.lamp = on; return; }
    this.lamp = on;
    try { writeFileSync(this.o.voice.listeningOutput, on ? '1\n' : '0\n'); } catch (e) {
      this.o.log?.warn({ err: e, path: this.o.voice.listeningOutput }, 'voice.listeningOutput not written');
    }
  }

  private async drainWhileIdle(c: RingConsumer): Promise<void> {
    const buf = new Uint8Array(c.maxPayload);
    while (!this.closed) {
      if (this.session) { await new Promise((r) => setTimeout(r, 100)); continue; }
      if (c.readInto(buf) === READ_EMPTY) await c.wait(200);
    }
  }
}
