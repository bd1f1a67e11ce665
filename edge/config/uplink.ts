/**
 * The `uplink` section: receivers the box pushes live RTP to over a lossy, untrusted network
 * (a remote expert's site, the hospital video platform, a relay), with repair (RFC 4588 RTX,
 * SMPTE 2022-1 FEC), SRTP (SDES keys) and an adaptive hq/lq choice per receiver.
 *
 * Ports. Each (receiver, channel) pair is one RTP session on a block of UPLINK_PORT_BLOCK ports,
 * the channel's position k in the receiver's `channels` list giving the block:
 *
 *   receiver side  port + 10k + 0  video RTP (and RTX: own SSRC and payload type, RFC 4588 §5.2)
 *                               1  video RTCP (receiver reports, NACK, PLI/FIR come back here)
 *                               2  FEC columns (SMPTE 2022-1, GStreamer's fec_0)
 *                               4  FEC rows (fec_1)
 *                               6  audio RTP, 7 audio RTCP (once the channel has audio)
 *   box side       portStart + 10 * (index of the pair over all receivers) + the same offsets
 *
 * The box sends from its side's ports and takes feedback on them (symmetric RTP, RFC 4961), so a
 * box behind the hospital's NAT works: the receiver answers to where the packets came from.
 */
import { z } from 'zod';

/** Ports one (receiver, channel) pair takes, on each side. */
export const UPLINK_PORT_BLOCK = 10;
/** Offsets inside a block (see the header). */
export const UPLINK_PORT = { rtp: 0, rtcp: 1, fecColumns: 2, fecRows: 4, audioRtp: 6, audioRtcp: 7 } as const;

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'a lower-case name of letters, digits, - or _ (at most 32)');
const evenPort = z.number().int().min(1024).max(65534).refine((n) => n % 2 === 0, 'must be even: RTP takes the even port, RTCP the one after it');

export const SRTP_SUITES = ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'] as const;

const receiver = z.object({
  name,
  /** Where the receiver (or its site's gateway, or a relay) listens: an IP address or host name. */
  host: z.string().min(1),
  /** The receiver's first port (video RTP of its first channel); even. */
  port: evenPort,
  /** Channels sent, by name; at least one. */
  channels: z.array(name).min(1).max(8),
  /** `auto` chooses hq or lq from the receiver's feedback; `hq`/`lq` pin it. */
  stream: z.enum(['auto', 'hq', 'lq']).default('auto'),
  srtp: z.object({
    /** Off only for a lab receiver that cannot decrypt (the SDP then says RTP/AVPF). */
    enabled: z.boolean().default(true),
    suite: z.enum(SRTP_SUITES).default('AES_CM_128_HMAC_SHA1_80'),
  }).strict().default({ enabled: true, suite: 'AES_CM_128_HMAC_SHA1_80' }),
  /** RFC 4588 retransmission answering the receiver's NACKs. */
  rtx: z.boolean().default(true),
  /**
   * SMPTE 2022-1 row/column FEC: `columns` is L (packets per row), `rows` is D (rows per matrix).
   * Columns repair bursts up to L packets; rows repair single losses within a row.
   */
  fec: z.object({
    enabled: z.boolean().default(true),
    columns: z.number().int().min(1).max(20).default(5),
    rows: z.number().int().min(4).max(20).default(5),
    /**
     * Row FEC too. Off by default: with retransmission doing the main repair, rows cost another
     * 1/L of the media for little (test-rig/bench/uplink.bench.ts measures both).
     */
    rowFec: z.boolean().default(false),
  }).strict().default({ enabled: true, columns: 5, rows: 5, rowFec: false }),
  /** The receiver's buffer, ms: how long repair may take; sized into the retransmission history. */
  latencyMs: z.number().int().min(20).max(5000).default(200),
  /** Upper bound on retransmitted bytes as a share of the media rate (a NACK storm cannot exceed it). */
  maxRepairShare: z.number().min(0).max(2).default(0.6),
}).strict();

export const UplinkConfigSchema = z.object({
  /** The box's first local port for the uplink (see the header); even. */
  portStart: evenPort.default(30000),
  /** Fewest ms between keyframes forced on one stream by receivers' PLI/FIR, all receivers together. */
  keyframeMinIntervalMs: z.number().int().min(0).max(60_000).default(500),
  receivers: z.array(receiver).max(16).default([]),
}).strict().superRefine((u, ctx) => {
  const seen = new Set<string>();
  u.receivers.forEach((r, i) => {
    if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: ['receivers', i, 'name'], message: `duplicate receiver name "${r.name}"` });
    seen.add(r.name);
    const dup = r.channels.find((c, k) => r.channels.indexOf(c) !== k);
    if (dup) ctx.addIssue({ code: 'custom', path: ['receivers', i, 'channels'], message: `channel "${dup}" listed twice` });
    if (r.port + UPLINK_PORT_BLOCK * r.channels.length > 65536) ctx.addIssue({ code: 'custom', path: ['receivers', i, 'port'], message: `${r.channels.length} channel(s) need ports up to ${r.port + UPLINK_PORT_BLOCK * r.channels.length - 1}, past 65535` });
  });
  const pairs = u.receivers.reduce((n, r) => n + r.channels.length, 0);
  if (u.portStart + UPLINK_PORT_BLOCK * pairs > 65536) ctx.addIssue({ code: 'custom', path: ['portStart'], message: `${pairs} (receiver, channel) pair(s) need local ports up to ${u.portStart + UPLINK_PORT_BLOCK * pairs - 1}, past 65535` });
});

export type UplinkConfig = z.infer<typeof UplinkConfigSchema>;
export type UplinkReceiverConfig = UplinkConfig['receivers'][number];

/** One (receiver, channel) pair with its ports on both sides. */
export interface UplinkPair {
  receiver: UplinkReceiverConfig;
  channel: string;
  /** Position of the pair over all receivers (the box-side block). */
  index: number;
  /** First port of the block on the box and on the receiver. */
  localPort: number;
  remotePort: number;
}

/** Every (receiver, channel) pair, in configuration order. */
export function uplinkPairs(u: UplinkConfig): UplinkPair[] {
  const out: UplinkPair[] = [];
  for (const r of u.receivers) {
    r.channels.forEach((channel, k) => {
      const index = out.length;
      out.push({ receiver: r, channel, index, localPort: u.portStart + UPLINK_PORT_BLOCK * index, remotePort: r.port + UPLINK_PORT_BLOCK * k });
    });
  }
  return out;
}
