// Causes as rules over the evidence of the machine around a run (context-evidence.ts): CPU and I/O
// contention, a slow or synchronous device, a cold page cache, a scanner on the destination, a
// tracer. Each rule holds only when its facts do, cites them by id, and estimates how much of the
// slowdown it accounts for, so the explainer can put the biggest first. Every cause carries one
// `kind` of CAUSE_KINDS (the list in the README), so scripts can count causes without reading
// sentences. Pure functions of the evidence (and of which tools exist here, for suggestions).
import { CLASS_TEXT } from "./context-evidence.ts";
import type { DeviceContext } from "../../engine/index.ts";
import type { Evidence } from "./evidence.ts";
import type { Cause, Suggestion } from "./explanation.ts";
import { HEALTHY_LIMITS } from "../predict/healthy-runs.ts";
import { formatDuration } from "../store/human-units.ts";

/** The one list of cause kinds (README "blit diagnose": cause kinds; docs/analytics.md). */
export const CAUSE_KINDS = [
  "bwlimit",
  "workers",
  "cpu-contention",
  "io-contention",
  "slow-device",
  "cold-cache",
  "enumeration",
  "scanner",
  "tracer",
  "fast-path",
  "metadata",
  "stall",
  "deletes",
  "errors",
  "outside-load",
  "unexplained",
] as const;
export type CauseKind = (typeof CAUSE_KINDS)[number];

/** A cause with what it suggests, its kind, and the ms of the run it is estimated to account for. */
export interface Finding {
  kind: CauseKind;
  /** A few words for the summary. */
  short: string;
  impactMs: number;
  cause: Cause;
  suggestion?: Suggestion;
}

/** A run slower than what runs like it take by this ratio (and MIN_EXCESS_MS) lets contention facts count. */
export const SLOWER_RATIO = 1.2;
export const MIN_EXCESS_MS = 200;
/** A device answering slower than this per request (ms) is slow for a copy. */
export const AWAIT_SLOW_MS = 20;
/** A device busy this share of the run with few others' bytes: blit alone saturated it. */
export const SATURATED = 0.8;
/** Sampled source pages resident at or below this share: a cold cache. */
export const COLD_CACHE = 0.5;
/** Others' CPU share below which CPU pressure is blit's own, not contention. */
export const OTHERS_CPU_FLOOR = 0.1;
/** Classes that are slow for many small writes, compared with the local SSDs most history is from. */
const SLOW_CLASSES = new Set(["rotational", "loop", "network", "fuse"]);
/** A sync mount's weight: above any contention finding's (at most 1), since the mount decides. */
const SYNC_WEIGHT = 1.5;
/** How much others' I/O on another device counts while an end is mounted sync. */
const SYNC_SHADOW = 0.5;
/** Classes without block-device counters. */
const NO_COUNTERS = new Set(["network", "fuse"]);
/** Busy share of the run above which a slow-class device counts as the limit. */
const BUSY = 0.5;

/** The facts of one bundle by key, and the helpers every rule needs. */
export class Facts {
  private readonly byKey: Map<string, Evidence>;
  constructor(readonly evidence: readonly Evidence[]) {
    this.byKey = new Map(evidence.map((e) => [e.key, e]));
  }
  get(key: string): Evidence | undefined {
    return this.byKey.get(key);
  }
  has(key: string): boolean {
    return this.byKey.has(key);
  }
  num(key: string): number | undefined {
    const v = this.byKey.get(key)?.value;
    return typeof v === "number" ? v : undefined;
  }
  str(key: string): string | undefined {
    const v = this.byKey.get(key)?.value;
    return typeof v === "string" ? v : undefined;
  }
  part(key: string, name: string): number | undefined {
    const v = this.byKey.get(key)?.parts?.[name];
    return typeof v === "number" ? v : undefined;
  }
  /** Ids of the facts with these keys that exist, in order. */
  ids(...keys: string[]): string[] {
    return [...new Set(keys.flatMap((k) => (this.byKey.has(k) ? [this.byKey.get(k)!.id] : [])))];
  }
  keys(prefix: string): string[] {
    return this.evidence.filter((e) => e.key.startsWith(prefix)).map((e) => e.key);
  }
}

