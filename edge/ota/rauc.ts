/**
 * RAUC over D-Bus (`de.pengutronix.rauc.Installer` on object `/`), with dbus-next (pure JS).
 *
 * Owns one bus connection. `install()` calls InstallBundle (which returns at once), relays each
 * `Progress` PropertiesChanged (percent, message, depth) and settles on `Completed(code)`: 0 is
 * success, anything else rejects with RaucInstallError carrying RAUC's own `LastError` ("Compatible
 * mismatch: ...", "signature verification failed: ..."). RAUC can die without Completed: the
 * name's owner vanishing (NameOwnerChanged) or `timeoutMs` without progress rejects with
 * RaucGoneError. A second install while one runs is refused by RAUC; the agent queues jobs so
 * this client never tries.
 *
 * Lifecycle: `RaucClient.connect(address)`; `close()` disconnects, idempotent, and rejects a
 * pending install with RaucGoneError. Runs on the control worker.
 */
import dbus from 'dbus-next';

const NAME = 'de.pengutronix.rauc';
const IFACE = 'de.pengutronix.rauc.Installer';

export interface RaucProgress {
  percent: number;
  message: string;
  depth: number;
}

/** One slot as GetSlotStatus reports it (values flattened to strings). */
export interface RaucSlot {
  name: string;
  bootname?: string;
  state?: string;
  bootStatus?: string;
  bundleVersion?: string;
  installedTimestamp?: string;
  sha256?: string;
  raw: Record<string, string>;
}

export class RaucInstallError extends Error {
  override readonly name = 'RaucInstallError';
  constructor(readonly code: number, readonly lastError: string) {
    super(`RAUC refused the bundle (code ${code}): ${lastError || 'no reason given'}`);
  }
}

export class RaucGoneError extends Error {
  override readonly name = 'RaucGoneError';
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Iface = any;

function plain(v: unknown): unknown {
  if (v instanceof dbus.Variant) return plain(v.value);
  if (typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !(v instanceof Buffer)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

export class RaucClient {
  private closed = false;
  private pending: ((err: Error) => void) | undefined;

  private constructor(
    private readonly bus: dbus.MessageBus,
    private readonly installer: Iface,
    private readonly props: Iface,
    private readonly dbusIface: Iface,
  ) {}

  /** Connects to the bus at `address` (unix:path=...) and RAUC's object on it. */
  static async connect(address: string): Promise<RaucClient> {
    const bus = dbus.sessionBus({ busAddress: address });
    try {
      const obj = await bus.getProxyObject(NAME, '/');
      const dobj = await bus.getProxyObject('org.freedesktop.DBus', '/org/freedesktop/DBus');
      return new RaucClient(bus, obj.getInterface(IFACE), obj.getInterface('org.freedesktop.DBus.Properties'), dobj.getInterface('org.freedesktop.DBus'));
    } catch (err) {
      bus.disconnect();
      throw new RaucGoneError(`RAUC is not on the bus at ${address}: ${(err as Error).message}`);
    }
  }

  async slots(): Promise<RaucSlot[]> {
    const list = plain(await this.installer.GetSlotStatus()) as [string, Record<string, string>][];
    return list.map(([name, raw]) => ({
      name, raw, bootname: raw.bootname, state: raw.state, bootStatus: raw['boot-status'], bundleVersion: raw['bundle.version'],
      installedTimestamp: raw['installed.timestamp'], sha256: raw.sha256,
    }));
  }

  /**
   * The bundle's compatible and version (its signature checked). RAUC 1.8 answers a failure with
   * a bare "rauc info error": the agent then lets InstallBundle say why (it refuses before writing).
   */
  async info(path: string): Promise<{ compatible: string; version: string }> {
    const [compatible, version] = plain(await this.installer.Info(path)) as [string, string];
    return { compatible, version };
  }

  /** The slot the bootloader will boot next (e.g. rootfs.1). */
  async primary(): Promise<string> {
    return String(await this.installer.GetPrimary());
  }

  async booted(): Promise<string> {
    return String(plain(await this.props.Get(IFACE, 'BootSlot')));
  }

  async operation(): Promise<string> {
    return String(plain(await this.props.Get(IFACE, 'Operation')));
  }

  /** Mark(state, slot): state good|bad|active, slot booted|other|<name>. Returns RAUC's message. */
  async mark(state: 'good' | 'bad' | 'active', slot: string): Promise<string> {
    const r = plain(await this.installer.Mark(state, slot)) as string[];
    return r.join(' ');
  }

  /**
   * Installs `path`; resolves on Completed(0). `timeoutMs`: longest silence (no progress) before
   * RAUC is taken for dead.
   */
  install(path: string, onProgress: (p: RaucProgress) => void, timeoutMs = 120_000): Promise<void> {
    if (this.closed) return Promise.reject(new RaucGoneError('RAUC client closed'));
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => done(new RaucGoneError(`RAUC said nothing for ${timeoutMs} ms during the install`)), timeoutMs);
      };
      const onProps = (iface: string, changed: Record<string, unknown>) => {
        if (iface !== IFACE || !changed.Progress) return;
        arm();
        const [percent, message, depth] = plain(changed.Progress) as [number, string, number];
        onProgress({ percent: Number(percent), message: String(message), depth: Number(depth) });
      };
      const onCompleted = (code: number) => {
        if (code === 0) return done();
        this.props.Get(IFACE, 'LastError').then((v: unknown) => done(new RaucInstallError(code, String(plain(v)))), () => done(new RaucInstallError(code, '')));
      };
      const onOwner = (name: string, _old: string, now: string) => {
        if (name === NAME && !now) done(new RaucGoneError('RAUC left the bus during the install (killed or crashed)'));
      };
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.props.off('PropertiesChanged', onProps);
        this.installer.off('Completed', onCompleted);
        this.dbusIface.off('NameOwnerChanged', onOwner);
        this.pending = undefined;
        if (err) reject(err);
        else resolve();
      };
      this.pending = done;
      this.props.on('PropertiesChanged', onProps);
      this.installer.on('Completed', onCompleted);
      this.dbusIface.on('NameOwnerChanged', onOwner);
      arm();
      this.installer.InstallBundle(path, {}).catch((err: Error) => done(new RaucGoneError(`InstallBundle failed: ${err.message}`)));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending?.(new RaucGoneError('RAUC client closed during the install'));
    this.bus.disconnect();
  }
}
