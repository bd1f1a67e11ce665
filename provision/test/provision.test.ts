// Provisioning an image file end to end, then checked with tools the project did not write:
// sfdisk -d (partitions), debugfs -R cat / e2cp (config, certificate from the data partition),
// openssl verify (the certificate against the device CA and its CRL), the rootfs bytes read at
// the offsets sfdisk gives, `orbox config check` of the written configuration, and the real
// mosquitto of test-rig/fleet accepting the certificate as the box (ACL orbox/v1/%u/#).
import t from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions } from 'mqtt';
import { startLocalBroker } from '../../test-rig/fleet/index.js';
import { CaError, DeviceCa } from '../ca.js';
import { enrolAtFirstBoot } from '../enrol.js';
import { TargetRefused, checkTarget } from '../flash.js';
import { buildImage } from '../image.js';
import { makeKeyAndCsr } from '../identity.js';

const exec = promisify(execFile);
const cli = new URL('../../../bin/orbox.js', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'orbox-provision-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

// A small box: a boot folder, a root filesystem tree with 1 MiB of random bytes in it.
const boot = join(tmp, 'boot');
const rootfs = join(tmp, 'rootfs');
mkdirSync(boot);
mkdirSync(join(rootfs, 'etc'), { recursive: true });
mkdirSync(join(rootfs, 'opt/orbox'), { recursive: true });
writeFileSync(join(boot, 'Image'), randomBytes(256 * 1024));
writeFileSync(join(rootfs, 'etc/os-release'), 'ID=orbox\nVERSION_ID=test\n');
writeFileSync(join(rootfs, 'opt/orbox/blob'), randomBytes(1024 * 1024));
const image = join(tmp, 'box.img');
const built = await buildImage({ out: image, bootDir: boot, rootfsDir: rootfs, sizesMiB: { boot: 40, 'rootfs-a': 24, 'rootfs-b': 24, data: 16 } });

const template = join(tmp, 'site.yaml');
writeFileSync(template, `box:\n  id: to-be-filled\n  room: OR-3\n  dataDir: /tmp/ignored\nfleet:\n  url: mqtts://broker.hospital.example:8883\n  boxId: x\n  ca: x\n  cert: x\n  key: x\n  queueDir: x\n`);

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'buffer', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });

/** Partitions as `sfdisk -d` prints them: name -> byte offset and size. */
function sfdiskParts(disk: string): Map<string, { offset: number; size: number; type: string }> {
  const out = new Map<string, { offset: number; size: number; type: string }>();
  for (const l of sh('sfdisk', ['-d', disk]).toString().split('\n')) {
    const m = /start=\s*(\d+), size=\s*(\d+), type=([0-9A-F-]+),.*name="([^"]+)"/.exec(l);
    if (m) out.set(m[4]!, { offset: Number(m[1]) * 512, size: Number(m[2]) * 512, type: m[3]! });
  }
  return out;
}

function bytesAt(file: string, offset: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  const fd = openSync(file, 'r');
  try { readSync(fd, b, 0, size, offset); } finally { closeSync(fd); }
  return b;
}

const dataSpec = (disk: string) => `${disk}?offset=${sfdiskParts(disk).get('data')!.offset}`;
const debugfsCat = (disk: string, path: string) => sh('debugfs', ['-R', `cat ${path}`, dataSpec(disk)]);
const provision = (target: string, ca: string, ...extra: string[]) =>
  exec(process.execPath, [cli, 'provision', image, target, '--serial', 'SN-0042', '--ca', ca, '--config', template, ...extra]);

t.test('the image: four named GPT partitions, a bmap mapping only what holds data', async (t) => {
  const parts = sfdiskParts(image);
  t.same([...parts.keys()], ['boot', 'rootfs-a', 'rootfs-b', 'data'], 'sfdisk -d lists boot, rootfs-a, rootfs-b, data in order');
  t.equal(parts.get('boot')!.type, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'boot is an EFI system partition');
  t.equal(sh('mdir', ['-b', '-i', `${image}@@${parts.get('boot')!.offset}`, '::/']).toString().trim(), '::/Image', 'mtools reads the boot file in the vfat');
  t.ok(built.mappedBytes < built.sizeBytes / 4, `bmap maps ${(built.mappedBytes / 1048576).toFixed(1)} of ${(built.sizeBytes / 1048576).toFixed(0)} MiB`);
  t.ok(readFileSync(`${image}.bmap`, 'utf8').includes('<ChecksumType> sha256 </ChecksumType>'), 'the bmap carries sha256 checksums');
});

