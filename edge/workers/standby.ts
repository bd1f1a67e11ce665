/**
 * The standby thread: a worker thread booted ahead of need, with the runtime and its
 * libraries already loaded, that becomes whichever worker the supervisor must restart.
 * Booting a thread and loading its modules is most of a restart's time (100-300 ms on the
 * 2-core test machine, more on a loaded board); with a standby a restart costs only the
 * worker's own module and start(). The supervisor boots a new standby after each use.
 */
import { parentPort } from 'node:worker_threads';
import { setBoot, type WorkerBoot } from '../runtime/index.js';
// What every worker imports (the video path is on every box), loaded ahead of need.
// Heavy libraries that only some boxes use
// (the fleet link, the device drivers: ~250 ms each here) are not preloaded: a standby that
// loads them takes the CPU a restart needs on a 2-core board. Workers import them lazily,
// only when configured.
import '../lib/log.js';
import '../lib/ring/index.js';
import '../control/local-api.js';
import '../control/status.js';
import '../control/commands.js';
import '../control/telemetry.js';
import '../control/recordings.js';
import '../control/stills.js';
import '../video/index.js';
// net-send's own modules (~70 ms here, the uplink's most of it): a net-send restart is a stall
// every RTSP viewer sees, so it must not wait for them.
import '../net/rtsp/index.js';
import '../net/au-fanout.js';
import '../net/stream-sender.js';
import '../net/uplink/index.js';

parentPort!.once('message', (m: { type: 'become'; boot: WorkerBoot }) => {
  setBoot(m.boot);
  void import(new URL(`./${m.boot.name}.js`, import.meta.url).href);
});
parentPort!.postMessage({ type: 'standby-ready' });
// Hold the loop open until the supervisor says what to become.
const hold = setInterval(() => {}, 1 << 30);
parentPort!.once('message', () => clearInterval(hold));