/** Whether a tool is installed here (Bun.which by default; tests pass their own). */
export type Which = (tool: string) => boolean;
export const whichOnPath: Which = (tool) => Bun.which(tool) !== null;

/** Where to get the usual tools on Linux when they are missing. */
const PACKAGES: Record<string, string> = {
  iostat: "sysstat",
  pidstat: "sysstat",
  iotop: "iotop",
  vmtouch: "vmtouch",
};

/** `command` when its tool exists here, else how to get the tool first. */
export function toolCommand(which: Which, command: string): string {
  const tool = command.split(/\s+/)[0]!;
  if (which(tool)) return `\`${command}\``;
  const pkg = PACKAGES[tool] ?? tool;
  return `\`${command}\` (not installed here: \`apt-get install ${pkg}\` or \`dnf install ${pkg}\`)`;
}

/** A shell word: quoted when it needs to be. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The run again, as the person typed it in essence: `blit mirror SRC DST` with its real paths. */
export function rerunCommand(f: Facts): string | undefined {
  const command = f.get("run")?.parts?.command;
  const source = f.str("run.source");
  const destination = f.str("run.destination");
  if (typeof command !== "string" || source === undefined || destination === undefined) return undefined;
  return `blit ${command} ${shellWord(source)} ${shellWord(destination)}`;
}

/** How slow the run was against runs like it. */
export interface Slowness {
  totalMs: number;
  expectedMs: number;
  excessMs: number;
  peerRatio: number;
  /** Slower than runs like it by SLOWER_RATIO and MIN_EXCESS_MS: enough for contention facts to count. */
  slower: boolean;
  /** Beyond the model's 80% band, or flagged slow: enough for a rule without context facts. */
  outside: boolean;
}

export function slownessOf(f: Facts): Slowness {
  const totalMs = f.num("duration.total") ?? 0;
  const expectedMs = f.num("prediction.expected") ?? f.num("prediction") ?? totalMs;
  const peerRatio = f.part("prediction.expected", "peerRatio") ?? (expectedMs > 0 ? totalMs / expectedMs : 1);
  const excessMs = Math.max(0, totalMs - expectedMs);
  const bandHigh = f.part("prediction.expected", "bandHighMs");
  const flagged = f.has("flag.slow-vs-prediction") || f.has("flag.throughput-collapse");
  return {
    totalMs,
    expectedMs,
    excessMs,
    peerRatio,
    slower: flagged || (peerRatio >= SLOWER_RATIO && excessMs >= MIN_EXCESS_MS),
    outside: flagged || (bandHigh !== undefined && totalMs > bandHigh && excessMs >= MIN_EXCESS_MS),
  };
}

const pct = (x: number) => `${Math.round(x)}%`;

