/**
 * Builds a box disk image from its parts, without mounting anything: the boot files (vfat,
 * made with mkfs.vfat and filled with mtools' mcopy), one root filesystem tree (ext4 via
 * `mkfs.ext4 -d`, written to slot A and, by default, slot B), an empty data filesystem (ext4,
 * its /orbox folder owned by the box's user), a GPT written by sfdisk, and the image's block
 * map (`bmaptool create`) so flashing writes only the mapped blocks and verifies them.
 *
 * The layout is layout.ts's. Filesystems are built in a temporary folder next to the output and
 * copied into the image skipping all-zero 64 KiB runs, so the image stays sparse and its bmap
 * small. Output: `<out>` and `<out>.bmap`; any previous files there are replaced.
 *
 * Errors: RangeError for bad sizes (naming the partition), ToolError from the tools,
 * ImageError when a tree does not fit its partition.
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeSync, ftruncateSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { MIB, PARTITION_NAMES, PARTITION_TYPES, type PartitionName } from './layout.js';
import { run } from './tools.js';

export interface ImageSpec {
  /** Output image path; `<out>.bmap` is written next to it. */
  out: string;
  /** Folder whose contents go onto the boot (vfat) partition. */
  bootDir: string;
  /** Root filesystem tree (a folder) for slot A. */
  rootfsDir: string;
  /** Partition sizes, MiB. Defaults: boot 64, rootfs 512 each, data 256. */
  sizesMiB?: Partial<Record<PartitionName, number>>;
  /** Slot B: a copy of A (default; a box can fall back at once) or left empty for the first update. */
  slotB?: 'copy' | 'empty';
  /** uid/gid of the box's user (the `orbox` user of the root filesystem). Default 999:999. */
  boxUid?: number;
  boxGid?: number;
}

export interface BuiltImage {
  image: string;
  bmap: string;
  /** Byte offset and size of each partition. */
  partitions: Record<PartitionName, { offset: number; size: number }>;
  /** Bytes of the image that hold data (what a flash writes). */
  mappedBytes: number;
  sizeBytes: number;
}

export class ImageError extends Error {
  constructor(message: string) { super(message); this.name = 'ImageError'; }
}

const DEFAULT_SIZES: Record<PartitionName, number> = { boot: 64, 'rootfs-a': 512, 'rootfs-b': 512, data: 256 };
/** The first partition starts at 1 MiB (alignment for eMMC/SD erase blocks; room for the GPT). */
const FIRST_MIB = 1;
/** Room at the end for the backup GPT (33 sectors), rounded up to 1 MiB. */
const TAIL_MIB = 1;
const CHUNK = 64 * 1024;
const ZERO = Buffer.alloc(CHUNK);

function duBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += 4096 + duBytes(p);
    else n += Math.ceil(statSync(p).size / 4096) * 4096 + 4096;
  }
  return n;
}