t.test('provisioning an image file: partitions, config, key and certificate checked by other tools', async (t) => {
  const caDir = join(tmp, 'ca1');
  await DeviceCa.create(caDir, 'test device CA');
  const target = join(tmp, 'target1.img');
  const { stdout, stderr } = await provision(target, caDir);
  t.match(stdout, /provisioned SN-0042 on /, 'summary names the box');
  t.match(stderr, /flashing 100%/, 'progress reached 100%');
  t.match(stdout, /verified +certificate: OK/, 'summary says the certificate verified');

  const parts = sfdiskParts(target);
  t.same([...parts.keys()], ['boot', 'rootfs-a', 'rootfs-b', 'data'], 'sfdisk -d on the target');
  const img = sfdiskParts(image);
  for (const n of ['boot', 'rootfs-a', 'rootfs-b']) {
    t.ok(bytesAt(target, parts.get(n)!.offset, parts.get(n)!.size).equals(bytesAt(image, img.get(n)!.offset, img.get(n)!.size)), `${n} bytes equal to the image's`);
  }
  t.ok(sh('debugfs', ['-R', 'cat /opt/orbox/blob', `${target}?offset=${parts.get('rootfs-a')!.offset}`]).equals(readFileSync(join(rootfs, 'opt/orbox/blob'))), 'a rootfs file reads back whole through debugfs');

  const config = debugfsCat(target, '/orbox/config.yaml').toString();
  t.match(config, /id: SN-0042/, 'config names the box by its serial');
  const configFile = join(tmp, 'written.yaml');
  writeFileSync(configFile, config);
  const check = await exec(process.execPath, [cli, 'config', 'check', configFile]);
  t.match(check.stdout, /valid \(box SN-0042/, 'orbox config check accepts the written configuration');

  // e2cp (e2tools) reads the certificate; openssl verifies it against the device CA with the CRL.
  const cert = join(tmp, 'box.crt');
  sh('e2cp', [`${dataSpec(target)}:/orbox/identity/box.crt`, cert]);
  t.match(sh('openssl', ['verify', '-CAfile', join(caDir, 'ca.crt'), '-CRLfile', join(caDir, 'crl.pem'), '-crl_check', cert]).toString(), /: OK/, 'openssl verify: OK');
  t.match(sh('openssl', ['x509', '-in', cert, '-noout', '-subject']).toString(), /CN ?= ?SN-0042/, 'CN is the box id');
  const key = debugfsCat(target, '/orbox/identity/box.key').toString();
  t.match(execFileSync('openssl', ['pkey', '-noout', '-text'], { input: key }).toString(), /prime256v1|P-256/, 'the key is EC P-256');
  const stat = sh('debugfs', ['-R', 'stat /orbox/identity/box.key', dataSpec(target)]).toString();
  t.match(stat, /Mode:\s+0600/, 'key mode 0600');
  t.match(stat, /User:\s+999\s+Group:\s+999/, "key owned by the box's user");
});

t.test('a second provisioning keeps the identity; --replace-identity makes a new one and revokes the old', async (t) => {
  const caDir = join(tmp, 'ca2');
  await DeviceCa.create(caDir);
  const target = join(tmp, 'target2.img');
  await provision(target, caDir);
  const cert1 = debugfsCat(target, '/orbox/identity/box.crt');
  const key1 = debugfsCat(target, '/orbox/identity/box.key');
  const again = await provision(target, caDir);
  t.match(again.stdout, /identity +kept/, 'summary: identity kept');
  t.ok(debugfsCat(target, '/orbox/identity/box.crt').equals(cert1), 'same certificate after the second flash');
  t.ok(debugfsCat(target, '/orbox/identity/box.key').equals(key1), 'same key');

  const replaced = await provision(target, caDir, '--replace-identity');
  t.match(replaced.stdout, /revoked +1000/, 'summary: the old certificate revoked');
  const cert2 = debugfsCat(target, '/orbox/identity/box.crt');
  t.not(cert2.toString(), cert1.toString(), 'a new certificate');
  t.not(debugfsCat(target, '/orbox/identity/box.key').toString(), key1.toString(), 'a new key');
  const old = join(tmp, 'old.crt');
  writeFileSync(old, cert1);
  const verdict = await exec('openssl', ['verify', '-CAfile', join(caDir, 'ca.crt'), '-CRLfile', join(caDir, 'crl.pem'), '-crl_check', old]).then(() => 'OK', (e: { stdout: string; stderr: string }) => e.stdout + e.stderr);
  t.match(verdict, /certificate revoked/, 'openssl verify refuses the old certificate: revoked');
  t.match(sh('openssl', ['crl', '-in', join(caDir, 'crl.pem'), '-noout', '-text']).toString(), /Serial Number: 1000[\s\S]*Superseded/, 'the CRL lists 1000 as superseded');
});

t.test('a mounted target is refused, and so is the system disk', async (t) => {
  // Stand-in /proc/mounts (always): a target file listed as a mount source is refused.
  const target = join(tmp, 'listed.img');
  writeFileSync(target, '');
  const mounts = join(tmp, 'mounts');
  writeFileSync(mounts, `${target} /mnt/somewhere ext4 rw 0 0\n`);
  await t.rejects(checkTarget(target, image, { mountsFile: mounts }), TargetRefused, 'a path /proc/mounts lists is refused');

  // The machine's real root disk: checkTarget only reads, it never writes.
  const root = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[1] === '/')?.[0] ?? '';
  if (root.startsWith('/dev/') && existsSync(root)) {
    const disk = sh('lsblk', ['-n', '-p', '-s', '-o', 'PATH,TYPE', root]).toString().split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[1] === 'disk')?.[0] ?? root;
    await t.rejects(checkTarget(disk, image), /system disk|in use|mounted/, `the system disk ${disk} is refused`);
  } else t.comment(`/ is on ${root || 'nothing'}, not a block device`);

  // A real mount, where the machine allows one (root, loop devices): the data partition of a
  // provisioned image through a loop device at its offset (this container has no udev to make
  // partition nodes such as loop0p4, so the partition gets a loop device of its own).
  const img1 = join(tmp, 'target1.img');
  const data = sfdiskParts(img1).get('data')!;
  let loop = '';
  try { loop = sh('losetup', ['-f', '--show', '-o', String(data.offset), '--sizelimit', String(data.size), img1]).toString().trim(); } catch { /* no loop devices */ }
  if (!loop) { t.comment('no loop device here: the mounted-target refusal was shown with a stand-in /proc/mounts only'); return; }
  const mnt = join(tmp, 'mnt');
  mkdirSync(mnt);
  let mounted = false;
  try { sh('mount', ['-o', 'ro', loop, mnt]); mounted = true; } catch { /* mount not allowed */ }
  t.teardown(() => { if (mounted) sh('umount', [mnt]); sh('losetup', ['-d', loop]); });
  const fail = (e: { code: number; stdout: string }) => e;
  const viaFile = await provision(img1, join(tmp, 'ca1')).then(() => ({ code: 0, stdout: '' }), fail);
  t.match(viaFile.stdout, new RegExp(`refusing to flash .*target1.img: it backs loop device ${loop}`), 'the image file behind a loop device is refused');
  if (!mounted) { t.comment('mount refused here: only the loop-backed refusal shown'); return; }
  const r = await provision(loop, join(tmp, 'ca1')).then(() => ({ code: 0, stdout: '' }), fail);
  t.equal(r.code, 2, 'exit code 2');
  t.match(r.stdout, new RegExp(`refusing to flash ${loop}: it is mounted \\(/proc/mounts: ${loop} on ${mnt}`), 'the mounted block device is refused, naming the mount');
  t.match(sh('debugfs', ['-R', 'cat /orbox/identity/serial', loop]).toString(), /SN-0042/, 'and it was left as it was');
});

