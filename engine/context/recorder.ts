// The recorder of a run's context (engine/run-context.ts): counters read once when the run
// starts and once when it stops, diffed; a timeline sampled on an unref'd timer; the openers of
// the destination sampled a few times. The expensive reads (mount table, sysfs) are made once per
// run, never per file, and nothing here can fail or hold up the run it watches.
import { availableParallelism, loadavg } from "node:os";
import type { DeviceContext, RunContext, TimelineSample } from "../run-context.ts";
import { residentShare } from "../../ffi/index.ts";
import { futureRealPath, probeDevice, readMounts, type DeviceProbe } from "./devices.ts";
import { mergeOpeners, scanOpeners, type Opener, type ScanLimits } from "./openers.ts";
import {
  clamp01, othersShare, readCpuIoPressure, readCpuTicks, readDiskstats, readOwnIo, readOwnUsage, readPressure, readTracer,
  type CpuTicks, type DiskCounters, type OwnUsage, type Pressure,
} from "./proc.ts";

export interface ContextOptions {
  /** The local source path, when this process reads one. */
  source?: string;
  /** The local destination path, when this process writes one (blitd: its module's path). */
  destination?: string;
  /** Look for other processes with files open under the destination. @default false */
  openers?: boolean;
  /** Bytes and files done so far, read at each timeline sample. */
  progress?: () => { bytes: number; files: number };
  /** Milliseconds between timeline samples. @default 250 */
  intervalMs?: number;
  /** Bounds of one openers scan. */
  openerLimits?: ScanLimits;
  /** Samples kept before neighbours are merged in pairs and the interval doubled. @default 2400 (10 minutes at 250 ms) */
  maxSamples?: number;
}

export interface CapturedContext {
  context: RunContext;
  /** Absent when the run ended before the first sample. */
  timeline?: TimelineSample[];
}

/** Samples kept before neighbours are merged (and the interval doubled): a long run's timeline stays bounded. */
const MAX_SAMPLES = 2400;
/** Files whose page cache state is sampled before a copy. */
const CACHE_SAMPLE_FILES = 32;
/** Openers are looked for once the run has lasted this long, then each time its age doubles. */
const FIRST_OPENERS_SCAN_MS = 500;

interface Counters {
  t: number;
  usage: OwnUsage;
  io?: { readBytes: number; writeBytes: number };
  cpu?: CpuTicks;
  pressure?: Pressure;
  disks?: Map<string, DiskCounters>;
  load: number;
}

interface TickState {
  t: number;
  bytes: number;
  files: number;
  cpuMs: number;
  cpu?: CpuTicks;
  pressure?: { cpuSome: number; ioSome: number };
}

/** Starts recording at once; call stop() at the run's end (idempotent). */
export function startContext(options: ContextOptions = {}): ContextRecorder {
  return new ContextRecorder(options);
}

export class ContextRecorder {
  private readonly linux = process.platform === "linux";
  private readonly cpuCount = availableParallelism();
  private readonly probes: DeviceProbe[] = [];
  private readonly diskNames = new Set<string>();
  private readonly start: Counters;
  private readonly samples: TimelineSample[] = [];
  private last: TickState;
  private timer: ReturnType<typeof setInterval> | undefined;
  private intervalMs: number;
  private readonly openers = new Map<number, Opener>();
  private readonly openersRoot: string | undefined;
  private nextOpenersScan = FIRST_OPENERS_SCAN_MS;
  private result: CapturedContext | undefined;
  private sourceCached: number | undefined;

  constructor(private readonly options: ContextOptions) {
    this.intervalMs = options.intervalMs ?? 250;
    if (this.linux) this.probeDevices();
    // Descriptors name real paths; a destination made by the run is matched by the path it will have.
    this.openersRoot = options.openers && this.linux && options.destination !== undefined ? safe(() => futureRealPath(options.destination!)) : undefined;
    this.start = this.read();
    this.last = this.tickState(this.start.t);
    this.startTimer();
  }

  /** Mount table and sysfs, once: which device each end is on. */
  private probeDevices(): void {
    const mounts = safe(readMounts);
    if (!mounts) return;
    const ends: [DeviceContext["role"], string | undefined][] = [["source", this.options.source], ["destination", this.options.destination]];
    for (const [role, path] of ends) {
      if (path === undefined) continue;
      const probe = safe(() => probeDevice(mounts, role, path));
      if (!probe) continue;
      this.probes.push(probe);
      for (const n of probe.statsNames) this.diskNames.add(n);
    }
  }

