/**
 * Every record kind of every ring, in one table: the `kind` word a producer writes in each
 * record (or slot) header and its consumers dispatch on. A kind is meaningful only within its
 * ring; rings are listed in edge/runtime/ring-plan.ts.
 *
 *   ring                   kind                          payload
 *   inbox.<worker>         INBOX_KIND_JSON       1       one JSON InboxMessage (edge/runtime/boot.ts)
 *   raw.<channel>          FRAME_KIND_RAW        1       one raw 4:2:0 frame (slot ring; edge/video/capture.ts)
 *   video.<channel>.hq|lq  RECORD_KIND_H264_AU   1       one Annex B access unit (edge/video/encode.ts)
 *   snap.<channel>         RECORD_KIND_JPEG_STILL 2      a full-size JPEG still
 *                          RECORD_KIND_JPEG_THUMBNAIL 3  the thumbnail of the still with the same capture time
 *   vitals                 VITALS_KIND_SAMPLE    1       one protobuf VitalSample (edge/proto/vitals.proto)
 *
 * Flags beside the ring's own FLAG_SYNC (bit 0): in pcm.<input> and audio.<input>, AUDIO_FLAG_GAP
 * marks silence written while the input's source was away (every audio record is also SYNC).
 *
 * Kind 0xFFFF is the record ring's own padding (edge/lib/ring) and never reaches a consumer.
 */
export const INBOX_KIND_JSON = 1;
export const FRAME_KIND_RAW = 1;
export const RECORD_KIND_H264_AU = 1;
export const RECORD_KIND_JPEG_STILL = 2;
export const RECORD_KIND_JPEG_THUMBNAIL = 3;
export const VITALS_KIND_SAMPLE = 1;
export const RECORD_KIND_PCM_S16LE = 1;
export const RECORD_KIND_OPUS_FRAME = 1;
/** Record flag (pcm.<input>, audio.<input>): silence standing in for a source that is away. */
export const AUDIO_FLAG_GAP = 2;