t.test('a block device (a loop device, where the machine has them) is flashed and provisioned', async (t) => {
  const disk = join(tmp, 'blank-disk');
  writeFileSync(disk, '');
  execFileSync('truncate', ['-s', '128M', disk]);
  let loop = '';
  try { loop = sh('losetup', ['-f', '--show', disk]).toString().trim(); } catch { /* none */ }
  if (!loop) { t.comment('no loop device here: block-device flashing not shown'); return; }
  t.teardown(() => sh('losetup', ['-d', loop]));
  const caDir = join(tmp, 'ca-block');
  await DeviceCa.create(caDir);
  const r = await provision(loop, caDir);
  t.match(r.stdout, new RegExp(`provisioned SN-0042 on ${loop}`));
  t.same([...sfdiskParts(loop).keys()], ['boot', 'rootfs-a', 'rootfs-b', 'data'], 'sfdisk -d on the device');
  t.match(debugfsCat(loop, '/orbox/config.yaml').toString(), /id: SN-0042/, 'config on the device');
  const verify = await exec('sfdisk', ['--verify', loop]);
  t.notMatch(verify.stdout + verify.stderr, /backup GPT|not on the end|[1-9]\d* errors? detected|mismatch/i, `sfdisk --verify: the backup GPT is at the end of the larger device (${verify.stdout.trim().split('\n').pop()})`);
});