  private read(): Counters {
    const linux = this.linux;
    return {
      t: performance.now(),
      usage: readOwnUsage(),
      io: linux ? safe(readOwnIo) : undefined,
      cpu: linux ? safe(readCpuTicks) : undefined,
      pressure: linux ? safe(readPressure) : undefined,
      disks: linux ? safe(() => readDiskstats(this.diskNames)) : undefined,
      load: loadavg()[0] ?? 0,
    };
  }

  private tickState(t: number, usage = this.start.usage, cpu = this.start.cpu, pressure: TickState["pressure"] = this.start.pressure): TickState {
    const p = this.options.progress?.();
    return { t, bytes: p?.bytes ?? 0, files: p?.files ?? 0, cpuMs: usage.userMs + usage.systemMs, cpu, pressure };
  }

  private startTimer(): void {
    this.timer = setInterval(() => {
      try {
        this.tick();
      } catch {
        /* a sample lost; the run goes on */
      }
    }, this.intervalMs);
    this.timer.unref?.();
  }

  /** One timeline sample: the deltas since the previous one. */
  private tick(): void {
    const t = performance.now();
    const usage = readOwnUsage();
    const now = this.tickState(t, usage, this.linux ? readCpuTicks() : undefined, this.linux ? readCpuIoPressure() : undefined);
    this.samples.push(this.sampleBetween(this.last, now));
    this.last = now;
    if (this.samples.length >= (this.options.maxSamples ?? MAX_SAMPLES)) this.coarsen();
    if (this.openersRoot && t - this.start.t >= this.nextOpenersScan) {
      mergeOpeners(this.openers, scanOpeners(this.openersRoot, this.options.openerLimits));
      this.nextOpenersScan *= 2;
    }
  }

  private sampleBetween(a: TickState, b: TickState): TimelineSample {
    const wallUs = (b.t - a.t) * 1000;
    const cpuMs = b.cpuMs - a.cpuMs;
    const s: TimelineSample = { tMs: Math.round(b.t - this.start.t), bytes: b.bytes - a.bytes, files: b.files - a.files, selfCpuMs: round(cpuMs) };
    const others = a.cpu && b.cpu ? othersShare(a.cpu, b.cpu, cpuMs) : undefined;
    if (others !== undefined) s.othersCpuShare = round(others);
    if (a.pressure && b.pressure && wallUs > 0) {
      s.cpuSome = round(clamp01((b.pressure.cpuSome - a.pressure.cpuSome) / wallUs));
      s.ioSome = round(clamp01((b.pressure.ioSome - a.pressure.ioSome) / wallUs));
    }
    return s;
  }

  /** Neighbouring samples merged in pairs and the interval doubled. */
  private coarsen(): void {
    const merged: TimelineSample[] = [];
    for (let k = 0; k < this.samples.length; k += 2) {
      const a = this.samples[k]!;
      const b = this.samples[k + 1];
      merged.push(b ? mergeSamples(a, b, k === 0 ? a.tMs : this.samples[k - 1]!.tMs) : a);
    }
    this.samples.splice(0, this.samples.length, ...merged);
    clearInterval(this.timer);
    this.intervalMs *= 2;
    this.startTimer();
  }

  /**
   * Before the copy: how much of the files about to be read is in the page cache (sourceCached),
   * from up to 32 of the `count` files spread evenly over them. Only cachestat is asked; nothing
   * is read. `path(k)` and `size(k)` give the k-th file.
   */
  noteSourceCached(count: number, path: (k: number) => string, size: (k: number) => number): void {
    if (!this.linux || count === 0 || this.result) return;
    const picks = Math.min(count, CACHE_SAMPLE_FILES);
    const files: { path: string; size: number }[] = [];
    for (let j = 0; j < picks; j++) {
      const k = Math.floor((j * count) / picks);
      files.push({ path: path(k), size: size(k) });
    }
    const share = safe(() => residentShare(files));
    if (share !== undefined) this.sourceCached = round(share);
  }

  /** Ends the recording and returns the context (the same object on a second call). */
  stop(): CapturedContext {
    if (this.result) return this.result;
    clearInterval(this.timer);
    const end = this.read();
    let timeline: TimelineSample[] | undefined;
    if (this.samples.length > 0) {
      // The last partial interval, so that the timeline's bytes and files add up to the run's.
      const tail = this.tickState(end.t, end.usage, end.cpu, end.pressure);
      if (tail.t - this.last.t >= 1) this.samples.push(this.sampleBetween(this.last, tail));
      timeline = this.samples;
    }
    this.result = { context: this.contextBetween(this.start, end), ...(timeline ? { timeline } : {}) };
    return this.result;
  }

