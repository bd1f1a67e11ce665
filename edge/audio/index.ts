/**
 * edge/audio — the box's audio inputs, entered through this index: capture.ts (an input's
 * source into `pcm.<input>`, gaps, retries; audio-capture), source.ts (device names and source
 * descriptions), tone.ts (the test-tone pattern), levels.ts (RMS / peak / clipping / silence),
 * encode.ts (`pcm.<input>` -> Opus -> `audio.<input>`; audio-encode), record-feed.ts (`pcm.<input>`
 * -> a channel's recording, AAC-LC; video-encode). The RTP payload format is
 * edge/rtp/opus.ts.
 */
export { AudioCapture, TOLERANCE_NS, type AudioCaptureEvent, type AudioCaptureOptions, type AudioCaptureState, type AudioCaptureStats } from './capture.js';
export { AudioEncoder, LOOKAHEAD_NS, encoderDescription, type AudioEncoderOptions, type AudioEncoderStats } from './encode.js';
export { LevelMeter, FLOOR_DBFS, type AudioLevels } from './levels.js';
export { AlsaPathError, PCM_SINK, SND_BY_PATH, parseAudioDevice, resolveAlsaPath, sourceDescription, type AudioSource } from './source.js';
export * from './tone.js';
export { AAC_ENCODERS, RecordingAudioFeed, type AacEncoder, type RecordingAudioFeedOptions, type RecordingAudioStats } from './record-feed.js';
