/**
 * The RAUC lab: a real `rauc service` on a private dbus-daemon, with two file-backed A/B rootfs
 * slots (type=raw) and RAUC's `custom` bootloader backend — a shell script keeping a state file
 * in U-Boot's boot-counting manner: `primary=A`, `A.attempts=3` (a slot is good while it has
 * attempts left; set-primary resets the new slot's attempts, Mark bad zeroes them, Mark good
 * refills them).
 *
 * "Reboot" = stop the service, let the simulated bootloader pick the slot (primary if it has
 * attempts left, else the other one that has; each boot costs one attempt, as U-Boot's
 * BOOT_x_LEFT), restart the service with `--override-boot-slot`. The bus is a private
 * `dbus-daemon` whose policy lets only root (the agent's user here) talk to RAUC: the tightened
 * policy a box ships (ota/dbus/de.pengutronix.rauc.conf).
 *
 * Lifecycle: new RaucLab(opts) -> start() -> reboot()/killService()/startService() -> stop()
 * (idempotent). Needs root (RAUC mounts bundles) and the Debian packages rauc, dbus, squashfs-tools.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync, chmodSync, appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type Bootname = 'A' | 'B';

export interface RaucLabOptions {
  dir: string;
  compatible: string;
  /** PEM file the box trusts (the signing CA). */
  keyring: string;
  /** Boot attempts a slot gets (U-Boot BOOT_x_LEFT). Default 3. */
  attempts?: number;
  slotBytes?: number;
}

export interface BootState {
  primary: Bootname;
  attempts: Record<Bootname, number>;
}

const BOOT_SCRIPT = `#!/bin/sh
# RAUC custom bootloader backend of the orbox lab (U-Boot-style boot counting in a state file).
STATE="$ORBOX_BOOT_STATE"
[ -n "$STATE" ] || { echo "ORBOX_BOOT_STATE not set" >&2; exit 1; }
echo "$*" >> "$STATE.log"
get() { sed -n "s/^$1=//p" "$STATE"; }
put() { if grep -q "^$1=" "$STATE"; then sed -i "s/^$1=.*/$1=$2/" "$STATE"; else echo "$1=$2" >> "$STATE"; fi; sync; }
case "$1" in
  get-primary) get primary ;;
  set-primary) put "$2.attempts" "$ATTEMPTS"; put primary "$2" ;;
  get-state) if [ "$(get "$2.attempts")" -gt 0 ] 2>/dev/null; then echo good; else echo bad; fi ;;
  set-state) if [ "$3" = good ]; then put "$2.attempts" "$ATTEMPTS"; else put "$2.attempts" 0; fi ;;
  *) echo "unsupported: $1" >&2; exit 1 ;;
esac
`;

export class RaucLab {
  readonly dir: string;
  readonly busAddress: string;
  readonly confPath: string;
  readonly statePath: string;
  booted: Bootname = 'A';
  boots = 0;
  private dbusProc: ChildProcess | undefined;
  private rauc: ChildProcess | undefined;
  private raucExit: Promise<void> | undefined;
  private readonly attempts: number;

  constructor(private readonly opts: RaucLabOptions) {
    if (!opts.compatible) throw new RangeError('RaucLab: compatible is required');
    if (!existsSync(opts.keyring)) throw new RangeError(`RaucLab: keyring ${opts.keyring} does not exist`);
    this.dir = resolve(opts.dir);
    this.busAddress = `unix:path=${join(this.dir, 'bus.sock')}`;
    this.confPath = join(this.dir, 'system.conf');
    this.statePath = join(this.dir, 'boot.state');
    this.attempts = opts.attempts ?? 3;
  }

  slotPath(b: Bootname): string {
    return join(this.dir, `slot-${b}.img`);
  }

