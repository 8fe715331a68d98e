// Slowing a run on purpose, for real, for the diagnosis benchmark (test/bench/diagnosis-bench.ts)
// and the end-to-end cause tests (test/diagnose/induced-causes.test.ts): other processes busy on
// every core, another writer on the same disk, a destination on a loop device mounted `-o sync`,
// a dropped page cache, a tracer, a reader of the files being written. Everything started or
// mounted here is remembered, so that stopInduced() (in a `finally` and on SIGINT/SIGTERM) can
// stop and undo all of it, synchronously, whatever state the caller is in.
import type { Subprocess } from "bun";
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { descendants } from "./measure.ts";

/** The causes that can be induced, by the names the benchmark's --only takes. */
export type InducedCause = "bwlimit" | "workers" | "cpu" | "io" | "sync-device" | "cold-cache" | "tracer" | "scanner" | "fast-path";

/** A background load in its own process group (Bun's `detached`: setsid), stopped as a group. */
export interface Load {
  readonly label: string;
  readonly proc: Subprocess;
  stop(): Promise<void>;
}

/** A loop device with an ext4 image mounted `-o sync` at `path`. */
export interface SyncMount {
  readonly path: string;
  readonly device: string;
  remove(): void;
}

const loads = new Set<Load>();
const mounts = new Set<SyncMount>();

const has = (tool: string) => Bun.which(tool) !== null || Bun.which(tool, { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" }) !== null;
const isRoot = () => process.getuid?.() === 0;

/**
 * Why `cause` cannot be induced on this machine (and how to fix that), or null when it can. The
 * CPU and I/O loads have fallbacks (busy `yes` loops, `dd oflag=direct`), so they are never missing.
 */
export function inducerMissing(cause: InducedCause): string | null {
  switch (cause) {
    case "tracer":
      return has("strace") ? null : "strace is not installed (apt-get install strace)";
    case "cold-cache":
      return isRoot() ? null : "dropping the page cache needs root (echo 3 > /proc/sys/vm/drop_caches)";
    case "sync-device": {
      if (!isRoot()) return "a loop device mount needs root";
      const tools = ["losetup", "mkfs.ext4", "mount", "umount"].filter((t) => !has(t));
      return tools.length ? `${tools.join(", ")} not installed (apt-get install util-linux e2fsprogs mount)` : null;
    }
    case "scanner":
      return has("find") && has("cat") ? null : "find and cat are needed for the reader loop (apt-get install findutils coreutils)";
    case "fast-path": {
      if (!isRoot()) return "a loop device mount needs root";
      const tools = ["losetup", "mkfs.xfs", "mount", "umount"].filter((t) => !has(t));
      return tools.length ? `${tools.join(", ")} not installed (apt-get install util-linux xfsprogs mount)` : null;
    }
    default:
      return null;
  }
}

/** Which tool makes the CPU load and the I/O load here, with what to install for the better one. */
export function loadTools(): { cpu: string; io: string; notes: string[] } {
  const notes: string[] = [];
  const cpu = has("stress-ng") ? "stress-ng" : "yes";
  if (cpu === "yes") notes.push("CPU contention uses busy `yes` loops: stress-ng is not installed (apt-get install stress-ng)");
  const io = has("fio") ? "fio" : "dd";
  if (io === "dd") notes.push("I/O contention uses `dd oflag=direct`: fio is not installed (apt-get install fio)");
  return { cpu, io, notes };
}

function startLoad(label: string, cmd: string[]): Load {
  const proc = Bun.spawn(cmd, { detached: true, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  const load: Load = {
    label,
    proc,
    async stop() {
      if (!loads.delete(load)) return;
      // Descendants are listed before any signal: once their parent is gone they are orphans that
      // no longer show up under it (and a process that called setsid is not in the group).
      const kids = descendants(proc.pid);
      signalGroup(proc.pid, "SIGTERM");
      const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(2000).then(() => false)]);
      // The group may still hold children (a `yes` of the fallback, a `cat` of the reader loop).
      killAll(proc.pid, kids);
      if (!done) await Promise.race([proc.exited, Bun.sleep(2000)]);
    },
  };
  loads.add(load);
  return load;
}

/** SIGKILL to the group of `pgid`, to `kids` and to whatever descends from `pgid` now. */
function killAll(pgid: number, kids: number[]): void {
  signalGroup(pgid, "SIGKILL");
  for (const pid of new Set([...kids, ...descendants(pgid)])) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* the group is gone */
  }
}

/** Other processes busy on every core: `stress-ng --cpu N`, or N busy `yes > /dev/null` loops. */
export function startCpuLoad(cores = availableParallelism()): Load {
  if (loadTools().cpu === "stress-ng") return startLoad(`stress-ng --cpu ${cores}`, ["stress-ng", "--cpu", String(cores), "--timeout", "3600s", "--quiet"]);
  const loops = Array.from({ length: cores }, () => "yes > /dev/null &").join(" ");
  return startLoad(`${cores} × yes > /dev/null`, ["bash", "-c", `${loops} wait`]);
}

/**
 * Another process writing hard on the device that holds `dir`, bypassing the page cache: fio
 * random 64 KiB direct writes, 32 in flight, over a file of `bytes` in `dir`, which keeps the
 * device's queue full (blit itself writes into the page cache, so it feels the load where it waits
 * for the device: the journal, reads of the source, writeback). `--thread` keeps the job inside
 * the fio process: fio's forked jobs call setsid and would outlive a killed group. Or sequential 1 MiB
 * `dd oflag=direct` writes in a loop when fio is missing. The file is removed by stop().
 */
export function startIoLoad(dir: string, bytes = 512 << 20): Load {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "io-load.dat");
  const mib = Math.max(16, Math.round(bytes / (1 << 20)));
  const cmd = loadTools().io === "fio"
    ? ["fio", "--name=blit-io-load", `--filename=${file}`, "--rw=randwrite", "--bs=64k", `--size=${mib}M`, "--direct=1", "--ioengine=libaio", "--iodepth=32", "--time_based", "--runtime=3600", "--thread", "--output=/dev/null"]
    : ["bash", "-c", `while :; do dd if=/dev/zero of=${shellQuote(file)} bs=1M count=${mib} oflag=direct conv=notrunc status=none; done`];
  const load = startLoad(`${cmd[0]} writing ${mib} MiB direct in a loop`, cmd);
  const stop = load.stop;
  return { ...load, stop: async () => (await stop(), rmSync(file, { force: true })) };
}

