// The machine around a run (issue 13): what the process that ran it saw of its own CPU and I/O,
// of the other processes, of both ends' devices, and a timeline. Captured by engine/context/
// (local runs, the push/pull client, and blitd for its side), carried in RunReport.context and
// RunReport.timeline, stored by analytics in its own tables, and read by diagnosis as evidence.
// Every field a platform cannot give is absent, never zero.

/** Where an end of the run lives, and what its device did during the run. */
export interface DeviceContext {
  role: "source" | "destination";
  /** The path (or the module path on blitd) whose mount this describes. */
  path: string;
  mountPoint: string;
  fsType: string;
  /** The block device's kernel name ("sda1", "nvme0n1p2", "loop3"), or the mount source for others ("tmpfs", "server:/export"). */
  device: string;
  mountOptions: string[];
  deviceClass: "ssd" | "rotational" | "loop" | "network" | "fuse" | "memory" | "unknown";
  /** Mounted `sync` (or `dirsync`), or the device's queue is write-through. */
  sync: boolean;
  /** /proc/diskstats deltas over the run for a block device (the whole disk for a partition's counters when the partition has none). */
  disk?: {
    readIos: number;
    writeIos: number;
    readBytes: number;
    writeBytes: number;
    /** Milliseconds the device was busy (io_ticks), and that as a share of the run's wall time (0..1). */
    busyMs: number;
    utilisation: number;
    /** Mean milliseconds per request (time in queue + service); null without requests. */
    readAwaitMs: number | null;
    writeAwaitMs: number | null;
    /** Share of the device's read/written bytes that were not blit's own (/proc/self/io), 0..1; null when unknown. */
    othersReadShare: number | null;
    othersWriteShare: number | null;
  };
}

export interface RunContext {
  /** Online CPUs when the run started. */
  cpuCount: number;
  /** blit's own use over the run (resource usage deltas, and /proc/self/io where present). */
  self: {
    userMs: number;
    systemMs: number;
    voluntaryCtxSwitches: number;
    involuntaryCtxSwitches: number;
    majorFaults: number;
    readBytes?: number;
    writeBytes?: number;
  };
  /** 1-minute load average at start and at end. */
  load: { start: number; end: number };
  /**
   * Pressure stall information over the run (/proc/pressure/* "total" deltas divided by the run's
   * wall time: the share of time some (or all) tasks stalled, 0..1). Absent without PSI.
   */
  pressure?: { cpuSome: number; ioSome: number; ioFull: number; memorySome: number };
  /** CPU time used by everything but blit, as a share of all CPUs over the run (from /proc/stat against blit's own rusage), 0..1. */
  othersCpuShare?: number;
  /** Both ends (one for a remote client's local end; blitd records its module's). */
  devices: DeviceContext[];
  /** A process tracing blit (TracerPid in /proc/self/status): strace, perf trace, gdb. */
  tracer?: { pid: number; name: string };
  /** Page cache state of the source before the copy, when sampled: share of sampled files' pages resident, 0..1. */
  sourceCached?: number;
  /** Other processes that had files under the destination open during the run (sampled from /proc/PID/fd where permitted). */
  openers?: { pid: number; name: string; files: number }[];
}

/** One point of the run's timeline, sampled about every 250 ms; values are deltas since the previous sample. */
export interface TimelineSample {
  /** Milliseconds since the run started. */
  tMs: number;
  bytes: number;
  files: number;
  /** blit's CPU milliseconds (user + system). */
  selfCpuMs?: number;
  /** Others' CPU share and the pressure shares over the interval, 0..1. */
  othersCpuShare?: number;
  cpuSome?: number;
  ioSome?: number;
}
