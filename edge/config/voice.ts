/**
 * The `voice` section: the talk session with a remote expert (duplex-voice,
 * edge/audio/voice/). The room speaker is `audio.output`.
 *
 *   input            the audio input that is the room mic (default: the first audio input)
 *   host, port       the address the box puts in its offer (the expert sends there); the box
 *                    binds port on all interfaces while a session is offered or running
 *   jitterMs         playout delay of the expert's stream (fixed), ms
 *   bitrateKbps      Opus to the expert
 *   pushToTalk       a session starts muted; `orbox voice mute off` talks
 *   echoDelayMs      a fixed echo path delay (ms) measured on a board; default: estimated
 *   noiseSuppression webrtcdsp's noise suppression
 *   listeningOutput  a file written "1\n" while an expert hears the room and "0\n" otherwise
 *                    (a GPIO sysfs `value` file, or any file a lamp driver watches)
 *   srtpSuite        the suite of the box's offer
 */
import { z } from 'zod';

export const VOICE_SRTP_SUITES = ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'] as const;

export const VoiceConfigSchema = z.object({
  input: z.string().optional(),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1024).max(65534).refine((n) => n % 2 === 0, 'must be even: RTP takes the even port').default(31000),
  jitterMs: z.number().int().min(0).max(500).default(60),
  bitrateKbps: z.number().int().min(6).max(510).default(32),
  pushToTalk: z.boolean().default(false),
  echoDelayMs: z.number().min(0).max(500).optional(),
  noiseSuppression: z.boolean().default(true),
  listeningOutput: z.string().min(1).optional(),
  srtpSuite: z.enum(VOICE_SRTP_SUITES).default('AES_CM_128_HMAC_SHA1_80'),
}).strict();

export const VOICE_DEFAULTS = { host: '127.0.0.1', port: 31000, jitterMs: 60, bitrateKbps: 32, pushToTalk: false, noiseSuppression: true, srtpSuite: 'AES_CM_128_HMAC_SHA1_80' } as const;

export type VoiceConfig = z.infer<typeof VoiceConfigSchema>;
