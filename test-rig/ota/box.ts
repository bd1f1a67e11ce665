/**
 * One box for the OTA lab, in its own process so it can be killed at any step: a FleetLink
 * (real mosquitto, mTLS) and the OtaAgent on the lab's RAUC. The guard's health verdict and the
 * busy state (recording / talk / uplink) come from files the lab writes (`health`: healthy |
 * unhealthy | unknown; `busy`: JSON) — a stand-in for the guard and control state, which need
 * the whole box; the agent reads them through the same deps the control worker gives it.
 *
 * Usage: node dist/test-rig/ota/box.js '<JSON {link, agent, busAddress, stateDir}>'
 * Prints `STATE <link state>`, `JOB <id> <status> <step> <percent> <message>` and `REBOOT`, then
 * exits 0 on REBOOT (the lab reboots the RAUC side and starts the box again).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetLink } from '../../edge/fleet/index.js';
import { OtaAgent, RaucClient, fleetReporter, handleOtaCommand, type HealthVerdict } from '../../edge/ota/index.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as { link: Record<string, unknown>; agent: Record<string, unknown>; busAddress: string; stateDir: string };
const out = (l: string) => process.stdout.write(`${l}\n`);
let agent: OtaAgent | undefined;
const link = new FleetLink(opts.link as never, {
  async onCommand(cmd) {
    const r = agent ? handleOtaCommand(agent, cmd.body) : undefined;
    return r ?? { state: 'unsupported', message: `${cmd.body.kind}: not in the OTA lab box` };
  },
});
link.on('state', (s) => out(`STATE ${s}`));
await link.start();
const readFile = (name: string, dflt: string) => { try { return readFileSync(join(opts.stateDir, name), 'utf8').trim(); } catch { return dflt; } };
const report = fleetReporter(link);
agent = new OtaAgent(opts.agent as never, {
  connectRauc: () => RaucClient.connect(opts.busAddress),
  health: () => readFile('health', 'healthy') as HealthVerdict,
  busy: () => ({ recording: false, talk: false, uplink: false, ...JSON.parse(readFile('busy', '{}')) }),
  reboot: async () => {
    out('REBOOT');
    await link.close(); // a reboot is an orderly shutdown: the outbox is on disk already
    process.exit(0);
  },
  report: (r) => {
    out(`JOB ${r.jobId} ${r.status} ${r.step} ${r.percent} ${r.message}`);
    report(r);
  },
});
await agent.start();
out('AGENT started');
process.once('SIGTERM', () => { void agent!.close().then(() => link.close()).then(() => process.exit(0)); });
