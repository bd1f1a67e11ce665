/**
 * edge/audio/voice — two-way voice with a remote expert (duplex-voice), entered through this
 * index: session.ts (a talk session: socket, SRTP, jitter buffer, decode, echo cancellation,
 * speaker, the room mic back), jitter-buffer.ts, delay-estimator.ts (the echo path's bulk
 * delay), output.ts (the speaker: none, file:<wav>, alsa:<card>), sdp.ts (offer / answer),
 * service.ts (one session per room: offer, start, stop, mute, the listening lamp).
 */
export * from './jitter-buffer.js';
export * from './delay-estimator.js';
export * from './output.js';
export * from './sdp.js';
export * from './session.js';
export * from './service.js';