/** Copies `src` into `dst` at `offset`, skipping all-zero chunks (they stay holes in the image). */
function copySparse(src: string, dstFd: number, offset: number): void {
  const fd = openSync(src, 'r');
  const buf = Buffer.alloc(CHUNK);
  try {
    for (let pos = 0; ;) {
      const n = readSync(fd, buf, 0, CHUNK, pos);
      if (n === 0) break;
      if (buf.compare(ZERO, 0, n, 0, n) !== 0) writeSync(dstFd, buf, 0, n, offset + pos);
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Builds the image and its bmap; see the module header. */
export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const sizes = { ...DEFAULT_SIZES, ...spec.sizesMiB };
  for (const n of PARTITION_NAMES) {
    const s = sizes[n];
    if (!Number.isInteger(s) || s < (n === 'boot' ? 33 : 8) || s > 64 * 1024) {
      // vfat below 33 MiB would be FAT16/12, which some boot ROMs refuse for an ESP.
      throw new RangeError(`image: partition ${n} size must be an integer number of MiB from ${n === 'boot' ? 33 : 8} to 65536, got ${s}`);
    }
  }
  for (const [what, dir] of [['bootDir', spec.bootDir], ['rootfsDir', spec.rootfsDir]] as const) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new RangeError(`image: ${what} ${dir} is not a folder`);
  }
  const uid = spec.boxUid ?? 999;
  const gid = spec.boxGid ?? 999;
  const out = resolve(spec.out);
  const rootNeed = duBytes(spec.rootfsDir);
  // ext4 keeps ~5% reserved plus metadata: refuse early with the figure instead of mkfs's ENOSPC.
  if (rootNeed > sizes['rootfs-a'] * MIB * 0.85) throw new ImageError(`image: the root filesystem tree ${spec.rootfsDir} needs about ${Math.ceil(rootNeed / MIB)} MiB; rootfs-a is ${sizes['rootfs-a']} MiB`);

  const work = mkdtempSync(join(dirname(out), `.${basename(out)}.build-`));
  try {
    // boot: vfat, files copied in with mtools (no mount).
    const boot = join(work, 'boot.vfat');
    await run('mkfs.vfat', ['-C', '-n', 'BOOT', '-F', '32', boot, String(sizes.boot * 1024)]);
    const bootEntries = readdirSync(spec.bootDir).map((e) => join(spec.bootDir, e));
    if (bootEntries.length) await run('mcopy', ['-s', '-p', '-Q', '-m', '-i', boot, ...bootEntries, '::/']);

    // rootfs: ext4 from the tree. root_owner makes / owned by root whoever runs the build.
    const rootfs = join(work, 'rootfs.ext4');
    await run('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', '-E', 'root_owner=0:0', '-d', spec.rootfsDir, rootfs, `${sizes['rootfs-a']}M`]);

    // data: empty but for /orbox (the box's user's); provisioning fills it.
    const dataTree = join(work, 'data-tree');
    const data = join(work, 'data.ext4');
    mkdirSync(join(dataTree, 'orbox'), { recursive: true });
    await run('mkfs.ext4', ['-q', '-F', '-L', 'data', '-E', 'root_owner=0:0', '-d', dataTree, data, `${sizes.data}M`]);
    await run('debugfs', ['-w', '-R', `set_inode_field /orbox uid ${uid}`, data]);
    await run('debugfs', ['-w', '-R', `set_inode_field /orbox gid ${gid}`, data]);
    await run('debugfs', ['-w', '-R', 'set_inode_field /orbox mode 040750', data]);

    // The GPT: sfdisk on the (sparse) image file.
    const parts: Record<PartitionName, { offset: number; size: number }> = {} as never;
    let startMiB = FIRST_MIB;
    const lines = ['label: gpt', 'unit: sectors', 'sector-size: 512'];
    for (const n of PARTITION_NAMES) {
      const sizeMiB = sizes[n];
      parts[n] = { offset: startMiB * MIB, size: sizeMiB * MIB };
      lines.push(`start=${startMiB * 2048}, size=${sizeMiB * 2048}, type=${PARTITION_TYPES[n]}, name="${n}"`);
      startMiB += sizeMiB;
    }
    const total = (startMiB + TAIL_MIB) * MIB;
    const tmpImage = join(work, 'image');
    const fd = openSync(tmpImage, 'w');
    try {
      ftruncateSync(fd, total);
    } finally {
      closeSync(fd);
    }
    await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', tmpImage], { input: lines.join('\n') + '\n' });

    const ifd = openSync(tmpImage, 'r+');
    try {
      copySparse(boot, ifd, parts.boot.offset);
      copySparse(rootfs, ifd, parts['rootfs-a'].offset);
      if ((spec.slotB ?? 'copy') === 'copy') copySparse(rootfs, ifd, parts['rootfs-b'].offset);
      copySparse(data, ifd, parts.data.offset);
    } finally {
      closeSync(ifd);
    }
    const tmpBmap = join(work, 'image.bmap');
    await run('bmaptool', ['create', '-o', tmpBmap, tmpImage]);
    renameSync(tmpImage, out);
    renameSync(tmpBmap, `${out}.bmap`);
    const bmap = readFileSync(`${out}.bmap`, 'utf8');
    const mapped = Number(/<MappedBlocksCount>\s*(\d+)/.exec(bmap)?.[1] ?? NaN) * Number(/<BlockSize>\s*(\d+)/.exec(bmap)?.[1] ?? NaN);
    return { image: out, bmap: `${out}.bmap`, partitions: parts, mappedBytes: mapped, sizeBytes: total };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
