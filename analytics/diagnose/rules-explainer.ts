// The offline explainer: fixed rules that read the evidence bundle and name causes and
// suggestions, each citing the facts it rests on. It reads only the evidence (never the raw
// run), so what it says can be checked against what an LLM explainer would be shown.
import { contextFindings, Facts, rankFindings, rerunCommand, shellWord, slownessOf, toolCommand, whichOnPath, type Finding, type Which } from "./causes.ts";
import type { Evidence } from "./evidence.ts";
import type { Explanation } from "./explanation.ts";
import { countOf, formatBytes, formatBytesPerSec, formatDuration, MIB } from "../store/human-units.ts";

/** Small-file rule: share of files under 64 KiB, files transferred, and the transfer phase's weight. */
const SMALL_SHARE_PCT = 80;
const SMALL_MIN_FILES = 500;
const TRANSFER_SHARE_PCT = 30;
const TRANSFER_MIN_MS = 1000;
/** Too many workers: similar runs with fewer handled files this much faster. */
const TOO_MANY_GAIN = 1.25;
/** Enumeration rule. */
const ENUM_SHARE_PCT = 50;
const ENUM_MIN_TOTAL_MS = 1000;
/** Fast-path rule: userspace copying matters once it carries this share and this many bytes... */
const STREAM_SHARE = 0.5;
const STREAM_MIN_BYTES = 10e6;
/** ...and the in-kernel copy would save this part of the byte cost, at least this much of the run. */
const STREAM_SAVING = 0.3;
const FASTPATH_MIN_SAVING_MS = 200;
const FASTPATH_MIN_SAVING_SHARE = 0.05;
const CLONE_MIN_BYTES = 100e6;
/** Filesystems whose copies within themselves are clones (reflink): XFS made with reflink=1, Btrfs, bcachefs. */
const CLONING_FS: ReadonlySet<string> = new Set(["xfs", "btrfs", "bcachefs"]);
/**
 * The part of a copy's transfer phase a clone saves: 8 x 64 MiB took 29-33 ms cloned within an
 * XFS and 144-188 ms copied from it to ext4 (sendfile) on this project's machine (docs/benchmarks.md).
 */
const CLONE_SAVING_SHARE = 0.8;
const THROTTLE_SHARE = 0.7;
/**
 * Trace rules. Another process on blit's files matters once it touched this many of them and had
 * this share of the trace's events, or its operations on them summed to this share of the span.
 */
const SHARED_MIN_FILES = 3;
const SHARED_EVENT_SHARE_PCT = 10;
const SHARED_TIME_SHARE_PCT = 10;
/** Metadata-bound: metadata calls' share of the traced operation time, and their least total. */
const TRACE_METADATA_SHARE_PCT = 70;
const TRACE_METADATA_MIN_S = 0.5;
/** Stall: the longest stretch without progress, as a share of the traced span, and its least length. */
const STALL_SPAN_SHARE_PCT = 25;
const STALL_MIN_S = 1;
/** What a process on blit's files is, and how to keep it off them: the usual scanners and indexers. */
const KNOWN_WATCHERS: { match: RegExp; what: string; remedy: (destination: string) => string }[] = [
  {
    match: /^(msmpeng|mpdefendercoreservice|nissrv)(\.exe)?$/i,
    what: "Microsoft Defender's real-time scanner",
    remedy: (dst) => `Exclude the destination from Defender's real-time scanning, in an elevated PowerShell: Add-MpPreference -ExclusionPath '${dst.replace(/'/g, "''")}' (and scan it once after the copy if policy requires).`,
  },
  {
    match: /^(searchindexer|searchprotocolhost|searchfilterhost)(\.exe)?$/i,
    what: "the Windows Search indexer",
    remedy: (dst) => `Remove ${dst} from the indexed locations (Indexing Options: control.exe srchadmin.dll), or index it after the copy.`,
  },
  {
    match: /^(updatedb|updatedb\.mlocate|updatedb\.plocate|plocate-build)$/,
    what: "the locate database updater",
    remedy: (dst) => `Add ${dst} to PRUNEPATHS in /etc/updatedb.conf, or schedule updatedb away from the copy.`,
  },
];

export interface RulesOptions {
  /** Whether a tool exists on this machine, for the commands suggestions name (Bun.which by default). */
  which?: Which;
}

/**
 * Explains one run from its evidence. Deterministic for a given set of installed tools; every
 * citation names a fact of `evidence`; causes come biggest share of the slowdown first.
 */
