// Readers of the kernel's counters a run's context is made of. Each returns undefined when the
// file is missing or unreadable (another OS, a container without /proc, PSI turned off): a fact
// the platform cannot give is absent, never a failed run.
import { readFileSync } from "node:fs";

/** The text of a small kernel file, or undefined. */
export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return undefined;
  }
}

/** blit's own CPU and scheduling counters (all threads of the process). */
export interface OwnUsage {
  userMs: number;
  systemMs: number;
  voluntary: number;
  involuntary: number;
  majorFaults: number;
}

export function readOwnUsage(): OwnUsage {
  const u = process.resourceUsage();
  return {
    userMs: u.userCPUTime / 1000,
    systemMs: u.systemCPUTime / 1000,
    voluntary: u.voluntaryContextSwitches,
    involuntary: u.involuntaryContextSwitches,
    majorFaults: u.majorPageFault,
  };
}

/** Bytes this process made the storage layer read and write (/proc/self/io), or undefined. */
export function readOwnIo(): { readBytes: number; writeBytes: number } | undefined {
  const text = readText("/proc/self/io");
  if (!text) return undefined;
  const readBytes = field(text, "read_bytes");
  const writeBytes = field(text, "write_bytes");
  return readBytes === undefined || writeBytes === undefined ? undefined : { readBytes, writeBytes };
}

function field(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}:\\s*(\\d+)`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Microseconds stalled since boot, per resource (/proc/pressure/*, "total=" of each line). */
export interface Pressure {
  cpuSome: number;
  ioSome: number;
  ioFull: number;
  memorySome: number;
}

export function readPressure(): Pressure | undefined {
  const cpu = readText("/proc/pressure/cpu");
  const io = readText("/proc/pressure/io");
  const memory = readText("/proc/pressure/memory");
  if (!cpu || !io || !memory) return undefined;
  const cpuSome = psiTotal(cpu, "some");
  const ioSome = psiTotal(io, "some");
  const ioFull = psiTotal(io, "full");
  const memorySome = psiTotal(memory, "some");
  if (cpuSome === undefined || ioSome === undefined || ioFull === undefined || memorySome === undefined) return undefined;
  return { cpuSome, ioSome, ioFull, memorySome };
}

/** Only the two cheap files the timeline samples every interval. */
export function readCpuIoPressure(): { cpuSome: number; ioSome: number } | undefined {
  const cpu = readText("/proc/pressure/cpu");
  const io = readText("/proc/pressure/io");
  if (!cpu || !io) return undefined;
  const cpuSome = psiTotal(cpu, "some");
  const ioSome = psiTotal(io, "some");
  return cpuSome === undefined || ioSome === undefined ? undefined : { cpuSome, ioSome };
}

function psiTotal(text: string, kind: "some" | "full"): number | undefined {
  const m = new RegExp(`^${kind} .*\\btotal=(\\d+)`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The machine's CPU time since boot, in clock ticks (/proc/stat, first line): busy and all. */
export interface CpuTicks {
  busy: number;
  total: number;
}

export function readCpuTicks(): CpuTicks | undefined {
  const text = readText("/proc/stat");
  if (!text || !text.startsWith("cpu ")) return undefined;
  const end = text.indexOf("\n");
  const v = text.slice(4, end < 0 ? undefined : end).trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal [guest guest_nice: already inside user and nice]
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  if (v.slice(0, 8).some((x) => !Number.isFinite(x))) return undefined;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/**
 * Clock ticks per second of /proc/stat (USER_HZ). It is 100 on every Linux architecture blit
 * runs on; the ABI fixed it so that tools need not ask sysconf.
 */
export const TICKS_PER_SECOND = 100;

/**
 * Others' share of all CPUs between two /proc/stat readings: the machine's busy ticks minus
 * blit's own CPU time over the same span, against the machine's total ticks, clamped to 0..1.
 * The total comes from the same file, so the share is of the CPUs the kernel counts.
 */
export function othersShare(a: CpuTicks, b: CpuTicks, ownCpuMs: number): number | undefined {
  const total = b.total - a.total;
  if (total <= 0) return undefined;
  const others = b.busy - a.busy - (ownCpuMs / 1000) * TICKS_PER_SECOND;
  return clamp01(others / total);
}

/** Per-device I/O counters (/proc/diskstats), by kernel name. */
export interface DiskCounters {
  readIos: number;
  readSectors: number;
  readMs: number;
  writeIos: number;
  writeSectors: number;
  writeMs: number;
  ioTicks: number;
}

/** The counters of the named devices only (a run looks at two at most). */
export function readDiskstats(names: ReadonlySet<string>): Map<string, DiskCounters> | undefined {
  if (names.size === 0) return new Map();
  const text = readText("/proc/diskstats");
  if (!text) return undefined;
  const out = new Map<string, DiskCounters>();
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    // major minor name reads merged sectors ms writes merged sectors ms in-flight io_ticks weighted ...
    if (f.length < 13 || !names.has(f[2]!)) continue;
    const n = f.map(Number);
    out.set(f[2]!, { readIos: n[3]!, readSectors: n[5]!, readMs: n[6]!, writeIos: n[7]!, writeSectors: n[9]!, writeMs: n[10]!, ioTicks: n[12]! });
  }
  return out;
}

/** The process tracing this one (TracerPid), with its command name when readable. */
export function readTracer(): { pid: number; name: string } | undefined {
  const status = readText("/proc/self/status");
  const m = status && /^TracerPid:\s*(\d+)/m.exec(status);
  const pid = m ? Number(m[1]) : 0;
  if (!pid) return undefined;
  return { pid, name: readText(`/proc/${pid}/comm`)?.trim() || "unknown" };
}

export function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}
