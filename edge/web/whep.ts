/**
 * One WHEP playback session (draft-ietf-wish-whep: the player POSTs an SDP offer, the box
 * answers 201 with the SDP answer): a werift RTCPeerConnection that sends one H.264 video
 * track, packetised from the box's own encoded access units by edge/rtp/h264-packetizer.ts (no
 * re-encode). SRTP/DTLS/ICE are werift's. The stream must be in a profile the browser takes
 * (this Chromium: Baseline, Constrained Baseline, Main; not High), offered here as
 * `profileLevelId`.
 *
 * Lifecycle: `create(offer)` answers (ICE gathered, no trickle); `writeAccessUnit()` per AU in
 * capture order (dropped until the peer is connected; the first AU sent is a keyframe, later
 * ones follow); `close()` is idempotent. Errors: WhepError naming the session and what failed.
 * Not wired to a worker yet (see README: net-send is to host it, fed from the encoded rings).
 */
import { RTCPeerConnection, RTCRtpCodecParameters, MediaStreamTrack } from 'werift';
import { H264Packetizer } from '../rtp/h264-packetizer.js';

export class WhepError extends Error {
  constructor(readonly session: string, message: string) { super(`WHEP session ${session}: ${message}`); this.name = 'WhepError'; }
}

export interface WhepSessionOptions {
  id: string;
  /** profile-level-id the stream is encoded in, hex (default 42e01f, Constrained Baseline 3.1). */
  profileLevelId?: string;
  /** Extra host addresses for ICE (e.g. 127.0.0.1 for a player on the box). */
  hostAddresses?: string[];
}

type State = 'new' | 'answered' | 'connected' | 'closed';

export class WhepSession {
  private readonly pc: RTCPeerConnection;
  private readonly track = new MediaStreamTrack({ kind: 'video' });
  private readonly packetizer = new H264Packetizer({ payloadType: 96, mtu: 1200 });
  private state: State = 'new';
  private waitingForKeyframe = true;
  /** Access units sent, and dropped before the peer connected or while waiting for a keyframe. */
  sent = 0;
  dropped = 0;

  constructor(private readonly opts: WhepSessionOptions) {
    if (!opts.id) throw new Error('WHEP session: an id is required');
    const plid = opts.profileLevelId ?? '42e01f';
    if (!/^[0-9a-f]{6}$/i.test(plid)) throw new WhepError(opts.id, `profile-level-id "${plid}" is not 6 hex digits`);
    this.pc = new RTCPeerConnection({
      codecs: {
        video: [new RTCRtpCodecParameters({
          mimeType: 'video/H264', clockRate: 90_000,
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
          parameters: `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${plid}`,
        })],
      },
      iceAdditionalHostAddresses: opts.hostAddresses,
    });
    this.pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected' && this.state === 'answered') this.state = 'connected';
      if (s === 'failed' || s === 'closed') void this.close();
    });
  }

  get connected(): boolean { return this.state === 'connected'; }

  /** Takes the player's offer, returns the answer with every ICE candidate in it. */
  async create(offerSdp: string): Promise<string> {
    if (this.state !== 'new') throw new WhepError(this.opts.id, `create() when ${this.state}`);
    if (!/^v=0/m.test(offerSdp) || !/^m=video /m.test(offerSdp)) throw new WhepError(this.opts.id, 'the offer is not an SDP with a video section');
    this.pc.addTransceiver(this.track, { direction: 'sendonly' });
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    if (this.pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => { const sub = this.pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') { sub.unSubscribe(); resolve(); } }); });
    }
    if (!/a=rtpmap:\d+ H264\/90000/i.test(this.pc.localDescription?.sdp ?? '')) {
      throw new WhepError(this.opts.id, `the player offers no H.264 with profile-level-id ${this.opts.profileLevelId ?? '42e01f'} and packetization-mode=1`);
    }
    this.state = 'answered';
    return this.pc.localDescription!.sdp;
  }

  /** One access unit (Annex B) of the box's stream. */
  writeAccessUnit(au: Uint8Array, captureNs: bigint, keyframe: boolean): void {
    if (this.state !== 'connected') { this.dropped++; return; }
    if (this.waitingForKeyframe && !keyframe) { this.dropped++; return; }
    this.waitingForKeyframe = false;
    const b = this.packetizer.packetize(au, captureNs, keyframe);
    // werift's sender rewrites SSRC and payload type to the negotiated ones.
    for (let i = 0; i < b.count; i++) this.track.writeRtp(Buffer.from(b.packets[i].subarray(0, b.lengths[i])));
    this.sent++;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.track.stop();
    await this.pc.close().catch(() => undefined);
  }
}