export function explainWithRules(evidence: readonly Evidence[], options: RulesOptions = {}): Explanation {
  const which = options.which ?? whichOnPath;
  const f = new Facts(evidence);
  const facts = new Map(evidence.map((e) => [e.key, e]));
  const get = (key: string) => f.get(key);
  const num = (key: string) => f.num(key);
  const ids = (...keys: string[]) => f.ids(...keys);
  const total = num("duration.total") ?? 0;
  const slowness = slownessOf(f);
  const rerun = rerunCommand(f);
  const source = f.str("run.source");
  const destination = f.str("run.destination");
  const tuneCommand = source !== undefined && destination !== undefined ? `blit tune ${shellWord(source)} ${shellWord(destination)}` : "blit tune";
  const findings: Finding[] = [];

  // 1. A bandwidth limit that set the pace.
  const bw = num("options.bwlimit");
  const rate = num("rate.transfer");
  if (bw && bw > 0 && rate !== undefined && (rate * MIB) / bw >= THROTTLE_SHARE) {
    const unthrottled = num("prediction.unthrottled");
    findings.push({
      kind: "bwlimit",
      short: "throttled by --bwlimit",
      impactMs: Math.max(0, total - (unthrottled ?? total)),
      cause: {
        kind: "bwlimit",
        text: `The transfer was throttled by --bwlimit: it moved ${formatBytesPerSec(rate * MIB)} against a limit of ${formatBytesPerSec(bw)} (${Math.round(((rate * MIB) / bw) * 100)}% of it), so the limit, not the disk or the CPU, set the pace.`,
        evidence: ids("options.bwlimit", "rate.transfer", "flag.throttled", "prediction.throttle-floor", "duration.total", "flag.slow-vs-prediction"),
        confidence: "high",
      },
      suggestion: {
        text: "Lift the limit, or raise it if it protects a shared link.",
        flag: "--bwlimit 0",
        expectedEffect:
          unthrottled !== undefined
            ? `about ${formatDuration(unthrottled)} instead of ${formatDuration(total)} (the model's prediction without the limit)`
            : `the transfer phase runs at the disk's own rate instead of ${formatBytesPerSec(bw)}`,
        evidence: ids("options.bwlimit", "prediction.unthrottled", "duration.total"),
      },
    });
  }

  // 2. Many small files, too few workers.
  const smallPct = num("workload.small-files") ?? 0;
  const copied = num("counts.transferred") ?? 0;
  const workers = num("options.workers") ?? 0;
  const transferMs = num("phase.transfer") ?? 0;
  const transferPct = num("share.transfer") ?? 0;
  const cores = num("machine.cores");
  // The worker count runs like this one use: similar runs', else the engine's default for the cores.
  const typicalWorkers = num("similar.workers") ?? (cores !== undefined ? Math.min(16, Math.max(2, cores * 2)) : undefined);
  const fewerThanUsual = typicalWorkers !== undefined ? workers < typicalWorkers : workers === 1;
  if (
    smallPct >= SMALL_SHARE_PCT && copied >= SMALL_MIN_FILES && workers > 0 && (transferPct >= TRANSFER_SHARE_PCT || transferMs >= TRANSFER_MIN_MS) &&
    // An ordinary run with the usual workers gets no advice; a run with fewer, or a slow one, does.
    (fewerThanUsual || slowness.outside || num("tuned.workers") !== undefined)
  ) {
    const tuned = num("tuned.workers");
    const best = num("similar.best-workers");
    const bestRate = num("similar.best-workers-rate");
    const here = num("rate.files");
    let target: number | undefined;
    let basis: "tuned" | "history" | "default" = "default";
    if (tuned !== undefined && tuned > workers) [target, basis] = [tuned, "tuned"];
    else if (best !== undefined && best > workers && bestRate !== undefined && here !== undefined && bestRate > here * 1.1) [target, basis] = [best, "history"];
    else if (cores !== undefined ? workers < cores : workers === 1) {
      // Fewer workers than cores (or a single one on an unknown machine): the engine's own
      // default, two per core from 2 to 16 (4 when the cores are unknown).
      target = cores !== undefined ? Math.min(16, Math.max(2, cores * 2)) : 4;
    }
    if (target !== undefined) {
      let effect: string;
      let afterMs = transferMs;
      if (basis === "history" && bestRate && here) {
        const after = transferMs * (here / bestRate);
        afterMs = after;
        effect = `transfer phase about ${formatDuration(after)} instead of ${formatDuration(transferMs)}, the file rate similar runs reached with ${target} workers`;
      } else if (basis === "tuned") {
        afterMs = transferMs * 0.8;
        effect = `the worker count blit tune measured fastest on this route; the transfer phase (${formatDuration(transferMs)}) should shrink accordingly`;
      } else {
        const gain = cores ? Math.max(1, Math.min(target, cores) / Math.min(workers, cores)) : target / workers;
        afterMs = transferMs / Math.max(gain, target > workers ? 1.25 : 1);
        effect = gain > 1
          ? `at most ~${gain.toFixed(1)}× faster transfer (about ${formatDuration(transferMs / gain)} instead of ${formatDuration(transferMs)}), bounded by ${cores ?? "the"} CPU cores; '${tuneCommand}' measures the real gain`
          : `more files in flight while others wait on metadata; the gain is bounded by ${cores ?? "the number of"} CPU cores, so measure it with '${tuneCommand}'`;
      }
      findings.push({
        kind: "workers",
        short: `small files with ${workers} worker${workers === 1 ? "" : "s"}`,
        impactMs: Math.max(0, transferMs - afterMs),
        cause: {
          kind: "workers",
          text: `Small files dominate (${Math.round(smallPct)}% under 64 KiB, ${copied.toLocaleString("en-US")} transferred) and only ${countOf(workers, "worker")} copied them: the transfer phase took ${Math.round(transferPct)}% of the run${here !== undefined ? ` at ${Math.round(here).toLocaleString("en-US")} files/s` : ""}.`,
          evidence: ids("workload.small-files", "counts.transferred", "options.workers", "share.transfer", "rate.files", "similar.workers", "similar.best-workers", "tuned.workers", "machine.cores"),
          confidence: basis === "default" ? "medium" : "high",
        },
        suggestion: {
          text: `Copy with ${target} workers${basis === "tuned" ? " (what blit tune found fastest)" : basis === "history" ? " (the fastest count among similar runs)" : ""}.`,
          flag: `--workers ${target}`,
          expectedEffect: effect,
          evidence: ids("options.workers", "phase.transfer", "rate.files", "similar.best-workers", "similar.best-workers-rate", "tuned.workers", "machine.cores"),
        },
      });
    }
  }

  // 2b. More workers than runs like it handle best: on a slow run, fewer did better in history.
  {
    const best = num("similar.best-workers");
    const bestRate = num("similar.best-workers-rate");
    const here = num("rate.files");
    if (best !== undefined && best < workers && bestRate !== undefined && here !== undefined && bestRate > here * TOO_MANY_GAIN && copied >= SMALL_MIN_FILES && slowness.outside) {
      const after = transferMs * (here / bestRate);
      findings.push({
        kind: "workers",
        short: `${workers} workers, more than runs like it handle best`,
        impactMs: Math.max(0, transferMs - after),
        cause: {
          kind: "workers",
          text: `${countOf(workers, "worker")} copied ${countOf(copied, "file")} at ${Math.round(here).toLocaleString("en-US")} files/s, while similar runs with ${countOf(best, "worker")} reached ${Math.round(bestRate).toLocaleString("en-US")} files/s${cores !== undefined ? ` on ${countOf(cores, "CPU core")}` : ""}: more workers than the ${cores !== undefined ? "cores and " : ""}device serve well only contend with each other.`,
          evidence: ids("options.workers", "rate.files", "similar.best-workers", "similar.best-workers-rate", "machine.cores", "counts.transferred"),
          confidence: "medium",
        },
        suggestion: {
          text: `Copy with ${best} workers (the fastest count among similar runs)${rerun ? `: \`${rerun} --workers ${best}\`` : ""}, or measure with '${tuneCommand}'.`,
          flag: `--workers ${best}`,
          expectedEffect: `transfer phase about ${formatDuration(after)} instead of ${formatDuration(transferMs)}, the file rate similar runs reached with ${best} workers`,
          evidence: ids("similar.best-workers", "similar.best-workers-rate", "phase.transfer", "rate.files"),
        },
      });
    }
  }

  // 3. Enumeration-bound: walking the trees was most of the run.
  const enumPct = num("share.enumerate") ?? 0;
  // A 0-change mirror is all enumeration: only a flagged share, or a slow run, earns a cause.
  if (get("flag.enumeration-heavy") || (enumPct >= ENUM_SHARE_PCT && total >= ENUM_MIN_TOTAL_MS && slowness.outside)) {
    const entriesPerSec = num("rate.enumerate");
    const zeroChange = copied === 0;
    const enumerateMs = num("phase.enumerate") ?? 0;
    findings.push({
      kind: "enumeration",
      short: "enumeration-bound",
      impactMs: slowness.excessMs > 0 ? Math.min(enumerateMs, slowness.excessMs) : enumerateMs / 2,
      cause: {
        kind: "enumeration",
        text: `Enumeration took ${Math.round(enumPct)}% of the run (${formatDuration(num("phase.enumerate") ?? 0)})${entriesPerSec ? ` at ${Math.round(entriesPerSec).toLocaleString("en-US")} entries/s` : ""}: the run was bound by walking the trees, not by copying${zeroChange ? " (nothing needed copying)" : ""}.`,
        evidence: ids("share.enumerate", "phase.enumerate", "rate.enumerate", "workload.files", "counts.transferred", "flag.enumeration-heavy"),
        confidence: get("flag.enumeration-heavy") ? "high" : "medium",
      },
      suggestion: {
        text: `Find the subtrees with the most entries with ${source !== undefined ? `\`du --inodes -d 1 ${shellWord(source)} | sort -n | tail -5\`` : "`du --inodes -d 1 | sort -n | tail -5` in the source"}, and leave out those that need no syncing with --exclude (e.g. --exclude 'node_modules/'), or mirror only the subdirectory that changes.`,
        expectedEffect: entriesPerSec
          ? `enumeration time falls with the entries left out: about ${formatDuration((100_000 / entriesPerSec) * 1000)} saved per 100,000 entries at this run's rate`
          : "enumeration time falls in proportion to the entries left out",
        evidence: ids("rate.enumerate", "phase.enumerate"),
      },
    });
  }

  // 4. A fast path not taken, when it cost something.
  const notes = evidence.filter((e) => e.key.startsWith("fastpath-note."));
  const pathBytes = evidence.filter((e) => e.key.startsWith("fastpath.")).reduce((a, e) => a + (typeof e.value === "number" ? e.value : 0), 0);
  const streamBytes = num("fastpath.stream") ?? 0;
  const crossDevice = notes.find((e) => /EXDEV|cross-device/i.test(String(e.value)));
  const noReflink = notes.find((e) => e.key === "fastpath-note.reflink" && /EOPNOTSUPP|ENOTSUP|not supported|no reflink/i.test(String(e.value)));
  const slow = get("flag.slow-vs-prediction") !== undefined || get("flag.throughput-collapse") !== undefined;
  const byteMs = num("prediction.term.perByte") ?? 0;
  const fsPair = String(get("fs.pair")?.value ?? "").split("->");
  // A cross-device copy from a filesystem that clones (reflink) lost the clone it could have been.
  const crossClone = fsPair.length === 2 && CLONING_FS.has(fsPair[0]!) && fsPair[0] !== fsPair[1];
  // A clone saves the byte cost (or, when the model has none, the share of the transfer phase a
  // clone saved when measured), never more than the transfer phase took.
  const cloneSavingMs = Math.min(transferMs, Math.max(byteMs, CLONE_SAVING_SHARE * transferMs));
  // Only when it would matter: the in-kernel copy saves about STREAM_SAVING of the byte cost.
  const streamSavingMs = pathBytes > 0 ? byteMs * (streamBytes / pathBytes) * STREAM_SAVING : 0;
  const worthIt = (ms: number) => ms >= FASTPATH_MIN_SAVING_MS && ms >= FASTPATH_MIN_SAVING_SHARE * total;
  if (notes.length > 0 && pathBytes > 0 && streamBytes / pathBytes >= STREAM_SHARE && streamBytes >= STREAM_MIN_BYTES && worthIt(streamSavingMs)) {
    const why = crossDevice
      ? `source and destination are on different filesystems (cross-device, EXDEV), so neither reflink nor copy_file_range could serve`
      : `the faster paths refused (${notes.map((e) => String(e.value)).join("; ")})`;
    findings.push({
      kind: "fast-path",
      short: "bytes copied through userspace",
      impactMs: streamSavingMs,
      cause: {
        kind: "fast-path",
        text: `${formatBytes(streamBytes)} (${Math.round((streamBytes / pathBytes) * 100)}% of the bytes) went through a read/write stream: ${why}.`,
        evidence: ids("fastpath.stream", ...notes.map((e) => e.key), "fs.pair"),
        confidence: crossDevice ? "high" : "medium",
      },
      suggestion: {
        text: crossDevice
          ? "Where you can, keep source and destination on one filesystem (or stage on the destination's), so the kernel can copy the bytes."
          : "Check why the in-kernel copy was refused (the notes above); on a filesystem that supports it the bytes stay in the kernel.",
        expectedEffect: `the ${formatBytes(streamBytes)} now copied through userspace would take the in-kernel path, saving one copy of every byte in memory: about ${formatDuration(streamSavingMs)} of the run's ${formatDuration(byteMs)} byte cost`,
        evidence: ids("fastpath.stream", ...notes.map((e) => e.key), "prediction.term.perByte"),
      },
    });
  } else if (crossDevice && crossClone && pathBytes >= CLONE_MIN_BYTES && worthIt(cloneSavingMs)) {
    // Across filesystems the kernel still copies in place (sendfile), but the clone a copy within
    // the source's filesystem would make is lost: every byte is written out again.
    const [from, to] = fsPair;
    findings.push({
      kind: "fast-path",
      short: "copied across filesystems, not cloned",
      impactMs: cloneSavingMs,
      cause: {
        kind: "fast-path",
        text: `Files were copied across filesystems (${from} -> ${to}, EXDEV), so none could be cloned: ${formatBytes(pathBytes)} were written out, where a copy within the source's ${from} clones them (reflink) at a metadata cost.`,
        evidence: ids(crossDevice.key, "fs.pair", ...evidence.filter((e) => e.key.startsWith("fastpath.")).map((e) => e.key), "phase.transfer"),
        confidence: "medium",
      },
      suggestion: {
        text: `Where the copy may live on the source's filesystem (${from}), put the destination there: files are then cloned, not copied (${from} clones with reflink=1, the default of mkfs.xfs since xfsprogs 5.1; Btrfs always).`,
        expectedEffect: `the ${formatBytes(pathBytes)} would be cloned instead of written: about ${formatDuration(cloneSavingMs)} of the ${formatDuration(transferMs)} transfer phase`,
        evidence: ids(crossDevice.key, "fs.pair", "phase.transfer", "prediction.term.perByte"),
      },
    });
  } else if (noReflink && slow && pathBytes >= CLONE_MIN_BYTES && worthIt(byteMs)) {
    findings.push({
      kind: "fast-path",
      short: "no reflink on this filesystem",
      impactMs: byteMs,
      cause: {
        kind: "fast-path",
        text: `Files were copied, not cloned: ${String(noReflink.value)}. ${formatBytes(pathBytes)} had to be written out.`,
        evidence: ids(noReflink.key, "fs.pair", ...evidence.filter((e) => e.key.startsWith("fastpath.")).map((e) => e.key), "flag.slow-vs-prediction"),
        confidence: "low",
      },
      suggestion: {
        text: "Put source and destination on a filesystem with reflink (XFS with reflink=1, Btrfs) to clone files instead of copying their bytes.",
        expectedEffect: `cloning costs metadata only, so most of the byte cost${byteMs > 0 ? ` (about ${formatDuration(byteMs)} here)` : ""} would go`,
        evidence: ids(noReflink.key, "prediction.term.perByte", "fs.pair"),
      },
    });
  }

  // 5. Deletes.
  if (get("flag.delete-heavy")) {
    findings.push({
      kind: "deletes",
      short: "mirror deletions",
      impactMs: num("phase.delete") ?? 0,
      cause: {
        kind: "deletes",
        text: `Deleting extraneous destination entries took ${Math.round(num("share.delete") ?? 0)}% of the run (${formatDuration(num("phase.delete") ?? 0)} for ${countOf(num("counts.deleted") ?? 0, "entry", "entries")}).`,
        evidence: ids("flag.delete-heavy", "phase.delete", "share.delete", "counts.deleted"),
        confidence: "high",
      },
    });
  }

  // 6. Errors.
  if (get("errors")) {
    findings.push({
      kind: "errors",
      short: "errors",
      impactMs: 0,
      cause: {
        kind: "errors",
        text: `The run had ${countOf(num("errors") ?? 0, "error")}; failed files were not transferred and a mirror with errors deletes nothing.`,
        evidence: ids("errors", "flag.errors"),
        confidence: "high",
      },
      suggestion: {
        text: "Fix the paths named in the errors (the first are quoted in the evidence) and run again.",
        expectedEffect: "a complete run, and for mirror the pending deletions",
        evidence: ids("errors"),
      },
    });
  }

  // 7. Linked traces: another process on blit's files, metadata-bound time, a stall.
  for (const prefix of evidence.filter((e) => /^trace\.\d+\.span$/.test(e.key)).map((e) => e.key.slice(0, -".span".length))) {
    findings.push(...traceFindings(prefix, evidence, facts, ids, {
      total, workers, suggestsWorkers: findings.some((f) => f.suggestion?.flag?.startsWith("--workers")), destination, rerun, tuneCommand,
    }));
  }

  // 8. What the machine around the run shows: contention, a slow device, a scanner, a tracer.
  findings.push(...contextFindings(f, which));

  // 9. Slow, or throughput collapsed, with nothing in the evidence to explain it. Without a
  // recorded context that is most likely outside load; with one that shows none, it is not
  // called outside load (the context would contradict it).
  const performance = findings.some((x) => x.kind !== "errors");
  const pred = num("prediction") ?? 0;
  const band = get("prediction")?.text.match(/80% band ([^;]+);/)?.[1];
  if (slow && !performance && f.has("context.self-cpu")) {
    const shown = [
      f.has("context.others-cpu") && `other processes' CPU ${Math.round(num("context.others-cpu")!)}%`,
      f.has("context.psi.cpu") && `CPU pressure ${Math.round(num("context.psi.cpu")!)}%`,
      f.has("context.psi.io") && `I/O pressure ${Math.round(num("context.psi.io")!)}%`,
      ...f.keys("device.").filter((k) => k.endsWith(".others-io")).map((k) => `others' share of ${k.split(".")[1]} I/O ${Math.round(num(k)!)}%`),
    ].filter(Boolean) as string[];
    findings.push({
      kind: "unexplained",
      short: "no cause in the evidence",
      impactMs: slowness.excessMs,
      cause: {
        kind: "unexplained",
        text: `The run took ${slowness.peerRatio.toFixed(1)}× what runs like it take (${formatDuration(total)} against ${formatDuration(slowness.expectedMs)}), but the machine around it shows no contention${shown.length ? ` (${shown.join(", ")})` : ""} and no slow device: the cause is not in the recorded evidence.`,
        evidence: ids("duration.total", "prediction.expected", "flag.slow-vs-prediction", "flag.throughput-collapse", "context.others-cpu", "context.psi.cpu", "context.psi.io", "device.destination.others-io", "device.source.others-io", "context.self-cpu"),
        confidence: "low",
      },
      suggestion: {
        text: `Record the next run with a trace to see where its time goes: \`blit trace record -- ${rerun ?? "blit mirror"}\`.`,
        expectedEffect: `a trace linked to the run, which 'blit diagnose' reads as evidence (it adds the tracer's own cost to that run)`,
        evidence: ids("duration.total", "prediction.expected"),
      },
    });
  } else if (slow && !performance) {
    findings.push({
      kind: "outside-load",
      short: "likely outside load",
      impactMs: slowness.excessMs,
      cause: {
        kind: "outside-load",
        text: `The run took ${(num("prediction.ratio") ?? 0).toFixed(1)}× its prediction (${formatDuration(total)} against ${formatDuration(pred)}) while its workload, options and phase shares look like those of similar runs: most likely outside load on the machine or the disks.`,
        evidence: ids("duration.total", "prediction", "prediction.ratio", "prediction.score", "flag.slow-vs-prediction", "flag.throughput-collapse", "route.usual-rate", "similar.runs"),
        confidence: "medium",
      },
      suggestion: {
        text: `Look for competing I/O or CPU during the next run (${toolCommand(which, "iostat -x 1 5")}, ${toolCommand(which, "pidstat -d 1 5")}, other backups or scans) and schedule the run away from it.`,
        expectedEffect: `without the contention it should take about ${formatDuration(pred)}${band ? ` (80% band ${band})` : ""}`,
        evidence: ids("prediction", "duration.total"),
      },
    });
  }

  const ranked = rankFindings(findings);
  const causes = ranked.map((x) => ({ ...x.cause, impactMs: Math.round(x.impactMs) }));
  const suggestions = ranked.flatMap((x) => (x.suggestion ? [x.suggestion] : []));
  return { summary: summarize(ranked, get, f.keys("flag.").map((k) => k.slice("flag.".length))), causes, suggestions };
}

