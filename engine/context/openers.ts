// Which other processes hold files under the destination open (a virus scanner, an indexer, a
// backup agent reading what blit writes): the targets of /proc/PID/fd, where this process may
// read them. A scan is bounded so that a machine with many processes costs the run little.
import { readdirSync, readlinkSync } from "node:fs";
import { readText } from "./proc.ts";

export interface Opener {
  pid: number;
  name: string;
  files: number;
}

export interface ScanLimits {
  /** Processes looked at, at most. @default 2000 */
  maxProcesses?: number;
  /** Milliseconds spent, at most. @default 50 */
  maxMs?: number;
}

/**
 * Processes other than this one with files open under `root` (a realpath): per process, the
 * number of its descriptors that name `root` or a path below it. Processes whose fds this one
 * may not read are skipped; a scan that reaches a limit returns what it found.
 */
export function scanOpeners(root: string, limits: ScanLimits = {}): Opener[] {
  const maxProcesses = limits.maxProcesses ?? 2000;
  const deadline = performance.now() + (limits.maxMs ?? 50);
  const prefix = root.endsWith("/") ? root : root + "/";
  const self = process.pid;
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((d) => d.charCodeAt(0) >= 48 && d.charCodeAt(0) <= 57);
  } catch {
    return [];
  }
  const out: Opener[] = [];
  let seen = 0;
  for (const pid of pids) {
    if (Number(pid) === self) continue;
    if (++seen > maxProcesses || performance.now() > deadline) break;
    const files = countUnder(`/proc/${pid}/fd`, root, prefix, deadline);
    if (files > 0) out.push({ pid: Number(pid), name: readText(`/proc/${pid}/comm`)?.trim() || "unknown", files });
  }
  return out;
}

function countUnder(fdDir: string, root: string, prefix: string, deadline: number): number {
  let fds: string[];
  try {
    fds = readdirSync(fdDir);
  } catch {
    return 0; // gone, or not ours to read
  }
  let n = 0;
  for (let k = 0; k < fds.length; k++) {
    // A process with thousands of descriptors (a database) checks the clock as it goes.
    if ((k & 255) === 255 && performance.now() > deadline) break;
    let target: string;
    try {
      target = readlinkSync(`${fdDir}/${fds[k]}`);
    } catch {
      continue;
    }
    if (target === root || target.startsWith(prefix)) n++;
  }
  return n;
}

/** Two scans of the same run combined: each process once, with the most files it held at a time. */
export function mergeOpeners(into: Map<number, Opener>, found: readonly Opener[]): void {
  for (const o of found) {
    const had = into.get(o.pid);
    if (!had || had.files < o.files) into.set(o.pid, o);
  }
}
