/**
 * The unit interfaces a pair sender asks its composer for (units.ts makes the real ones: SRTP
 * from edge/srtp, SMPTE 2022-1 FEC from edge/rtp); apart so the video and audio senders share
 * them without importing each other, and a test can give other units.
 * Runs on: net-send.
 */
import type { Interceptor, PacketSink } from '../../rtp/index.js';
import type { SrtpSuiteName } from './keys.js';

/** What the SRTP unit of one port needs; made by the composer (edge/srtp). */
export interface SrtpPortParams {
  masterB64: string;
  suite: SrtpSuiteName;
  /** Per SSRC: the last RTP index and SRTCP index that may have been used (from the journal). */
  resume: { ssrc: number; lastIndex: number; rtcpIndex: number }[];
  label: string;
}
export type SrtpPortUnit = Interceptor & { stats(): Record<string, number> };

/** What the FEC encoder unit needs; made by the composer (edge/rtp SMPTE 2022-1). */
export interface FecParams {
  columns: number;
  rows: number;
  rowFec: boolean;
  columnSink: PacketSink;
  rowSink: PacketSink;
  /** Of both FEC streams. */
  payloadType: number;
  /** First sequence numbers of the FEC streams (resuming above their reservations). */
  columnSeq: number;
  rowSeq: number;
}
export type FecUnit = Interceptor & { stats(): Record<string, number> };

export interface UplinkUnits {
  srtp(p: SrtpPortParams): SrtpPortUnit;
  fecEncoder(p: FecParams): FecUnit;
}
