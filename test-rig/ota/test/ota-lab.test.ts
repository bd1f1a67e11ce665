// The quick subset of `make ota-lab` in `make test`: real RAUC (rauc service on a private
// dbus-daemon, file-backed A/B slots, the custom boot-counting backend), real mosquitto with
// mTLS, HTTPS bundle server. The guard's verdict and the busy state come from files (box.ts says
// why). Each scenario asserts what the console saw and that the box ends on a good slot.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { SCENARIOS } from '../scenarios.js';
import { startShared } from '../harness.js';

let rauc = true;
try { execFileSync('rauc', ['--version'], { stdio: 'ignore' }); } catch { rauc = false; }
if (!rauc || process.getuid?.() !== 0) {
  t.fail('the OTA lab needs rauc installed (Makefile DEB_PACKAGES) and root (RAUC mounts bundles)');
} else {
  const shared = await startShared();
  t.teardown(() => shared.close());
  for (const sc of SCENARIOS.filter((s) => s.quick)) {
    t.test(sc.name, async (t) => {
      const what = await sc.run(shared);
      t.pass(what);
    });
  }
}
