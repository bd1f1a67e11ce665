/**
 * duplex-voice worker: the room's talk session with a remote expert (edge/audio/voice/): the
 * session's own UDP socket, the expert's SRTP Opus in, jitter buffer, decode, echo
 * cancellation, the speaker (`audio.output`); the room mic (`pcm.<voice.input>`, default the
 * first audio input), echo-cancelled, back to the expert.
 *
 * Commands (inbox `{type:'command', name, args}`, answered by a `command-result` event, as
 * control's CommandRouter reads it):
 *   voice-offer {peer}   -> details.sdp: the box's offer (holds the key the box sends with)
 *   voice-start {sdp}    the peer's answer starts the session; refused while one runs
 *   voice-stop, voice-mute {on}
 * Events: `voice-status` (VoiceStatus) every second and after each command.
 * Lifecycle: start() makes the service (nothing is bound until an offer); stop() closes the
 * session and frees the port. Other pcm rings it is handed are drained.
 */
import { VoiceRefusal, VoiceService } from '../audio/voice/index.js';
import { pumpRecords, runWorker, type WorkerContext } from '../runtime/index.js';

let loops: Promise<unknown> | undefined;
let service: VoiceService | undefined;
let context: WorkerContext | undefined;
let timer: NodeJS.Timeout | undefined;

runWorker({
  start(ctx) {
    context = ctx;
    const cfg = ctx.config;
    const input = cfg.voice.input !== undefined ? cfg.audio.inputs.find((a) => a.name === cfg.voice.input) : cfg.audio.inputs[0];
    const micRing = input ? `pcm.${input.name}` : undefined;
    const attached = ctx.rings('consumer', 'pcm.');
    const mic = micRing && attached.includes(micRing) && input
      ? { ring: ctx.consumer(micRing), rate: input.rate, channels: input.channels, name: input.name } : undefined;
    service = new VoiceService({ boxId: cfg.box.id, room: cfg.box.room, voice: cfg.voice, output: cfg.audio.output, mic, log: ctx.log });
    // Every other ring this worker is handed is drained (nothing else to do with it yet).
    loops = Promise.all(ctx.rings('consumer').filter((r) => r !== micRing && !r.startsWith('inbox.')).map((r) => pumpRecords(ctx, r, () => undefined)));
    timer = setInterval(() => ctx.emit({ type: 'voice-status', status: service!.status() }), 1000);
  },
  async stop() {
    clearInterval(timer);
    await service?.close();
    await loops;
  },
  async onMessage(msg) {
    if (msg.type !== 'command' || !msg.name.startsWith('voice-') || !service || !context) return;
    const a = (msg.args ?? {}) as { peer?: unknown; sdp?: unknown; on?: unknown };
    let result: { state: 'finished' | 'invalid' | 'failed'; reason?: string; details?: Record<string, string> };
    try {
      switch (msg.name) {
        case 'voice-offer': {
          const { sdp } = await service.offer(String(a.peer ?? ''));
          result = { state: 'finished', reason: `offer for ${String(a.peer)} on UDP ${context.config.voice.port}`, details: { sdp } };
          break;
        }
        case 'voice-start': {
          const s = await service.start(String(a.sdp ?? ''));
          result = { state: 'finished', reason: `talking with ${s.peer}${s.muted ? ' (muted: push to talk)' : ''}` };
          break;
        }
        case 'voice-stop': {
          const before = service.status();
          await service.stop();
          result = { state: 'finished', reason: before.state === 'talking' ? `talk session with ${before.peer} stopped` : before.state === 'offered' ? `offer to ${before.peer} withdrawn` : 'no talk session was running' };
          break;
        }
        case 'voice-mute': {
          const s = service.mute(a.on !== false);
          result = { state: 'finished', reason: s.muted ? 'room mic muted' : 'room mic open: the expert hears the room' };
          break;
        }
        default:
          result = { state: 'invalid', reason: `unknown voice command ${msg.name}` };
      }
    } catch (e) {
      result = { state: e instanceof VoiceRefusal ? 'invalid' : 'failed', reason: (e as Error).message };
    }
    context.emit({ type: 'command-result', id: msg.id, name: msg.name, result });
    context.emit({ type: 'voice-status', status: service.status() });
  },
});