interface TraceRun {
  /** The run's duration, ms. */
  total: number;
  workers: number;
  /** An earlier finding already suggests a --workers value. */
  suggestsWorkers: boolean;
  destination: string | undefined;
  /** The run as a command with its real paths, when the evidence names them. */
  rerun: string | undefined;
  tuneCommand: string;
}

/** The findings one linked trace (facts under `prefix`, e.g. "trace.1") supports. */
function traceFindings(
  prefix: string,
  evidence: readonly Evidence[],
  facts: ReadonlyMap<string, Evidence>,
  ids: (...keys: string[]) => string[],
  run: TraceRun,
): Finding[] {
  const out: Finding[] = [];
  const part = (e: Evidence | undefined, name: string): number | undefined => {
    const v = e?.parts?.[name];
    return typeof v === "number" ? v : undefined;
  };
  const spanFact = facts.get(`${prefix}.span`);
  const span = typeof spanFact?.value === "number" ? spanFact.value : 0;
  const latencyKeys = evidence.filter((e) => e.key.startsWith(`${prefix}.latency.`)).map((e) => e.key);

  // a. Another process (a scanner, an indexer) on the files blit touched.
  for (const e of evidence.filter((x) => x.key.startsWith(`${prefix}.shared.`))) {
    const files = part(e, "files") ?? 0;
    const events = part(e, "events") ?? 0;
    const seconds = part(e, "seconds") ?? 0;
    const eventShare = part(e, "eventSharePct") ?? 0;
    const timeShare = part(e, "timeSharePct") ?? 0;
    if (files < SHARED_MIN_FILES || (eventShare < SHARED_EVENT_SHARE_PCT && timeShare < SHARED_TIME_SHARE_PCT)) continue;
    const process = String(e.parts?.process ?? e.label);
    const known = KNOWN_WATCHERS.find((w) => w.match.test(process));
    const pid = part(e, "pid");
    out.push({
      kind: "scanner",
      short: `${process} on blit's files`,
      impactMs: Math.min(seconds * 1000, run.total),
      cause: {
        kind: "scanner",
        text: `${process}${pid !== undefined ? ` (pid ${pid})` : ""}${known ? `, ${known.what},` : ""} ${known ? "scanned" : "touched"} ${files.toLocaleString("en-US")} of the files blit touched during the trace: ${events.toLocaleString("en-US")} operations (${Math.round(eventShare)}% of the trace's events) taking ${formatDuration(seconds * 1000)}${span > 0 ? ` (${Math.round(timeShare)}% of the traced ${formatDuration(span * 1000)})` : ""}. Its opens and reads compete with blit's writes and can hold each new file until it is scanned.`,
        evidence: ids(e.key, `${prefix}.span`, "counts.transferred", "duration.total"),
        confidence: eventShare >= SHARED_EVENT_SHARE_PCT && timeShare >= SHARED_TIME_SHARE_PCT ? "high" : "medium",
      },
      suggestion: {
        text: known?.remedy(run.destination ?? "the destination") ?? `Exclude ${run.destination ?? "the destination"} from ${process}'s scanning or indexing (its own settings), or run the copy when it is idle.`,
        expectedEffect: `${process}'s ${events.toLocaleString("en-US")} operations on blit's files (${formatDuration(seconds * 1000)} of I/O time) stop competing with the copy: up to about ${formatDuration(Math.min(seconds * 1000, run.total))} less on a run like this one (it took ${formatDuration(run.total)}), when blit was waiting on the scan`,
        evidence: ids(e.key, "duration.total"),
      },
    });
  }

  // b. Metadata calls (open, stat, close, rename) took most of the traced operation time.
  const meta = facts.get(`${prefix}.metadata-share`);
  const metaSeconds = part(meta, "metadataSeconds") ?? 0;
  const metaShare = typeof meta?.value === "number" ? meta.value : 0;
  if (meta && meta.parts?.basis === "time" && metaShare >= TRACE_METADATA_SHARE_PCT && metaSeconds >= TRACE_METADATA_MIN_S) {
    const dataSeconds = part(meta, "dataSeconds") ?? 0;
    const target = Math.min(16, Math.max(run.workers + 1, run.workers * 2));
    const p50s = latencyKeys
      .filter((k) => facts.get(k)!.parts?.category === "metadata")
      .map((k) => `${k.slice(k.lastIndexOf(".") + 1)} p50 ${String(facts.get(k)!.value)} ms`);
    const offerWorkers = !run.suggestsWorkers && run.workers > 0 && target > run.workers;
    out.push({
      kind: "metadata",
      short: "metadata-bound (trace)",
      impactMs: metaSeconds * 1000 * 0.5,
      cause: {
        kind: "metadata",
        text: `Metadata calls took ${Math.round(metaShare)}% of the traced operation time (${formatDuration(metaSeconds * 1000)} against ${formatDuration(dataSeconds * 1000)} moving data${p50s.length ? `; ${p50s.join(", ")}` : ""}): the run waited on the filesystem's lookups and file creation, not on bytes.`,
        evidence: ids(meta.key, ...latencyKeys, `${prefix}.span`),
        confidence: "high",
      },
      suggestion: offerWorkers
        ? {
            text: `Run more files at once so their metadata calls overlap: copy with ${target} workers, and leave out what needs no syncing (--exclude).`,
            flag: `--workers ${target}`,
            expectedEffect: `the ${formatDuration(metaSeconds * 1000)} of metadata calls overlap across ${target} workers instead of ${run.workers}: up to ~${(target / run.workers).toFixed(1)}× less wall time for them on a filesystem that serves calls in parallel (a network share usually does); '${run.tuneCommand}' measures the real gain`,
            evidence: ids(meta.key, "options.workers", "machine.cores", ...latencyKeys),
          }
        : {
            text: `Measure which worker count overlaps the metadata calls best with '${run.tuneCommand} --apply', and leave out subtrees that need no syncing (--exclude).`,
            expectedEffect: `the ${formatDuration(metaSeconds * 1000)} of metadata calls shrink with the entries left out and the calls run in parallel`,
            evidence: ids(meta.key, "options.workers", ...latencyKeys),
          },
    });
  }

  // c. A stall: a long stretch in which blit made no progress.
  const gap = facts.get(`${prefix}.gap.1`);
  const gapSeconds = typeof gap?.value === "number" ? gap.value : 0;
  const gapShare = span > 0 ? (gapSeconds / span) * 100 : 0;
  if (gap && gapSeconds >= STALL_MIN_S && gapShare >= STALL_SPAN_SHARE_PCT) {
    const gapMs = gapSeconds * 1000;
    const line = part(gap, "line");
    out.push({
      kind: "stall",
      short: `a ${formatDuration(gapMs)} stall (trace)`,
      impactMs: gapMs,
      cause: {
        kind: "stall",
        text: `blit made no progress for ${formatDuration(gapMs)}, ${Math.round(gapShare)}% of the traced ${formatDuration(span * 1000)}${line !== undefined ? ` (the stall ends at line ${line.toLocaleString("en-US")} of the trace)` : ""}: it was waiting on something outside itself, not copying.`,
        evidence: ids(gap.key, `${prefix}.span`, "duration.total"),
        confidence: "medium",
      },
      suggestion: {
        text: `Find what held blit up in that stretch: look at what other processes and the disks did then (in the trace, or record the run again with 'blit trace record -- ${run.rerun ?? "blit mirror"}'); a sleeping network share, a full write cache or a scanner holding a file are the usual causes.`,
        expectedEffect: `the ${formatDuration(gapMs)} with no progress would go${gapMs < run.total ? `: about ${formatDuration(run.total - gapMs)} instead of ${formatDuration(run.total)}` : ""}`,
        evidence: ids(gap.key, "duration.total"),
      },
    });
  }
  return out;
}

function summarize(findings: Finding[], get: (key: string) => Evidence | undefined, flagKinds: readonly string[]): string {
  const total = formatDuration(Number(get("duration.total")?.value ?? 0));
  const prediction = get("prediction");
  const band = prediction?.text.match(/80% band ([^;]+);/)?.[1];
  const predicted = prediction ? `predicted ${formatDuration(Number(prediction.value))}${band ? `, 80% band ${band}` : ""}` : "no prediction";
  const flags = [...new Set(flagKinds)];
  if (findings.length === 0 && flags.length > 0) {
    // Never "nothing unusual" next to a flag: name the flags and say no cause is supported.
    return `The run took ${total} (${predicted}); flagged ${flags.join(", ")}, with no slowing cause in the evidence.`;
  }
  if (findings.length === 0) {
    const scored = typeof get("prediction.score")?.value === "number";
    return scored
      ? `Nothing unusual: the run took ${total} (${predicted}), in line with similar runs.`
      : `Nothing unusual found: the run took ${total} (${predicted}); too little comparable history for a robust comparison.`;
  }
  return `The run took ${total} (${predicted}). Causes: ${findings.map((f) => f.short).join("; ")}.`;
}