t.test('the provisioned certificate is accepted by the real broker as the box (ACL orbox/v1/%u/#); the replaced one is not', async (t) => {
  const broker = await startLocalBroker({ boxIds: ['other-box'] });
  t.teardown(() => broker.stop());
  const caDir = join(broker.dir, 'pki');
  const target = join(tmp, 'target-broker.img');
  await provision(target, caDir);
  const opts = (cert: Buffer, key: Buffer): IClientOptions => ({ protocolVersion: 5, clientId: 'SN-0042', ca: readFileSync(broker.caPath), cert, key, reconnectPeriod: 0, connectTimeout: 5000 });
  const cert1 = debugfsCat(target, '/orbox/identity/box.crt');
  const key1 = debugfsCat(target, '/orbox/identity/box.key');
  const c = await mqtt.connectAsync(broker.url, opts(cert1, key1));
  await c.publishAsync('orbox/v1/SN-0042/event', 'hello', { qos: 1 });
  t.pass('publishes to its own topics');
  const err = await c.publishAsync('orbox/v1/other-box/event', 'x', { qos: 1 }).then(() => undefined, (e: { code?: number }) => e);
  t.equal(err?.code, 135, "another box's topic: not authorized (135): the broker took the CN as the username");
  await c.endAsync();

  await provision(target, caDir, '--replace-identity');
  await broker.restart(); // mosquitto reads the CRL at start
  const refused = await mqtt.connectAsync(broker.url, opts(cert1, key1)).then(async (x) => { await x.endAsync(); return 'connected'; }, (e: Error) => e.message);
  t.not(refused, 'connected', `the superseded certificate is refused (${refused})`);
  const c2 = await mqtt.connectAsync(broker.url, opts(debugfsCat(target, '/orbox/identity/box.crt'), debugfsCat(target, '/orbox/identity/box.key')));
  await c2.publishAsync('orbox/v1/SN-0042/event', 'again', { qos: 1 });
  t.pass('the new certificate is accepted');
  await c2.endAsync();
});

t.test('enrolment: the bench writes a claim, the box makes its key and gets its certificate once', async (t) => {
  const caDir = join(tmp, 'ca3');
  const ca = await DeviceCa.create(caDir);
  const target = join(tmp, 'target3.img');
  const r = await provision(target, caDir, '--enrol');
  t.match(r.stdout, /enrolment claim/, 'summary says enrolment');
  const noKey = execFileSync('debugfs', ['-R', 'stat /orbox/identity/box.key', dataSpec(target)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.notMatch(noKey, /Inode:/, 'no key written by the bench (debugfs stat finds no box.key)');
  // First boot, simulated: the data partition's files copied out as the box would see them mounted.
  const dataRoot = join(tmp, 'data3');
  mkdirSync(dataRoot);
  sh('debugfs', ['-R', `rdump /orbox ${dataRoot}`, dataSpec(target)]);
  let submitted = '';
  const res = await enrolAtFirstBoot(dataRoot, async (req) => { submitted = req.csrPem; return (await ca.signClaimed(req.csrPem, req)).pem; });
  t.same(res, { boxId: 'SN-0042', enrolled: true, reason: 'certificate installed' });
  t.match(submitted, /BEGIN CERTIFICATE REQUEST/, 'only a CSR left the box');
  t.match(await ca.verify(readFileSync(join(dataRoot, 'orbox/identity/box.crt'), 'utf8')), /OK/, 'certificate verifies');
  t.notOk(existsSync(join(dataRoot, 'orbox/identity/claim.json')), 'the claim is used up');
  const claim = JSON.parse(debugfsCat(target, '/orbox/identity/claim.json').toString()) as { boxId: string; token: string };
  await t.rejects(ca.signClaimed((await makeKeyAndCsr('SN-0042')).csrPem, claim), CaError, 'the same claim a second time is refused');
});

t.test('the CA signs only a CSR whose CN is the box id', async (t) => {
  const ca = await DeviceCa.create(join(tmp, 'ca4'));
  const { csrPem } = await makeKeyAndCsr('box-a');
  await t.rejects(ca.sign(csrPem, 'box-b'), /subject is "CN=box-a", not CN=box-b/);
  await t.rejects(ca.sign('not a csr', 'box-a'), /does not verify/);
  t.equal((await ca.sign(csrPem, 'box-a')).serial, '1000');
});
