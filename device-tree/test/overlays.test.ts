// Every overlay compiles (dtc -@) and applies with fdtoverlay to its board's base tree, built
// with symbols from Debian's kernel source package (linux-source-6.12; build.sh fetches it once
// with apt-get download and caches it). After applying, fdtget (device-tree-compiler) finds each
// node the overlay enables or adds, and the CSI-2 endpoints point at each other by phandle.
// An overlay applied to another board's base is refused (labels missing), so the check can fail.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'orbox-dt-'));
t.teardown(() => rmSync(out, { recursive: true, force: true }));
execFileSync(join(root, 'device-tree/build.sh'), ['--bases', out], { stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });

const fdtget = (dtb: string, ...args: string[]) => execFileSync('fdtget', [dtb, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const symbol = (dtb: string, label: string) => fdtget(dtb, '/__symbols__', label);
function apply(base: string, overlay: string): string {
  const merged = join(out, `${overlay}-on-${base}.dtb`);
  execFileSync('fdtoverlay', ['-i', join(out, 'base', `${base}.dtb`), '-o', merged, join(out, `${overlay}.dtbo`)], { stdio: ['ignore', 'pipe', 'pipe'] });
  return merged;
}
function linked(t: { equal(a: string, b: string, msg: string): unknown }, dtb: string, a: string, b: string): void {
  t.equal(fdtget(dtb, '-t', 'x', symbol(dtb, a), 'remote-endpoint'), fdtget(dtb, '-t', 'x', symbol(dtb, b), 'phandle'), `${a} -> ${b}`);
  t.equal(fdtget(dtb, '-t', 'x', symbol(dtb, b), 'remote-endpoint'), fdtget(dtb, '-t', 'x', symbol(dtb, a), 'phandle'), `${b} -> ${a}`);
}

t.test('rk3588-rock-5b-orbox on rk3588-rock-5b: HDMI RX added, monitor UARTs enabled', async (t) => {
  const dtb = apply('rk3588-rock-5b', 'rk3588-rock-5b-orbox');
  t.equal(fdtget(dtb, '/hdmi-receiver@fdee0000', 'compatible'), 'rockchip,rk3588-hdmirx-ctrler snps,dw-hdmi-rx');
  t.equal(fdtget(dtb, '/hdmi-receiver@fdee0000', 'interrupt-names'), 'cec hdmi dma');
  t.equal(fdtget(dtb, '-t', 'x', '/hdmi-receiver@fdee0000', 'power-domains').split(' ')[0], fdtget(dtb, '-t', 'x', symbol(dtb, 'power'), 'phandle'), 'power domain resolves to the base tree\'s power controller');
  for (const u of ['uart3', 'uart4']) t.equal(fdtget(dtb, symbol(dtb, u), 'status'), 'okay', `${u} (${symbol(dtb, u)}) enabled`);
});

t.test('rpi-cm4-tc358743 on bcm2711-rpi-cm4-io: TC358743 on the camera I2C, Unicam CSI1 linked, UART3', async (t) => {
  const dtb = apply('bcm2711-rpi-cm4-io', 'rpi-cm4-tc358743');
  const bridge = `${symbol(dtb, 'i2c0_1')}/hdmi-bridge@f`;
  t.equal(fdtget(dtb, bridge, 'compatible'), 'toshiba,tc358743', `bridge at ${bridge}`);
  t.equal(fdtget(dtb, symbol(dtb, 'csi1'), 'status'), 'okay', 'csi1 enabled');
  linked(t, dtb, 'tc358743_out', 'csi1_in');
  t.equal(fdtget(dtb, symbol(dtb, 'uart3'), 'status'), 'okay', 'uart3 enabled');
});

t.test('imx8mp-evk-orbox on imx8mp-evk: TC358743 on I2C2 into MIPI CSI 0 and ISI, UART4', async (t) => {
  const dtb = apply('imx8mp-evk', 'imx8mp-evk-orbox');
  t.equal(fdtget(dtb, `${symbol(dtb, 'i2c2')}/hdmi-bridge@f`, 'compatible'), 'toshiba,tc358743');
  for (const n of ['mipi_csi_0', 'isi_0', 'uart4']) t.equal(fdtget(dtb, symbol(dtb, n), 'status'), 'okay', `${n} enabled`);
  linked(t, dtb, 'tc358743_out', 'mipi_csi_0_in');
  t.equal(fdtget(dtb, '-t', 'x', symbol(dtb, 'uart4'), 'pinctrl-0'), fdtget(dtb, '-t', 'x', symbol(dtb, 'pinctrl_orbox_uart4'), 'phandle'), 'uart4 uses the overlay\'s pin group');
});

t.test('an overlay on another board\'s tree is refused', async (t) => {
  t.throws(() => apply('imx8mp-evk', 'rk3588-rock-5b-orbox'), 'fdtoverlay fails: the RK3588 labels are not in the i.MX tree');
});
