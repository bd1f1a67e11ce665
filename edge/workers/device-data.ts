/**
 * device-data worker: serial (and LAN) medical devices into the vitals ring and the vitals
 * track, on the box clock.
 *
 * Owns: the DeviceDataService (protocol drivers, association, silence and cable handling,
 * gap marking: edge/devices), the producer side of the `vitals` ring (one protobuf
 * VitalSample per record, every record a sync point: samples stand alone), and the vitals
 * track recording (crash-safe append-only files under <dataDir>/vitals/). Remote device
 * commands arrive in its inbox as `{type:'command', name:'device', args}` and their result
 * goes back as a `command-result` event, keyed by the command id.
 * Events: `device` (connection state, gaps, device ids), `segment-opened`/`segment-closed`
 * (channel `vitals`, for the catalog, as the video recorders report theirs), `command-result`.
 */
import { mkdirSync } from 'node:fs';
import type { DeviceDataService, VitalsTrackWriter, DeviceEvent, VitalSample } from '../devices/index.js';
import { FLAG_SYNC } from '../lib/ring/index.js';
import { recordingLocation } from '../recording/naming.js';
import { VITALS_KIND_SAMPLE } from '../lib/record-kinds.js';
import { runWorker, type WorkerContext } from '../runtime/index.js';


let service: DeviceDataService | undefined;
let track: VitalsTrackWriter | undefined;
let context: WorkerContext | undefined;

const jsonSafe = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)));

/** <dataDir>/vitals/<yyyymmdd>/vitals-<UTC start>-<incarnation>.ovt, named like video segments. */
function trackPath(ctx: WorkerContext, wallNs: bigint): string {
  const loc = recordingLocation(ctx.config.box.dataDir, 'vitals', wallNs, 'ovt');
  mkdirSync(loc.dir, { recursive: true });
  return loc.pathOf(ctx.incarnation);
}

/** Events also go to JSON (status, fleet): bigints become decimal strings. */
const plain = (e: DeviceEvent) => jsonSafe(e) as Record<string, unknown>;

runWorker({
  async start(ctx) {
    context = ctx;
    const ports = ctx.config.devices.ports;
    if (ports.length === 0) return;
    // Only boxes with devices pay for the drivers, serialport and the protobuf schema.
    const { DeviceDataService, VitalsTrackWriter, encodeVitalSample } = await import('../devices/index.js');
    const vitals = ctx.producer('vitals');
    let publishQueued = false;
    const publish = (): void => { publishQueued = false; vitals.publish(); };
    const created = ctx.clock.wallNs();
    track = new VitalsTrackWriter(trackPath(ctx, created), { createdWallNs: created });
    track.open();
    // The vitals track is catalogued like a video segment (channel "vitals"): same events.
    ctx.emit({ type: 'segment-opened', channel: 'vitals', seq: ctx.incarnation, path: track.path, startNs: created.toString() });
    service = new DeviceDataService({
      ports,
      clock: ctx.clock,
      onSample: (s: VitalSample) => {
        // A device message yields its samples in one go: they are published together when
        // this task ends (one ring commit and one wake-up of the readers per message).
        vitals.append(VITALS_KIND_SAMPLE, FLAG_SYNC, s.hostWallNs, s.hostMonoNs, encodeVitalSample(s));
        if (!publishQueued) { publishQueued = true; queueMicrotask(publish); }
        track!.append(s);
      },
      onEvent: (e) => {
        if (e.type === 'error') ctx.log.warn({ port: e.port, message: e.message }, 'device error');
        else if (e.type === 'state' || e.type === 'gap') ctx.log.info(plain(e), `device ${e.type}`);
        ctx.emit({ type: 'device', event: plain(e) });
      },
    });
    service.start();
  },
  async stop() {
    await service?.close();
    if (track) {
      const info = track.close();
      context?.emit({
        type: 'segment-closed', channel: 'vitals', seq: context.incarnation, path: info.path,
        startNs: info.startWallNs.toString(), endNs: info.endWallNs.toString(), bytes: info.bytes, frames: info.samples,
      });
    }
  },
  async onMessage(msg) {
    if (msg.type !== 'command' || msg.name !== 'device') return;
    // The inbox carries JSON: the arrival time comes as a decimal string.
    const args = { ...(msg.args as Record<string, unknown>) };
    if (typeof args.arrivedMonoNs === 'string' && /^\d+$/.test(args.arrivedMonoNs)) args.arrivedMonoNs = BigInt(args.arrivedMonoNs);
    const result = service
      ? await service.command(args)
      : { state: 'unsupported', reason: 'no device ports are configured on this box' };
    context?.emit({ type: 'command-result', id: msg.id, result: jsonSafe(result) });
  },
});