  async start(): Promise<void> {
    const d = this.dir;
    mkdirSync(join(d, 'mnt'), { recursive: true });
    mkdirSync(join(d, 'data'), { recursive: true });
    for (const b of ['A', 'B'] as const) if (!existsSync(this.slotPath(b))) { writeFileSync(this.slotPath(b), ''); truncateSync(this.slotPath(b), this.opts.slotBytes ?? 4 << 20); }
    writeFileSync(join(d, 'bootloader.sh'), BOOT_SCRIPT);
    chmodSync(join(d, 'bootloader.sh'), 0o755);
    if (!existsSync(this.statePath)) writeFileSync(this.statePath, `primary=A\nA.attempts=${this.attempts}\nB.attempts=0\n`);
    writeFileSync(this.confPath, `[system]
compatible=${this.opts.compatible}
bootloader=custom
mountprefix=${join(d, 'mnt')}
data-directory=${join(d, 'data')}

[handlers]
bootloader-custom-backend=${join(d, 'bootloader.sh')}

[keyring]
path=${resolve(this.opts.keyring)}
check-purpose=codesign

[slot.rootfs.0]
device=${this.slotPath('A')}
type=raw
bootname=A

[slot.rootfs.1]
device=${this.slotPath('B')}
type=raw
bootname=B
`);
    writeFileSync(join(d, 'bus.conf'), `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>${this.busAddress}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="org.freedesktop.DBus"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <deny own="de.pengutronix.rauc"/>
    <deny send_destination="de.pengutronix.rauc"/>
  </policy>
  <!-- RAUC's own policy, tightened to the agent's user (root here; orbox on a box). -->
  <policy user="root">
    <allow own="de.pengutronix.rauc"/>
    <allow send_destination="de.pengutronix.rauc"/>
  </policy>
</busconfig>
`);
    this.dbusProc = spawn('dbus-daemon', [`--config-file=${join(d, 'bus.conf')}`, '--nofork', '--print-address'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.dbusProc.stderr!.on('data', (b: Buffer) => appendFileSync(join(d, 'dbus.log'), b));
    await new Promise<void>((res, rej) => {
      this.dbusProc!.stdout!.once('data', () => res());
      this.dbusProc!.once('exit', (c) => rej(new Error(`dbus-daemon exited with ${c} before listening`)));
    });
    this.booted = this.bootState().primary;
    try {
      await this.startService();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  bootState(): BootState {
    const kv = Object.fromEntries(readFileSync(this.statePath, 'utf8').split('\n').filter(Boolean).map((l) => l.split('=') as [string, string]));
    return { primary: kv.primary as Bootname, attempts: { A: Number(kv['A.attempts'] ?? 0), B: Number(kv['B.attempts'] ?? 0) } };
  }

  private writeBootState(s: BootState): void {
    writeFileSync(this.statePath, `primary=${s.primary}\nA.attempts=${s.attempts.A}\nB.attempts=${s.attempts.B}\n`);
  }

  /** Env for anything that talks to this lab's RAUC (the agent, `rauc status`). */
  env(): NodeJS.ProcessEnv {
    return { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: this.busAddress, ORBOX_BOOT_STATE: this.statePath, ATTEMPTS: String(this.attempts) };
  }

  /** A RAUC killed mid-install leaves its bundle mounted; a reboot would have cleared it. */
  private unmountLeftovers(): void {
    const mine = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(join(this.dir, 'mnt') + '/'));
    for (const m of mine.reverse()) execFileSync('umount', ['-l', m], { stdio: 'ignore' });
  }

  async startService(): Promise<void> {
    if (this.rauc) return;
    this.unmountLeftovers();
    const log = join(this.dir, 'rauc.log');
    appendFileSync(log, `--- boot ${this.boots} from ${this.booted}\n`);
    const p = spawn('rauc', ['service', `--conf=${this.confPath}`, `--override-boot-slot=${this.booted}`], { env: this.env(), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    p.stderr!.on('data', (b: Buffer) => appendFileSync(log, b));
    this.rauc = p;
    this.raucExit = new Promise<void>((r) => p.once('exit', () => { if (this.rauc === p) this.rauc = undefined; r(); }));
    // Ready once its name answers on the bus.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        execFileSync('rauc', ['status', `--conf=${this.confPath}`], { env: this.env(), stdio: 'ignore' });
        return;
      } catch {
        if (!this.rauc) throw new Error(`rauc service exited at start: see ${log}`);
        if (Date.now() > deadline) throw new Error(`rauc service not on the bus after 10 s: see ${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** SIGKILL the service (a power cut or crash as RAUC sees it). */
  async killService(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.rauc;
    if (!p) return;
    // The whole group: a power cut also stops a bootloader-backend script RAUC is running.
    try { process.kill(-p.pid!, signal); } catch { p.kill(signal); }
    await this.raucExit;
    this.rauc = undefined;
  }

  /**
   * Reboots: the bootloader picks the primary if it has attempts left, else the other slot that
   * has, and spends one attempt. Throws if neither slot can boot (a bricked box: what every
   * scenario must never reach).
   */
  async reboot(): Promise<Bootname> {
    await this.killService('SIGTERM');
    const s = this.bootState();
    const other: Bootname = s.primary === 'A' ? 'B' : 'A';
    const pick = s.attempts[s.primary] > 0 ? s.primary : s.attempts[other] > 0 ? other : undefined;
    if (!pick) throw new Error(`no bootable slot: ${JSON.stringify(s)}`);
    s.attempts[pick] -= 1;
    this.writeBootState(s);
    this.booted = pick;
    this.boots += 1;
    await this.startService();
    return pick;
  }

  /** Reads /etc/orbox-version from a slot's squashfs (what the slot would boot). */
  slotVersion(b: Bootname): string | undefined {
    try {
      return execFileSync('unsquashfs', ['-cat', this.slotPath(b), 'etc/orbox-version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    await this.killService('SIGTERM');
    this.unmountLeftovers();
    this.dbusProc?.kill('SIGTERM');
    this.dbusProc = undefined;
  }
}
