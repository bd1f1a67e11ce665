/**
 * A box-side FleetLink in its own process, so a test can really kill a box (SIGKILL) and see
 * the broker deliver its last will. Also a minimal stand-in box for manual demos.
 *
 * Usage: node dist/test-rig/fleet/box-child.js '<FleetLinkConfigInput as JSON>'
 * Prints one line per state change ("STATE online") and per command ("COMMAND <id> <kind>");
 * every command is answered FINISHED. Exits on SIGTERM after close().
 */
import { FleetLink } from '../../edge/fleet/index.js';

const config = JSON.parse(process.argv[2] ?? '{}');
const link = new FleetLink(config, {
  async onCommand(cmd) {
    process.stdout.write(`COMMAND ${cmd.commandId} ${cmd.body.kind}\n`);
    return { state: 'finished', message: 'ok (box-child)' };
  },
}, { metrics: [{ name: 'recording/state', type: 'string' }] });
link.on('state', (s) => process.stdout.write(`STATE ${s}\n`));
link.setMetrics({ 'recording/state': 'idle' });
await link.start();
process.once('SIGTERM', () => {
  void link.close().then(() => process.exit(0));
});
