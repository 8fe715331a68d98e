// Which runs the predictor and the "similar runs" reference may learn from. A slow run still
// finishes "ok"; learned from, each contended run would raise the bar for the next. So beyond a
// complete, real, unthrottled run (predictor.ts eligibleForFit), a healthy run had no contention
// recorded in its context, was not traced, and was not on a synchronous or loop device unless the
// run being judged is on the same. Thresholds are documented in docs/analytics.md.
import type { RunContext } from "../../engine/index.ts";
import type { RunRecord } from "../store/run-record.ts";

/** Contention thresholds: at or above any of these, a run is not healthy (shares are 0..1). */
export const HEALTHY_LIMITS = {
  /** Other processes' CPU share of all CPUs. */
  othersCpuShare: 0.25,
  /** PSI "some" shares of the run's wall time. */
  cpuSome: 0.15,
  ioSome: 0.15,
  memorySome: 0.1,
  /**
   * CPU and I/O pressure count blit's own threads too (its workers wait for the CPUs and the disk
   * like anyone's): CPU pressure counts only with others' CPU at least this share (or unknown),
   * and I/O pressure only when no end has device counters to tell whose I/O it was.
   */
  pressureOthersCpu: 0.1,
  /** Others' share of an end's device I/O, counted when the device was busy at least this much. */
  othersIoShare: 0.3,
  othersIoMinUtilisation: 0.2,
} as const;

/** Why `context` shows contention (one phrase per fact), or an empty list. */
export function contentionIn(context: RunContext | undefined): string[] {
  if (!context) return [];
  const L = HEALTHY_LIMITS;
  const out: string[] = [];
  if ((context.othersCpuShare ?? 0) >= L.othersCpuShare) out.push("other processes' CPU");
  const p = context.pressure;
  const othersCpuKnownLow = context.othersCpuShare !== undefined && context.othersCpuShare < L.pressureOthersCpu;
  if (p && p.cpuSome >= L.cpuSome && !othersCpuKnownLow) out.push("CPU pressure");
  if (p && p.ioSome >= L.ioSome && !context.devices.some((d) => d.disk)) out.push("I/O pressure");
  if (p && p.memorySome >= L.memorySome) out.push("memory pressure");
  for (const d of context.devices) {
    const disk = d.disk;
    if (!disk || disk.utilisation < L.othersIoMinUtilisation) continue;
    if (Math.max(disk.othersReadShare ?? 0, disk.othersWriteShare ?? 0) >= L.othersIoShare) out.push(`others' I/O on the ${d.role} device`);
  }
  if (context.tracer) out.push(`traced by ${context.tracer.name}`);
  if ((context.openers ?? []).some((o) => o.files > 0)) out.push("other processes on the destination's files");
  return out;
}

/**
 * The run's unusual device setup, "" for an ordinary one: a synchronous mount or a loop device at
 * either end ("destination:sync", "source:loop"). Rotational disks and network filesystems are a
 * setup people live on; their filesystem pair gets its own model, so they are not left out.
 */
export function deviceSignature(context: RunContext | undefined): string {
  if (!context) return "";
  return context.devices
    .flatMap((d) => [d.sync ? `${d.role}:sync` : "", d.deviceClass === "loop" ? `${d.role}:loop` : ""])
    .filter(Boolean)
    .sort()
    .join(",");
}

/**
 * Why a complete run should not be learned from when judging `like` (undefined: it may).
 * `like` is the run being diagnosed, if any: runs on its own unusual device setup are its peers.
 */
export function unhealthyReason(run: RunRecord, like?: Pick<RunRecord, "context">): string | undefined {
  if (run.errorCount > 0) return "errors";
  const contention = contentionIn(run.context);
  if (contention.length > 0) return contention.join(", ");
  const device = deviceSignature(run.context);
  if (device !== "" && device !== deviceSignature(like?.context)) return `device ${device}`;
  return undefined;
}
