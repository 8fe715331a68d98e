// The facts the machine around a run adds to its evidence bundle (engine RunContext), under
// stable keys the cause rules (causes.ts) cite: blit's own CPU, the others' CPU share, pressure
// (PSI), load against the CPU count, each end's device (class, filesystem, mount options, sync,
// utilisation, latency, the others' share of its I/O), a tracer, other processes holding files
// under the destination, and the source's page-cache state. A field the platform could not give
// adds no fact (never a zero). Paths appear only in the sentences, where --redact finds them.
import type { DeviceContext, RunContext } from "../../engine/index.ts";
import { formatDuration } from "../store/human-units.ts";
import type { AddFact } from "./trace-evidence.ts";

const pct = (x: number) => `${Math.round(x * 100)}%`;
const ms = (x: number) => `${Number(x.toPrecision(3))} ms`;

export const CLASS_TEXT: Record<DeviceContext["deviceClass"], string> = {
  ssd: "a solid-state disk",
  rotational: "a rotational disk",
  loop: "a loop device (a file on another filesystem)",
  network: "a network filesystem",
  fuse: "a FUSE filesystem",
  memory: "memory (tmpfs)",
  unknown: "a device of unknown class",
};

/** Adds the facts of `context` for a run that took `totalMs`. */
export function addContextEvidence(add: AddFact, context: RunContext, totalMs: number): void {
  const c = context;
  const wall = Math.max(1, totalMs);
  const selfMs = c.self.userMs + c.self.systemMs;
  add(
    "context.self-cpu",
    "blit's own CPU time",
    selfMs,
    "ms",
    `blit used ${formatDuration(c.self.userMs)} user and ${formatDuration(c.self.systemMs)} system CPU over ${formatDuration(totalMs)} of wall time (${(selfMs / wall).toFixed(2)} cores busy on average); ${c.self.involuntaryCtxSwitches.toLocaleString("en-US")} involuntary context switches, ${c.self.majorFaults.toLocaleString("en-US")} major faults`,
    { userMs: c.self.userMs, systemMs: c.self.systemMs, coresBusy: selfMs / wall, involuntaryCtxSwitches: c.self.involuntaryCtxSwitches, majorFaults: c.self.majorFaults },
  );
  add("context.cpus", "online CPUs", c.cpuCount, "cores", `the machine had ${c.cpuCount} online CPU${c.cpuCount === 1 ? "" : "s"} when the run started`);
  const load = Math.max(c.load.start, c.load.end);
  add(
    "context.load",
    "load average per CPU",
    c.cpuCount > 0 ? load / c.cpuCount : load,
    "× cpus",
    `1-minute load average ${c.load.start.toFixed(2)} at the start and ${c.load.end.toFixed(2)} at the end, ${(c.cpuCount > 0 ? load / c.cpuCount : load).toFixed(2)} per CPU at its highest`,
    { start: c.load.start, end: c.load.end },
  );
  if (c.othersCpuShare !== undefined) {
    add("context.others-cpu", "other processes' CPU share", c.othersCpuShare * 100, "%", `other processes used ${pct(c.othersCpuShare)} of all ${c.cpuCount} CPUs during the run`);
  }
  if (c.pressure) {
    const p = c.pressure;
    add("context.psi.cpu", "CPU pressure", p.cpuSome * 100, "%", `CPU pressure: some task waited for a CPU ${pct(p.cpuSome)} of the run (/proc/pressure/cpu)`);
    add("context.psi.io", "I/O pressure", p.ioSome * 100, "%", `I/O pressure: some task stalled on I/O ${pct(p.ioSome)} of the run, all tasks ${pct(p.ioFull)} (/proc/pressure/io)`, { some: p.ioSome * 100, full: p.ioFull * 100 });
    add("context.psi.memory", "memory pressure", p.memorySome * 100, "%", `memory pressure: some task stalled on memory ${pct(p.memorySome)} of the run (/proc/pressure/memory)`);
  }
  for (const d of c.devices) addDevice(add, d);
  if (c.tracer) {
    add("context.tracer", "tracer", c.tracer.name, "", `the run was traced by ${c.tracer.name} (pid ${c.tracer.pid}, TracerPid of blit): every system call it made stopped for the tracer`, { pid: c.tracer.pid, name: c.tracer.name });
  }
  if (c.sourceCached !== undefined) {
    add("context.source-cached", "source pages cached", c.sourceCached * 100, "%", `before the copy, ${pct(c.sourceCached)} of the sampled source files' pages were in the page cache`);
  }
  for (const [i, o] of (c.openers ?? []).entries()) {
    add(`context.opener.${i + 1}`, `other process on the destination`, o.name, "", `${o.name} (pid ${o.pid}) held ${o.files.toLocaleString("en-US")} file${o.files === 1 ? "" : "s"} under the destination open during the run`, { pid: o.pid, name: o.name, files: o.files });
  }
}

