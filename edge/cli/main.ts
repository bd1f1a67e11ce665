/**
 * The `orbox` command. Subcommands:
 *   run [--config FILE]           start the box in the foreground (built-in demo without --config)
 *   status [--json]               ask the running box for its workers and rings
 *   config check FILE | demo      validate a configuration / print the demo one
 *   debug fault WORKER MODE       make a worker exit, throw or hang (debug.faultInjection only)
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Command, CommanderError } from 'commander';
import { stringify } from 'yaml';
import { ConfigError, demoConfig, loadConfig, type BoxConfig } from '../config/index.js';
import { callLocalApi } from '../control/local-api.js';
import { formatStatus, type BoxStatus } from '../control/status.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { WORKER_NAMES } from '../lib/health.js';
import { registerDevicesCommands } from '../devices/index.js';
import { registerFleetCommands } from '../fleet/index.js';

/**
 * The demo stands in for a hospital: test-pattern sources (in the configuration) and a
 * simulated patient monitor speaking IntelliVue on a pseudo-terminal (from test-rig).
 */
async function startDemo(): Promise<{ config: BoxConfig; close(): Promise<void> }> {
  const child = spawn(process.execPath, [new URL('../../test-rig/devices/demo-monitor.js', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const { path } = JSON.parse(line) as { path: string };
  return {
    config: demoConfig(process.env.ORBOX_DATA_DIR ?? 'var', { monitorPath: path }),
    close: async () => { child.kill('SIGTERM'); await once(child, 'exit'); },
  };
}
import { videoBanner } from '../video/index.js';

function configFrom(file: string | undefined): BoxConfig {
  return file ? loadConfig(file) : demoConfig(process.env.ORBOX_DATA_DIR ?? 'var');
}

function socketFrom(opts: { socket?: string; config?: string }): string {
  return opts.socket ?? configFrom(opts.config).api.socket;
}

export function buildProgram(): Command {
  const program = new Command('orbox')
    .description('orbox: the operating-room box — records and streams every source of the room on one clock')
    .showHelpAfterError()
    .exitOverride();

  program.command('run')
    .description('start the box in the foreground (the built-in demo configuration when no --config is given)')
    .option('-c, --config <file>', 'box configuration (YAML or JSON)')
    .action(async (opts: { config?: string }) => {
      const demo = opts.config ? undefined : await startDemo();
      const config = demo?.config ?? configFrom(opts.config);
      const sup = new Supervisor(config);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`\n${signal}: stopping orbox...\n`);
        await sup.stop();
        await demo?.close();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      await sup.start();
      const channels = config.channels.map((c) => c.name).join(', ') || 'none';
      process.stdout.write(
        `orbox ${config.box.id} running: ${WORKER_NAMES.length} workers, ${sup.rings.size} rings, channels: ${channels}\n` +
        videoBanner(config) +
        `  status:   npx orbox status${opts.config ? ` --config ${opts.config}` : ''}\n` +
        `  stop:     Ctrl-C\n`,
      );
    });

  program.command('status')
    .description('show every worker (state, restarts, heartbeat) and every ring (fill, records, overruns) of the running box')
    .option('--json', 'machine-readable output')
    .option('-c, --config <file>', 'configuration of the box to ask (for its socket path)')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (opts: { json?: boolean; socket?: string; config?: string }) => {
      const s = (await callLocalApi(socketFrom(opts), 'status')) as BoxStatus;
      process.stdout.write((opts.json ? JSON.stringify(s, null, 2) : formatStatus(s)) + '\n');
    });

  const config = program.command('config').description('box configuration files');
  config.command('check <file>')
    .description('validate a configuration file; every problem is listed with its key path')
    .action((file: string) => {
      const c = loadConfig(file);
      process.stdout.write(`${file}: valid (box ${c.box.id}, ${c.channels.length} channels, ${c.audio.inputs.length} audio inputs, ${c.devices.ports.length} device ports)\n`);
    });
  config.command('demo')
    .description('print the built-in demo configuration as YAML, a starting point for a real box')
    .action(() => { process.stdout.write(stringify(demoConfig())); });

  const debug = program.command('debug').description('bench tools for biomedical engineers');
  debug.command('fault <worker> <mode>')
    .description('make a worker exit, throw or hang, to watch the guard restart it (needs debug.faultInjection: true)')
    .option('-c, --config <file>', 'configuration of the box')
    .option('-s, --socket <path>', 'local API socket of the box')
    .action(async (worker: string, mode: string, opts: { socket?: string; config?: string }) => {
      await callLocalApi(socketFrom(opts), 'fault', { worker, mode });
      process.stdout.write(`fault "${mode}" sent to ${worker}\n`);
    });

  registerDevicesCommands(program);
  registerFleetCommands(program);
  return program;
}


export async function main(argv = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ConfigError) { process.stderr.write(`orbox: ${err.message}\n`); return 2; }
    process.stderr.write(`orbox: ${(err as Error).message}\n`);
    return 1;
  }
}

const code = await main();
if (code !== 0) process.exit(code);
