// Where each end of a run lives: its mount (from /proc/self/mountinfo, read once per run), the
// block device under it (from /sys), and what kind of device that is. The disk counters of that
// device are diffed over the run by the recorder.
import { nameFs, namePath } from "../../ffi/index.ts";
import type { DeviceContext } from "../run-context.ts";
import { readText } from "./proc.ts";
const { realpathSync } = nameFs;
const { basename, dirname } = namePath;

export interface Mount {
  /** major:minor of the mounted filesystem. */
  devNo: string;
  point: string;
  fsType: string;
  source: string;
  /** Per-mount options, then the superblock's (where `sync` and `dirsync` show). */
  options: string[];
}

/** Every mount, in the kernel's order (a later mount on the same point covers an earlier one). */
export function readMounts(): Mount[] | undefined {
  const text = readText("/proc/self/mountinfo");
  if (!text) return undefined;
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    const parts = line.split(" ");
    const dash = parts.indexOf("-", 6);
    if (dash < 0) continue;
    const options = [...new Set([...(parts[5] ?? "").split(","), ...(parts[dash + 3] ?? "").split(",")].filter(Boolean))];
    out.push({ devNo: parts[2]!, point: unescape(parts[4]!), fsType: parts[dash + 1] ?? "unknown", source: unescape(parts[dash + 2] ?? ""), options });
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(s: string): string {
  return s.includes("\\") ? s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) : s;
}

/** The mount holding `realPath`: the longest mount point that prefixes it, the latest of equals. */
export function mountOf(mounts: readonly Mount[], realPath: string): Mount | undefined {
  let best: Mount | undefined;
  for (const m of mounts) {
    const under = m.point === "/" || realPath === m.point || realPath.startsWith(m.point + "/");
    if (under && (!best || m.point.length >= best.point.length)) best = m;
  }
  return best;
}

/** The realpath of `p`, or of its nearest existing parent when `p` does not exist yet. */
export function existingRealPath(p: string): string | undefined {
  for (let cur = p; ; cur = dirname(cur)) {
    try {
      return realpathSync(cur);
    } catch {
      if (dirname(cur) === cur) return undefined;
    }
  }
}

/** The path `p` will have once made: its nearest existing parent's realpath and the missing rest. */
export function futureRealPath(p: string): string {
  const tail: string[] = [];
  for (let cur = p; ; cur = dirname(cur)) {
    try {
      const real = realpathSync(cur);
      return tail.length ? [real === "/" ? "" : real, ...tail.reverse()].join("/") : real;
    } catch {
      if (dirname(cur) === cur) return p;
      tail.push(basename(cur));
    }
  }
}

const NETWORK = new Set(["nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "afs", "lustre", "fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse", "fuse.glusterfs", "fuse.cephfs", "fuse.juicefs"]);
const MEMORY = new Set(["tmpfs", "ramfs", "devtmpfs"]);

/** A mount's block device: its kernel name and that of its whole disk ("sda1" → "sda"). */
export interface BlockDevice {
  name: string;
  disk: string;
}

/**
 * The block device of a mount: from major:minor through /sys/dev/block; for filesystems whose
 * device number is anonymous (btrfs, overlay on a disk), from the mount source /dev/NAME.
 */
export function blockDeviceOf(m: Mount): BlockDevice | undefined {
  const bySysfs = sysfsBlock(`/sys/dev/block/${m.devNo}`);
  if (bySysfs) return bySysfs;
  if (!m.source.startsWith("/dev/")) return undefined;
  let name: string;
  try {
    name = basename(realpathSync(m.source));
  } catch {
    return undefined;
  }
  return sysfsBlock(`/sys/class/block/${name}`);
}

function sysfsBlock(link: string): BlockDevice | undefined {
  let real: string;
  try {
    real = realpathSync(link);
  } catch {
    return undefined;
  }
  const name = basename(real);
  // A partition's sysfs directory sits inside its disk's and has a `partition` file.
  const disk = readText(`${real}/partition`) !== undefined ? basename(dirname(real)) : name;
  return { name, disk };
}

/** The kind of device a mount is on, by what a diagnosis needs to tell apart. */
export function deviceClassOf(m: Mount, block: BlockDevice | undefined): DeviceContext["deviceClass"] {
  if (MEMORY.has(m.fsType)) return "memory";
  if (NETWORK.has(m.fsType) || m.fsType.startsWith("nfs")) return "network";
  if (m.fsType === "fuse" || m.fsType === "fuseblk" || m.fsType.startsWith("fuse.")) return "fuse";
  if (!block) return "unknown";
  if (/^loop\d+$/.test(block.disk)) return "loop";
  const rotational = readText(`/sys/block/${block.disk}/queue/rotational`)?.trim();
  if (rotational === "1") return "rotational";
  if (rotational === "0") return "ssd";
  return "unknown";
}

/** One end's device facts, without the disk deltas; undefined when the mount table is unreadable. */
export interface DeviceProbe {
  device: Omit<DeviceContext, "disk">;
  /** The /proc/diskstats lines to diff over the run, in order of preference: the device's own, then its whole disk's. */
  statsNames: string[];
}

export function probeDevice(mounts: readonly Mount[], role: DeviceContext["role"], path: string): DeviceProbe | undefined {
  const real = existingRealPath(path);
  if (!real) return undefined;
  const m = mountOf(mounts, real);
  if (!m) return undefined;
  const block = blockDeviceOf(m);
  return {
    device: {
      role, path, mountPoint: m.point, fsType: m.fsType,
      device: block?.name ?? m.source,
      mountOptions: m.options,
      deviceClass: deviceClassOf(m, block),
      sync: m.options.includes("sync") || m.options.includes("dirsync"),
    },
    statsNames: block ? [...new Set([block.name, block.disk])] : [],
  };
}
