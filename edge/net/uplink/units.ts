/**
 * The uplink's units as the pair sender asks for them: SRTP from edge/srtp, SMPTE 2022-1 FEC
 * from edge/rtp. Kept apart from pair-sender.ts so a test can give the sender other units.
 * Runs on: net-send.
 */
import { St2022FecEncoder } from '../../rtp/index.js';
import { SrtpInterceptor, suiteByName, type SrtpKeying } from '../../srtp/index.js';
import type { FecParams, FecUnit, SrtpPortParams, SrtpPortUnit, UplinkUnits } from './pair-sender.js';

/** The keying of an SDES `inline:` value (key || salt, base64) for a suite. */
export function keyingOf(suiteName: string, masterB64: string): SrtpKeying {
  const suite = suiteByName(suiteName);
  if (!suite) throw new RangeError(`unknown SRTP suite ${suiteName}`);
  const b = Buffer.from(masterB64, 'base64');
  if (b.length !== suite.masterKeyLength + suite.masterSaltLength) throw new RangeError(`${suiteName} needs ${suite.masterKeyLength + suite.masterSaltLength} bytes of key and salt, got ${b.length}`);
  return { suite, masterKey: b.subarray(0, suite.masterKeyLength), masterSalt: b.subarray(suite.masterKeyLength) };
}

function srtpPort(p: SrtpPortParams): SrtpPortUnit {
  const keying = keyingOf(p.suite, p.masterB64);
  // The receiver protects its RTCP with the same key (what ffmpeg does with one a=crypto line);
  // its SSRCs are its own, so no keystream is shared with ours.
  const unit = new SrtpInterceptor({
    local: keying, remote: keying,
    senderState: p.resume.map((r) => ({
      ssrc: r.ssrc, roc: r.lastIndex < 0 ? 0 : Math.floor(r.lastIndex / 65536), lastSeq: r.lastIndex < 0 ? -1 : r.lastIndex % 65536, rtcpIndex: r.rtcpIndex,
    })),
  });
  return {
    bindLocalStream: (i, n) => unit.bindLocalStream(i, n),
    bindRemoteStream: (i, n) => unit.bindRemoteStream(i, n),
    bindRtcpWriter: (n) => unit.bindRtcpWriter(n),
    bindRtcpReader: (n) => unit.bindRtcpReader(n),
    close: () => unit.close(),
    stats(): Record<string, number> {
      const out: Record<string, number> = {};
      for (const [dir, c] of [['out', unit.stats.outboundDropped], ['in', unit.stats.inboundDropped]] as const) {
        for (const [k, n] of Object.entries(c)) if (n > 0) out[`${dir}:${k}`] = n;
      }
      return out;
    },
  };
}

function fecEncoder(p: FecParams): FecUnit {
  const enc = new St2022FecEncoder({
    columns: p.columns, rows: p.rows, rowFec: p.rowFec, columnSink: p.columnSink, rowSink: p.rowSink,
    // Payload types as the SDP names them (GStreamer's decoder ignores them); SSRC 0 like the
    // media (2022-1 rebuilds carry the SSRC of the others): each FEC port has its own key.
    payloadType: p.payloadType, ssrc: 0, rowSequence: p.rowSeq, columnSequence: p.columnSeq,
  });
  return {
    bindLocalStream: (i, n) => enc.bindLocalStream(i, n),
    unbindLocalStream: (i) => enc.unbindLocalStream(i),
    close: () => enc.close(),
    stats: () => ({ ...enc.stats }),
  };
}

export const defaultUplinkUnits: UplinkUnits = { srtp: srtpPort, fecEncoder };
