/**
 * The box's disk layout and reading it back from an image or a block device.
 *
 * GPT, 1 MiB aligned, four partitions found by their GPT name (never by number, so a later
 * layout may add one):
 *
 *   | name     | type                       | filesystem | written by          |
 *   |----------|----------------------------|------------|---------------------|
 *   | boot     | EFI system (ESP)           | vfat       | image, OTA (kernel) |
 *   | rootfs-a | Linux root (ARM64)         | ext4       | image, OTA slot A   |
 *   | rootfs-b | Linux root (ARM64)         | ext4       | image, OTA slot B   |
 *   | data     | Linux filesystem data      | ext4       | provisioning only   |
 *
 * The root filesystems are identical across the fleet; everything per box (identity,
 * configuration, recordings) is on `data`, which A/B updates never touch.
 *
 * readPartitions() asks `sfdisk --json` (util-linux), so the layout a test sees is the one a
 * tool the project did not write reads.
 */
import { run } from './tools.js';

export const SECTOR = 512;
export const MIB = 1024 * 1024;

export const PARTITION_NAMES = ['boot', 'rootfs-a', 'rootfs-b', 'data'] as const;
export type PartitionName = (typeof PARTITION_NAMES)[number];

/** GPT partition type GUIDs (UEFI spec; the Discoverable Partitions Specification for ARM64 root). */
export const PARTITION_TYPES: Record<PartitionName, string> = {
  boot: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  'rootfs-a': 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE',
  'rootfs-b': 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE',
  data: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
};

export interface Partition {
  name: string;
  /** Byte offset from the start of the disk. */
  offset: number;
  /** Bytes. */
  size: number;
  type: string;
  uuid: string;
}

export class LayoutError extends Error {
  constructor(readonly target: string, message: string) {
    super(`${target}: ${message}`);
    this.name = 'LayoutError';
  }
}

interface SfdiskJson {
  partitiontable: { label: string; sectorsize?: number; partitions: { node: string; start: number; size: number; type: string; uuid: string; name?: string }[] };
}

/** The partitions of `target` (image file or block device), as `sfdisk --json` reads them. */
export async function readPartitions(target: string): Promise<Partition[]> {
  const { stdout } = await run('sfdisk', ['--json', target]);
  const t = (JSON.parse(stdout.toString()) as SfdiskJson).partitiontable;
  if (t.label !== 'gpt') throw new LayoutError(target, `partition table is ${t.label}, not gpt`);
  const sector = t.sectorsize ?? SECTOR;
  return t.partitions.map((p) => ({ name: p.name ?? '', offset: p.start * sector, size: p.size * sector, type: p.type, uuid: p.uuid }));
}

/** The box's partitions by name; throws LayoutError naming any that is missing. */
export async function boxLayout(target: string): Promise<Record<PartitionName, Partition>> {
  const parts = await readPartitions(target);
  const out: Partial<Record<PartitionName, Partition>> = {};
  for (const n of PARTITION_NAMES) {
    const p = parts.find((q) => q.name === n);
    if (!p) throw new LayoutError(target, `no GPT partition named "${n}" (found: ${parts.map((q) => q.name || '?').join(', ') || 'none'}): not an orbox disk`);
    out[n] = p;
  }
  return out as Record<PartitionName, Partition>;
}