  private contextBetween(a: Counters, b: Counters): RunContext {
    const wallMs = b.t - a.t;
    const self: RunContext["self"] = {
      userMs: round(b.usage.userMs - a.usage.userMs),
      systemMs: round(b.usage.systemMs - a.usage.systemMs),
      voluntaryCtxSwitches: b.usage.voluntary - a.usage.voluntary,
      involuntaryCtxSwitches: b.usage.involuntary - a.usage.involuntary,
      majorFaults: b.usage.majorFaults - a.usage.majorFaults,
    };
    if (a.io && b.io) {
      self.readBytes = b.io.readBytes - a.io.readBytes;
      self.writeBytes = b.io.writeBytes - a.io.writeBytes;
    }
    const ctx: RunContext = {
      cpuCount: this.cpuCount,
      self,
      load: { start: round(a.load), end: round(b.load) },
      devices: this.probes.map((p) => this.deviceWithDisk(p, a, b, wallMs, self)),
    };
    if (a.pressure && b.pressure && wallMs > 0) {
      const share = (x: number, y: number) => round(clamp01((y - x) / (wallMs * 1000)));
      ctx.pressure = {
        cpuSome: share(a.pressure.cpuSome, b.pressure.cpuSome),
        ioSome: share(a.pressure.ioSome, b.pressure.ioSome),
        ioFull: share(a.pressure.ioFull, b.pressure.ioFull),
        memorySome: share(a.pressure.memorySome, b.pressure.memorySome),
      };
    }
    const others = a.cpu && b.cpu ? othersShare(a.cpu, b.cpu, self.userMs + self.systemMs) : undefined;
    if (others !== undefined) ctx.othersCpuShare = round(others);
    const tracer = this.linux ? safe(readTracer) : undefined;
    if (tracer) ctx.tracer = tracer;
    if (this.sourceCached !== undefined) ctx.sourceCached = this.sourceCached;
    if (this.openersRoot) ctx.openers = [...this.openers.values()];
    return ctx;
  }

  private deviceWithDisk(p: DeviceProbe, a: Counters, b: Counters, wallMs: number, self: RunContext["self"]): DeviceContext {
    const name = p.statsNames.find((n) => a.disks?.has(n) && b.disks?.has(n));
    if (!name) return { ...p.device };
    const x = a.disks!.get(name)!;
    const y = b.disks!.get(name)!;
    const readIos = y.readIos - x.readIos;
    const writeIos = y.writeIos - x.writeIos;
    const readBytes = (y.readSectors - x.readSectors) * 512;
    const writeBytes = (y.writeSectors - x.writeSectors) * 512;
    const busyMs = y.ioTicks - x.ioTicks;
    const othersOf = (own: number | undefined, device: number) => (own === undefined || device <= 0 ? null : round(clamp01(1 - own / device)));
    return {
      ...p.device,
      disk: {
        readIos, writeIos, readBytes, writeBytes, busyMs,
        utilisation: wallMs > 0 ? round(clamp01(busyMs / wallMs)) : 0,
        readAwaitMs: readIos > 0 ? round((y.readMs - x.readMs) / readIos) : null,
        writeAwaitMs: writeIos > 0 ? round((y.writeMs - x.writeMs) / writeIos) : null,
        othersReadShare: othersOf(self.readBytes, readBytes),
        othersWriteShare: othersOf(self.writeBytes, writeBytes),
      },
    };
  }
}

/** Two neighbouring samples as one; the shares weighted by each one's length. */
function mergeSamples(a: TimelineSample, b: TimelineSample, before: number): TimelineSample {
  const la = Math.max(1, a.tMs - before);
  const lb = Math.max(1, b.tMs - a.tMs);
  const avg = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? undefined : round((x * la + y * lb) / (la + lb)));
  const s: TimelineSample = { tMs: b.tMs, bytes: a.bytes + b.bytes, files: a.files + b.files };
  if (a.selfCpuMs !== undefined && b.selfCpuMs !== undefined) s.selfCpuMs = round(a.selfCpuMs + b.selfCpuMs);
  const others = avg(a.othersCpuShare, b.othersCpuShare);
  if (others !== undefined) s.othersCpuShare = others;
  const cpuSome = avg(a.cpuSome, b.cpuSome);
  if (cpuSome !== undefined) s.cpuSome = cpuSome;
  const ioSome = avg(a.ioSome, b.ioSome);
  if (ioSome !== undefined) s.ioSome = ioSome;
  return s;
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** Three decimals: shares and milliseconds need no more, and the stored JSON stays small. */
function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
