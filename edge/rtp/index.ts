/**
 * The RTP stack of net-send: seq math, RTP header, Annex B splitting, H.264 packetising
 * (RFC 6184), RTCP SR/RR (RFC 3550), SDP, SMPTE 2022-1 FEC. See README.md for the
 * RFC -> module -> test map.
 */
export * from './errors.js';
export * from './seq.js';
export * from './header.js';
export * from './annexb.js';
export * from './h264.js';
export * from './h264-packetizer.js';
export * from './rtcp.js';
export * from './receiver-reports.js';
export * from './sdp.js';
export * from './interceptor.js';
export * from './receiver-stats.js';
export * from './reorder-buffer.js';
export * from './rtcp-feedback.js';
export * from './rtx.js';
export * from './nack-responder.js';
export * from './nack-generator.js';
export * from './keyframe-request.js';
export * from './st2022-1-header.js';
export * from './st2022-1-encoder.js';
export * from './st2022-1-decoder.js';
export * from './opus.js';
