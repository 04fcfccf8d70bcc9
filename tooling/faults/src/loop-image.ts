import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mustSh, sh } from './fault-harness.js';

/** An ext4 file system in an image file, loop-mounted. */
export interface LoopImage {
  readonly image: string;
  readonly mountPoint: string;
  /** Unmounts (if mounted). */
  unmount(): void;
}

/** Why loop mounts (or tmpfs mounts) cannot run here, or undefined when they can. */
export function mountUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `mount needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'mount needs root (run the suite as root)';
  for (const tool of ['mkfs.ext4', 'mount', 'umount', 'losetup']) {
    if (sh('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return undefined;
}

/** Creates an ext4 image of `sizeMiB` and mounts it on `dir/mnt-<name>`. */
export function makeLoopImage(dir: string, name: string, sizeMiB: number): LoopImage {
  const image = join(dir, `${name}.img`);
  mustSh('truncate', ['-s', `${sizeMiB}M`, image]);
  mustSh('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image]);
  return mountImage(dir, name, image);
}

/** Mounts an existing ext4 image (replaying its journal, as after a power loss). */
export function mountImage(
  dir: string,
  name: string,
  image: string,
  options: string[] = [],
): LoopImage {
  const mountPoint = join(dir, `mnt-${name}`);
  mkdirSync(mountPoint, { recursive: true });
  mustSh('mount', ['-o', ['loop', ...options].join(','), image, mountPoint]);
  let mounted = true;
  return {
    image,
    mountPoint,
    unmount() {
      if (!mounted) return;
      mounted = false;
      const out = sh('umount', [mountPoint]);
      if (out.status !== 0) sh('umount', ['-l', mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    },
  };
}

/** A small tmpfs of `sizeKiB` on `dir/tmpfs-<name>`. */
export function makeTmpfs(dir: string, name: string, sizeKiB: number): LoopImage {
  const mountPoint = join(dir, `tmpfs-${name}`);
  mkdirSync(mountPoint, { recursive: true });
  mustSh('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', mountPoint]);
  let mounted = true;
  return {
    image: '',
    mountPoint,
    unmount() {
      if (!mounted) return;
      mounted = false;
      const out = sh('umount', [mountPoint]);
      if (out.status !== 0) sh('umount', ['-l', mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    },
  };
}

/** Remounts read-only or read-write. */
export function remount(mountPoint: string, mode: 'ro' | 'rw'): void {
  mustSh('mount', ['-o', `remount,${mode}`, mountPoint]);
}
