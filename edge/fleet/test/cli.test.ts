// `orbox fleet list|watch|send` registered on a commander program, run against a real broker
// and an in-process box, output captured.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { boxLinkConfig, consoleEnv, startLocalBroker } from '../../../test-rig/fleet/index.js';
import { FleetLink, registerFleetCommands } from '../index.js';

const broker = await startLocalBroker({ boxIds: ['box-c1', 'box-c2'] });
const tmp = mkdtempSync(join(tmpdir(), 'orbox-cli-'));
t.teardown(async () => {
  await broker.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ lines: string[]; exit: number }> {
  const lines: string[] = [];
  let exit = 0;
  const program = new Command('orbox').exitOverride();
  registerFleetCommands(program, { out: (l) => lines.push(l), env: consoleEnv(broker), setExitCode: (c) => { exit = c; } });
  await program.parseAsync(['node', 'orbox', 'fleet', ...args]);
  return { lines, exit };
}

const executed: string[] = [];
const link = new FleetLink(boxLinkConfig(broker, 'box-c1', join(tmp, 'c1')), {
  async onCommand(cmd, ctx) {
    executed.push(cmd.body.kind);
    if (cmd.body.kind === 'deviceCommand') {
      ctx.progress('waiting', 'device busy');
      ctx.progress('started');
      return cmd.body.command === 'fail' ? { state: 'failed', message: 'device said no' } : { state: 'finished' };
    }
    return { state: 'finished', message: 'ok' };
  },
}, { metrics: [{ name: 'channel/endo/fps', type: 'double', unit: 'fps' }] });
link.setMetrics({ 'channel/endo/fps': 30 });

t.test('fleet list: online box from its birth, a dead box (retained birth, no answer) offline', async (t) => {
  // box-c2 comes and goes, leaving a retained birth behind; its death was not seen by the CLI.
  const gone = new FleetLink(boxLinkConfig(broker, 'box-c2', join(tmp, 'c2')), { onCommand: async () => ({ state: 'finished' }) });
  await gone.start();
  await gone.waitOnline(10_000);
  await gone.close();
  await link.start();
  await link.waitOnline(10_000);
  const { lines, exit } = await run(['list', '--timeout', '1500']);
  t.equal(exit, 0);
  t.match(lines[0], /^BOX\tSTATE/);
  t.match(lines.find((l) => l.startsWith('box-c1\t')), /^box-c1\tonline\t/);
  t.match(lines.find((l) => l.startsWith('box-c2\t')), /^box-c2\toffline\t/);
  const json = await run(['list', '--json', '--timeout', '1000']);
  const c1 = json.lines.map((l) => JSON.parse(l)).find((b) => b.boxId === 'box-c1');
  t.equal(c1.state, 'online');
  t.equal(c1.metrics, 4);
});

t.test('fleet send --wait: round trip with progress; a failed command exits 1; bad usage exits 2', async (t) => {
  const ok = await run(['send', 'box-c1', 'recording-start', 'case=c-42', '--wait', '--timeout', '10000']);
  t.equal(ok.exit, 0);
  t.match(ok.lines.at(-1), /^box-c1 \S+ finished ok$/);
  const dev = await run(['send', 'box-c1', 'device-command', 'device=vent', 'command=fail', '--wait', '--id', 'dev-1']);
  t.same(dev.lines, ['box-c1 dev-1 waiting device busy', 'box-c1 dev-1 started', 'box-c1 dev-1 failed device said no']);
  t.equal(dev.exit, 1);
  const again = await run(['send', 'box-c1', 'device-command', 'device=vent', 'command=fail', '--wait', '--id', 'dev-1', '--json']);
  t.equal(JSON.parse(again.lines.at(-1)!).duplicate, true, 'same id: answer replayed, not re-run');
  t.same(executed.filter((k) => k === 'deviceCommand'), ['deviceCommand']);
  const bad = await run(['send', 'box-c1', 'restart-worker']);
  t.equal(bad.exit, 2);
  t.match(bad.lines[0], /worker=/);
});

t.test('fleet watch <box>: telemetry decoded', async (t) => {
  const watching = run(['watch', 'box-c1', '--json', '--count', '3', '--duration', '15000']);
  // The retained birth arrives first; then telemetry as the box publishes it.
  await new Promise((r) => setTimeout(r, 300));
  let fps = 20;
  // Publish a changed value every 20 ms until watch has printed its three messages.
  const feeder = setInterval(() => { link.setMetrics({ 'channel/endo/fps': fps-- }); link.publishTelemetry(); }, 20);
  t.teardown(() => clearInterval(feeder));
  const { lines } = await watching;
  const msgs = lines.map((l) => JSON.parse(l));
  t.equal(msgs[0].kind, 'birth(retained)');
  const tel = msgs.filter((m) => m.kind === 'telemetry');
  t.ok(tel.length >= 1);
  t.type(tel[0].values['channel/endo/fps'], 'number');
  t.ok(tel.every((m) => m.box === 'box-c1'));
});

t.test('no broker credentials: a clear error, exit 2', async (t) => {
  const lines: string[] = [];
  let exit = 0;
  const program = new Command('orbox').exitOverride();
  registerFleetCommands(program, { out: (l) => lines.push(l), env: {}, setExitCode: (c) => { exit = c; } });
  await program.parseAsync(['node', 'orbox', 'fleet', 'list']);
  t.equal(exit, 2);
  t.match(lines[0], /url/);
  await link.close();
});