/** The findings the run's context supports, each with its strength (0..1) as impact weight. */
export function contextFindings(f: Facts, which: Which = whichOnPath): Finding[] {
  if (!f.has("context.self-cpu")) return [];
  const s = slownessOf(f);
  const weighted: { weight: number; finding: Omit<Finding, "impactMs"> }[] = [];
  const rerun = rerunCommand(f);
  const expectedText = `about ${formatDuration(s.expectedMs)}, what runs like it take, instead of ${formatDuration(s.totalMs)}`;
  const slowBy = `the run took ${formatDuration(s.totalMs)}, ${s.peerRatio.toFixed(1)}× what runs like it take (${formatDuration(s.expectedMs)})`;
  // The tracer: TracerPid seen during the run, or a trace `blit trace record` took around it.
  const tracerKey = f.has("context.tracer") ? "context.tracer" : f.keys("trace.").find((k) => k.endsWith(".tracer"));
  const traced = tracerKey !== undefined;

  // Tracer: shown whenever the run was traced; the whole excess is its cost.
  if (tracerKey) {
    const name = f.str(tracerKey)!;
    const pid = f.part(tracerKey, "pid");
    const how = name === "strace" || name === "gdb" || tracerKey === "context.tracer" ? "the tracer stops blit at every system call" : "the tracer adds its own work to every event it records";
    weighted.push({
      weight: 1,
      finding: {
        kind: "tracer",
        short: `traced by ${name}`,
        cause: {
          kind: "tracer",
          text: `The run was traced by ${name}${pid !== undefined ? ` (pid ${pid})` : ""}: ${how}, so ${s.excessMs > 0 ? `about ${formatDuration(s.excessMs)} of its ${formatDuration(s.totalMs)} (${s.peerRatio.toFixed(1)}× what runs like it take) is the tracer's own cost` : `its timings include the tracer's cost`}. Its rates and worker counts say little about an untraced run, so no other change is suggested from it.`,
          evidence: f.ids(tracerKey, "duration.total", "prediction.expected", "context.self-cpu"),
          confidence: s.slower ? "high" : "medium",
        },
        suggestion: {
          text: `Judge the copy from an untraced run: ${rerun ? `\`${rerun}\`` : "run it again"} without ${name}, then \`blit diagnose --last\`.`,
          expectedEffect: s.excessMs > 0 ? expectedText : "timings without the tracer's cost",
          evidence: f.ids(tracerKey, "prediction.expected"),
        },
      },
    });
  }
  if (!s.slower) return finish(weighted, s);

  // CPU contention: other processes' CPU, or tasks waiting for a CPU. A tracer's own CPU counts as
  // others', so a traced run gets the tracer cause instead.
  const othersCpu = (f.num("context.others-cpu") ?? 0) / 100;
  const cpuSome = (f.num("context.psi.cpu") ?? 0) / 100;
  // CPU pressure counts blit's own threads too: with others' CPU recorded as near nil, it is not theirs.
  const othersKnownIdle = f.has("context.others-cpu") && othersCpu < OTHERS_CPU_FLOOR;
  if (!traced && (othersCpu >= HEALTHY_LIMITS.othersCpuShare || (cpuSome >= HEALTHY_LIMITS.cpuSome && !othersKnownIdle))) {
    const cpus = f.num("context.cpus");
    weighted.push({
      weight: Math.max(othersCpu, cpuSome),
      finding: {
        kind: "cpu-contention",
        short: "CPU contention from other processes",
        cause: {
          kind: "cpu-contention",
          text: `Other processes competed for the CPUs: ${f.has("context.others-cpu") ? `they used ${pct(othersCpu * 100)} of all ${cpus ?? "the"} CPUs` : "the CPUs were contended"}${f.has("context.psi.cpu") ? `, and some task waited for a CPU ${pct(cpuSome * 100)} of the run` : ""}; ${slowBy}.`,
          evidence: f.ids("context.others-cpu", "context.psi.cpu", "context.load", "context.cpus", "context.self-cpu", "prediction.expected"),
          confidence: othersCpu >= HEALTHY_LIMITS.othersCpuShare && cpuSome >= HEALTHY_LIMITS.cpuSome ? "high" : "medium",
        },
        suggestion: {
          text: `See what is using the CPUs with ${toolCommand(which, "ps -eo pid,pcpu,comm --sort=-pcpu")} (the first lines), and run the copy when they are idle${rerun ? `: \`${rerun}\`` : ""}.`,
          expectedEffect: expectedText,
          evidence: f.ids("context.others-cpu", "context.psi.cpu", "prediction.expected"),
        },
      },
    });
  }

  // Per end: I/O by other processes on the same device, or a slow or synchronous device.
  const ioSome = (f.num("context.psi.io") ?? 0) / 100;
  const deviceName = (role: string) => f.get(`device.${role}`)?.text.match(/ is on (\S+) \(/)?.[1];
  // Both ends on one device: one finding for that device (the first end that shows one), naming both ends.
  const shared = deviceName("source") !== undefined && deviceName("source") === deviceName("destination");
  let sharedReported = false;
  // An end mounted sync: the other end's "others' I/O" may be that end's own writes reaching its
  // backing disk (a loop device's file), so it weighs less than the sync mount.
  const syncEnd = f.has("device.destination.sync") || f.has("device.source.sync");
  for (const role of ["destination", "source"] as const) {
    const key = `device.${role}`;
    if (!f.has(key)) continue;
    if (shared && sharedReported) continue;
    const name = deviceName(role) ?? role;
    const found = weighted.length;
    const util = (f.num(`${key}.utilisation`) ?? 0) / 100;
    const others = f.num(`${key}.others-io`);
    const awaitMs = f.num(`${key}.await`);
    const sync = f.has(`${key}.sync`);
    const cls = f.str(key) ?? "unknown";
    const mount = f.str(`${key}.mount-point`);

    // A sync mount is decided by the mount itself: every write waits, whoever else is on the
    // device (a loop device's own writeback to its backing disk shows as "others'" I/O there).
    if (!sync && others !== undefined && others / 100 >= HEALTHY_LIMITS.othersIoShare && (util >= HEALTHY_LIMITS.othersIoMinUtilisation || ioSome >= HEALTHY_LIMITS.ioSome)) {
      weighted.push({
        weight: (others / 100) * Math.max(util, ioSome) * (syncEnd ? SYNC_SHADOW : 1),
        finding: {
          kind: "io-contention",
          short: `other processes' I/O on the ${shared ? "source and destination" : role} device`,
          cause: {
            kind: "io-contention",
            text: `Another process's I/O shared the ${shared ? "device of both ends," : `${role} device`} ${name}: ${pct(others)} of the bytes it ${role === "destination" ? "wrote" : "read"} during the run were not blit's, with the device busy ${pct(util * 100)} of the run${awaitMs !== undefined ? ` at ${awaitMs.toPrecision(3)} ms per request` : ""}${f.has("context.psi.io") ? ` and I/O pressure ${pct(ioSome * 100)}` : ""}; ${slowBy}.`,
            evidence: f.ids(`${key}.others-io`, `${key}.utilisation`, `${key}.await`, "context.psi.io", key, "prediction.expected"),
            confidence: util >= 0.5 ? "high" : "medium",
          },
          suggestion: {
            text: `See which process does the I/O with ${toolCommand(which, "pidstat -d 1 5")} or ${toolCommand(which, `iostat -dx ${name} 1 5`)}, and schedule the copy away from it${rerun ? ` (then \`${rerun}\`)` : ""}.`,
            expectedEffect: expectedText,
            evidence: f.ids(`${key}.others-io`, "prediction.expected"),
          },
        },
      });
      sharedReported = shared;
      continue;
    }

    const slowAwait = awaitMs !== undefined && awaitMs >= AWAIT_SLOW_MS;
    const saturated = util >= SATURATED && (others === undefined || others / 100 < HEALTHY_LIMITS.othersIoShare);
    // A class alone is weak evidence where the device has counters: virtual disks often call
    // themselves rotational. There the device must also have been busy; a network or FUSE
    // filesystem has no counters, so its class and an unexplained slowness are what there is.
    const classSlow = SLOW_CLASSES.has(cls) && (slowAwait || saturated || (s.outside && (NO_COUNTERS.has(cls) || util >= BUSY)));
    if (sync || classSlow || slowAwait || (saturated && role === "destination")) {
      const why = [
        sync && `mounted sync, so every write waits until ${name} has it`,
        SLOW_CLASSES.has(cls) && `${name} is ${CLASS_TEXT[cls as DeviceContext["deviceClass"]] ?? cls}`,
        slowAwait && `${awaitMs!.toPrecision(3)} ms per request`,
        util > 0 && `busy ${pct(util * 100)} of the run${others !== undefined ? `, ${pct(others)} of its bytes others'` : ""}`,
      ].filter(Boolean).join("; ");
      const remount = sync && mount !== undefined;
      weighted.push({
        weight: sync ? SYNC_WEIGHT : Math.max(SLOW_CLASSES.has(cls) ? 0.5 : 0, slowAwait ? Math.min(1, 0.5 + awaitMs! / 200) : 0, saturated ? 0.6 : 0),
        finding: {
          kind: "slow-device",
          short: sync ? `${role} mounted sync` : `slow ${role} device`,
          cause: {
            kind: "slow-device",
            text: `The ${role} device set the pace: ${why}. No other process's load explains it${f.has("context.others-cpu") ? ` (others' CPU ${pct(othersCpu * 100)})` : ""}; ${slowBy}.`,
            evidence: f.ids(`${key}.sync`, key, `${key}.await`, `${key}.utilisation`, `${key}.others-io`, "context.psi.io", "context.others-cpu", "prediction.expected"),
            confidence: sync || slowAwait ? "high" : "medium",
          },
          suggestion: remount
            ? {
                text: `Unless the ${role} needs synchronous writes, remount it without sync: \`mount -o remount,async ${shellWord(mount!)}\` (and drop sync from its /etc/fstab line), then ${rerun ? `\`${rerun}\`` : "run again"}.`,
                expectedEffect: expectedText,
                evidence: f.ids(`${key}.sync`, `${key}.mount-point`, "prediction.expected"),
              }
            : cls === "loop"
            ? {
                text: `The ${role} is a file-backed loop device: see its backing file with ${toolCommand(which, "losetup -l")} and copy to that file's own filesystem instead, or put the image on a faster disk.`,
                expectedEffect: `the ${role}'s writes go to the backing disk once instead of through the loop device`,
                evidence: f.ids(key, `${key}.await`),
              }
            : {
                text: `Watch the device during a copy with ${toolCommand(which, `iostat -dx ${name} 1 5`)}; a copy to a faster local disk${rerun ? ` (then \`${rerun}\`)` : ""} or fewer writers at once helps a slow one.`,
                expectedEffect: expectedText,
                evidence: f.ids(key, `${key}.await`, `${key}.utilisation`),
              },
        },
      });
    }
    if (weighted.length > found) sharedReported = shared;
  }

  // A scanner: other processes held files under the destination open during the run.
  for (const key of f.keys("context.opener.")) {
    const name = f.str(key) ?? "another process";
    const pid = f.part(key, "pid");
    const files = f.part(key, "files") ?? 0;
    if (files < 1) continue;
    const destination = f.str("run.destination");
    // A reader of the destination also shows as others' CPU and I/O: when it is there, it is the
    // likelier author of that load, so it ranks above the anonymous contention it explains.
    const contention = Math.max(0, ...weighted.filter((w) => w.finding.kind === "cpu-contention" || w.finding.kind === "io-contention").map((w) => w.weight));
    weighted.push({
      weight: Math.max(Math.min(0.9, 0.3 + files / 100), contention > 0 ? contention + 0.05 : 0),
      finding: {
        kind: "scanner",
        short: `${name} reading the destination`,
        cause: {
          kind: "scanner",
          text: `${name} (pid ${pid ?? "?"}) read the files being written: it held ${files.toLocaleString("en-US")} file${files === 1 ? "" : "s"} under the destination open during the run; its opens and reads compete with blit's writes and can hold each new file until it has read it. ${slowBy[0]!.toUpperCase()}${slowBy.slice(1)}.`,
          evidence: f.ids(key, "run.destination", "prediction.expected"),
          confidence: "medium",
        },
        suggestion: {
          text: `See what it is with ${toolCommand(which, `ps -o pid,comm,args -p ${pid ?? 1}`)}; pause it during the copy or exclude ${destination ? shellWord(destination) : "the destination"} from what it scans or indexes${rerun ? `, then \`${rerun}\`` : ""}.`,
          expectedEffect: expectedText,
          evidence: f.ids(key, "prediction.expected"),
        },
      },
    });
  }

  // A cold page cache: the source had to come from the disk.
  const cached = f.num("context.source-cached");
  const enumShare = f.num("share.enumerate") ?? 0;
  const srcUtil = (f.num("device.source.utilisation") ?? 0) / 100;
  const srcOthers = f.num("device.source.others-io");
  const coldByPages = cached !== undefined && cached / 100 <= COLD_CACHE;
  const coldByReads = cached === undefined && (f.has("flag.enumeration-heavy") || enumShare >= 50) && srcUtil >= 0.3 && (srcOthers === undefined || srcOthers / 100 < HEALTHY_LIMITS.othersIoShare);
  if (coldByPages || coldByReads) {
    const source = f.str("run.source");
    weighted.push({
      weight: coldByPages ? 1 - cached! / 100 : 0.5,
      finding: {
        kind: "cold-cache",
        short: "cold page cache",
        cause: {
          kind: "cold-cache",
          text: `The source was not in the page cache: ${coldByPages ? `${pct(cached!)} of the sampled files' pages were resident before the copy` : `enumeration took ${pct(enumShare)} of the run while the source device was busy ${pct(srcUtil * 100)} reading`}, so directories and files came from the disk. ${slowBy[0]!.toUpperCase()}${slowBy.slice(1)}.`,
          evidence: f.ids("context.source-cached", "share.enumerate", "phase.enumerate", "device.source.utilisation", "device.source.await", "context.self-cpu", "prediction.expected"),
          confidence: coldByPages ? "high" : "medium",
        },
        suggestion: {
          text: `A run right after this one finds the cache warm; to warm the tree ahead of a scheduled run, walk it first: \`find ${source ? shellWord(source) : "."} > /dev/null\`${which("vmtouch") && source ? ` (or \`vmtouch -t ${shellWord(source)}\` for the file contents too)` : ""}.`,
          expectedEffect: expectedText,
          evidence: f.ids("context.source-cached", "phase.enumerate", "prediction.expected"),
        },
      },
    });
  }
  return finish(weighted, s);
}

/** Shares the run's excess among the findings by their weight. */
function finish(weighted: { weight: number; finding: Omit<Finding, "impactMs"> }[], s: Slowness): Finding[] {
  const total = weighted.reduce((a, w) => a + w.weight, 0);
  return weighted.map((w) => ({ ...w.finding, impactMs: total > 0 ? (s.excessMs * w.weight) / total : 0 }));
}

/** Kinds whose advice rests on the run's own rates and counts: not made from a traced run. */
const NOT_FROM_TRACED: ReadonlySet<CauseKind> = new Set(["workers", "fast-path", "metadata", "cpu-contention", "outside-load", "unexplained", "enumeration"]);

/**
 * The findings to show, biggest share of the slowdown first: a traced run keeps the tracer and
 * what its rates cannot distort (a --bwlimit, a device, another process's I/O, errors); the
 * cold-cache finding replaces the plain enumeration one; ties keep the rules' order.
 */
export function rankFindings(findings: readonly Finding[]): Finding[] {
  const traced = findings.some((x) => x.kind === "tracer");
  const cold = findings.some((x) => x.kind === "cold-cache");
  return findings
    .map((finding, order) => ({ finding, order }))
    .filter(({ finding }) => !(traced && NOT_FROM_TRACED.has(finding.kind)) && !(cold && finding.kind === "enumeration"))
    .sort((a, b) => b.finding.impactMs - a.finding.impactMs || a.order - b.order)
    .map(({ finding }) => finding);
}
