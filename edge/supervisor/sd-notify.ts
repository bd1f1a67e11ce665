/**
 * systemd notification (sd_notify): READY=1 once every worker is up, WATCHDOG=1 while the
 * guard says the box is healthy, STOPPING=1 on the way down. Node cannot send on a Unix
 * datagram socket, so this goes through `systemd-notify --pid=<supervisor>` (the unit sets
 * NotifyAccess=all so systemd accepts it). Without NOTIFY_SOCKET (not under systemd) every
 * call is a no-op.
 */
import { spawn } from 'node:child_process';

export interface Notifier {
  readonly enabled: boolean;
  /** Watchdog period systemd expects pings within, in ms, or 0 when there is no watchdog. */
  readonly watchdogMs: number;
  notify(state: string): void;
}

export function systemdNotifier(env = process.env): Notifier {
  const enabled = !!env.NOTIFY_SOCKET;
  const usec = Number(env.WATCHDOG_USEC ?? 0);
  const pidOk = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
  return {
    enabled,
    watchdogMs: enabled && pidOk && usec > 0 ? Math.floor(usec / 1000) : 0,
    notify(state: string) {
      if (!enabled) return;
      const p = spawn('systemd-notify', [`--pid=${process.pid}`, state], { stdio: 'ignore', env });
      p.on('error', () => { /* not a systemd system: nothing to tell */ });
      p.unref();
    },
  };
}