function addDevice(add: AddFact, d: DeviceContext): void {
  const key = `device.${d.role}`;
  const options = d.mountOptions.length > 0 ? d.mountOptions.join(",") : "defaults";
  add(
    key,
    `${d.role} device`,
    d.deviceClass,
    "",
    `the ${d.role} ${d.path} is on ${d.device} (${CLASS_TEXT[d.deviceClass]}), ${d.fsType} mounted at ${d.mountPoint} with ${options}${d.sync ? " (synchronous writes)" : ""}`,
    { fsType: d.fsType, sync: d.sync ? "yes" : "no" },
  );
  add(`${key}.mount-point`, `${d.role} mount point`, d.mountPoint, "", `the ${d.role}'s filesystem is mounted at ${d.mountPoint}`);
  if (d.sync) add(`${key}.sync`, `${d.role} mounted sync`, true, "", `the ${d.role}'s filesystem is mounted sync (or its device is write-through): each write waits for the device`);
  const disk = d.disk;
  if (!disk) return;
  add(`${key}.utilisation`, `${d.role} device utilisation`, disk.utilisation * 100, "%", `${d.device} was busy ${pct(disk.utilisation)} of the run (${formatDuration(disk.busyMs)})`, { busyMs: disk.busyMs });
  const awaitMs = d.role === "destination" ? disk.writeAwaitMs ?? disk.readAwaitMs : disk.readAwaitMs ?? disk.writeAwaitMs;
  if (awaitMs !== null) {
    add(
      `${key}.await`,
      `${d.role} device latency`,
      awaitMs,
      "ms",
      `${d.device}: ${disk.readAwaitMs === null ? "no reads" : `${ms(disk.readAwaitMs)} per read`}, ${disk.writeAwaitMs === null ? "no writes" : `${ms(disk.writeAwaitMs)} per write`} on average (queue + service)`,
      { ...(disk.readAwaitMs !== null ? { readAwaitMs: disk.readAwaitMs } : {}), ...(disk.writeAwaitMs !== null ? { writeAwaitMs: disk.writeAwaitMs } : {}) },
    );
  }
  const others = d.role === "destination" ? disk.othersWriteShare ?? disk.othersReadShare : disk.othersReadShare ?? disk.othersWriteShare;
  if (others !== null) {
    add(
      `${key}.others-io`,
      `others' share of ${d.role} I/O`,
      others * 100,
      "%",
      `of the bytes ${d.device} ${d.role === "destination" ? "wrote" : "read"} during the run, ${pct(others)} were not blit's (reads ${disk.othersReadShare === null ? "unknown" : pct(disk.othersReadShare)}, writes ${disk.othersWriteShare === null ? "unknown" : pct(disk.othersWriteShare)})`,
      { ...(disk.othersReadShare !== null ? { readShare: disk.othersReadShare * 100 } : {}), ...(disk.othersWriteShare !== null ? { writeShare: disk.othersWriteShare * 100 } : {}) },
    );
  }
}