/**
 * Processes that read every file under `dst` again and again while blit writes there (what a
 * virus scanner or an indexer does): `readers` loops of `find DST -type f -exec cat {} + > /dev/null`
 * (one per core by default: a single reader of files still in the page cache barely slows blit).
 */
export function startReader(dst: string, readers = availableParallelism()): Load {
  const d = shellQuote(dst);
  const loop = `while :; do if [ -d ${d} ]; then find ${d} -type f -exec cat {} + > /dev/null 2>&1; else sleep 0.02; fi; done`;
  const loops = Array.from({ length: readers }, () => `(${loop}) &`).join(" ");
  return startLoad(`${readers} × find ${dst} -type f -exec cat {} + in a loop`, ["bash", "-c", `${loops} wait`]);
}

/** Writes dirty pages out, then drops the page cache, dentries and inodes (root). */
export function dropCaches(): void {
  spawnSync("sync");
  writeFileSync("/proc/sys/vm/drop_caches", "3");
}

/** The command prefix that runs blit under a tracer which follows every thread. */
export const TRACER_PREFIX = ["strace", "-f", "-o", "/dev/null"];

/**
 * A fresh ext4 image of `bytes` with room for `inodes` files, in `dir`, attached to a loop device
 * and mounted `-o sync` at dir/mnt. remove() (also done by stopInduced) unmounts and detaches it.
 */
export function makeSyncMount(dir: string, bytes: number, inodes: number): SyncMount {
  return makeLoopMount(dir, "sync-device", Math.max(bytes, 32 << 20), ["mkfs.ext4", "-q", "-F", "-N", String(Math.max(inodes, 1024))], ["-o", "sync"]);
}

/**
 * A fresh XFS image made with reflink=1 (copies within it are clones), sparse, of `bytes`, in
 * `dir`, mounted at dir/mnt: the source of a copy that loses its clones when sent elsewhere.
 */
export function makeCloneMount(dir: string, bytes: number): SyncMount {
  return makeLoopMount(dir, "clone-device", Math.max(bytes, 320 << 20), ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"], []);
}

function makeLoopMount(dir: string, name: string, bytes: number, mkfs: string[], mountOptions: string[]): SyncMount {
  mkdirSync(dir, { recursive: true });
  const image = join(dir, `${name}.img`);
  const path = join(dir, "mnt");
  mkdirSync(path, { recursive: true });
  writeFileSync(image, "");
  sh("truncate", ["-s", String(bytes), image]);
  sh(mkfs[0]!, [...mkfs.slice(1), image]);
  const device = sh("losetup", ["-f", "--show", image]).trim();
  const m: SyncMount = {
    path,
    device,
    remove() {
      if (!mounts.delete(m)) return;
      if (spawnSync("umount", [path]).status !== 0) spawnSync("umount", ["-l", path]);
      spawnSync("losetup", ["-d", device]);
      rmSync(image, { force: true });
    },
  };
  mounts.add(m);
  try {
    sh("mount", [...mountOptions, device, path]);
  } catch (e) {
    spawnSync("losetup", ["-d", device]);
    mounts.delete(m);
    throw e;
  }
  return m;
}

/** Stops every load still running and undoes every mount, synchronously (fit for a signal handler). */
export function stopInduced(): void {
  for (const l of [...loads]) {
    loads.delete(l);
    killAll(l.proc.pid, descendants(l.proc.pid));
  }
  for (const m of [...mounts]) m.remove();
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
