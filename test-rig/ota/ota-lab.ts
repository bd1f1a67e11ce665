/**
 * `make ota-lab`: every OTA scenario end to end on real RAUC, mosquitto (mTLS) and HTTPS; one
 * line per scenario, then `ota-lab: N of N scenarios passed`. Exit 1 when any failed.
 *   node dist/test-rig/ota/ota-lab.js [--quick] [name-substring]
 */
import { SCENARIOS } from './scenarios.js';
import { startShared } from './harness.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const filter = args.find((a) => !a.startsWith('--'));
const list = SCENARIOS.filter((sc) => (!quick || sc.quick) && (!filter || sc.name.includes(filter)));
const shared = await startShared();
let passed = 0;
for (const sc of list) {
  const t0 = Date.now();
  try {
    const what = await sc.run(shared);
    passed += 1;
    console.log(`ok   ${sc.name}: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (err) {
    console.log(`FAIL ${sc.name}: ${(err as Error).message}`);
  }
}
await shared.close();
console.log('note: the boards boot through U-Boot with boot counting (RK3588, CM4, i.MX 8M Plus: RAUC bootloader=uboot, BOOT_ORDER and BOOT_x_LEFT);');
console.log('      tested here: RAUC 1.8 with the custom backend keeping the same counters, the agent, the fleet link; not U-Boot itself (ota/README.md)');
console.log(`ota-lab: ${passed} of ${list.length} scenarios passed`);
process.exit(passed === list.length ? 0 : 1);
