// The offline explainer: fixed rules that read the evidence bundle and name causes and
// suggestions, each citing the facts it rests on. It reads only the evidence (never the raw
// run), so what it says can be checked against what an LLM explainer would be shown.
import type { Evidence } from "./evidence.ts";
import type { Cause, Explanation, Suggestion } from "./explanation.ts";
import { formatBytes, formatDuration } from "./human-units.ts";

/** Small-file rule: share of files under 64 KiB, files transferred, and the transfer phase's weight. */
const SMALL_SHARE_PCT = 80;
const SMALL_MIN_FILES = 500;
const TRANSFER_SHARE_PCT = 30;
const TRANSFER_MIN_MS = 1000;
/** Enumeration rule. */
const ENUM_SHARE_PCT = 50;
const ENUM_MIN_TOTAL_MS = 1000;
/** Fast-path rule: userspace copying matters once it carries this share and this many bytes. */
const STREAM_SHARE = 0.5;
const STREAM_MIN_BYTES = 10e6;
const CLONE_MIN_BYTES = 100e6;
const THROTTLE_SHARE = 0.7;

interface Finding {
  /** A few words for the summary. */
  short: string;
  cause: Cause;
  suggestion?: Suggestion;
}

/** Explains one run from its evidence. Deterministic; every citation names a fact of `evidence`. */
export function explainWithRules(evidence: readonly Evidence[]): Explanation {
  const facts = new Map(evidence.map((e) => [e.key, e]));
  const get = (key: string) => facts.get(key);
  const num = (key: string): number | undefined => {
    const v = facts.get(key)?.value;
    return typeof v === "number" ? v : undefined;
  };
  const ids = (...keys: string[]) => keys.flatMap((k) => (facts.has(k) ? [facts.get(k)!.id] : []));
  const total = num("duration.total") ?? 0;
  const findings: Finding[] = [];

  // 1. A bandwidth limit that set the pace.
  const bw = num("options.bwlimit");
  const rate = num("rate.transfer");
  if (bw && bw > 0 && rate !== undefined && (rate * 1e6) / bw >= THROTTLE_SHARE) {
    const unthrottled = num("prediction.unthrottled");
    findings.push({
      short: "throttled by --bwlimit",
      cause: {
        text: `The transfer was throttled by --bwlimit: it moved ${rate.toFixed(1)} MB/s against a limit of ${(bw / 1e6).toFixed(1)} MB/s (${Math.round(((rate * 1e6) / bw) * 100)}% of it), so the limit, not the disk or the CPU, set the pace.`,
        evidence: ids("options.bwlimit", "rate.transfer", "flag.throttled", "prediction.throttle-floor", "duration.total", "flag.slow-vs-prediction"),
        confidence: "high",
      },
      suggestion: {
        text: "Lift the limit, or raise it if it protects a shared link.",
        flag: "--bwlimit 0",
        expectedEffect:
          unthrottled !== undefined
            ? `about ${formatDuration(unthrottled)} instead of ${formatDuration(total)} (the model's prediction without the limit)`
            : `the transfer phase runs at the disk's own rate instead of ${(bw / 1e6).toFixed(1)} MB/s`,
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
  if (smallPct >= SMALL_SHARE_PCT && copied >= SMALL_MIN_FILES && workers > 0 && (transferPct >= TRANSFER_SHARE_PCT || transferMs >= TRANSFER_MIN_MS)) {
    const cores = num("machine.cores");
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
      if (basis === "history" && bestRate && here) {
        const after = transferMs * (here / bestRate);
        effect = `transfer phase about ${formatDuration(after)} instead of ${formatDuration(transferMs)}, the file rate similar runs reached with ${target} workers`;
      } else if (basis === "tuned") {
        effect = `the worker count blit tune measured fastest on this route; the transfer phase (${formatDuration(transferMs)}) should shrink accordingly`;
      } else {
        const gain = cores ? Math.max(1, Math.min(target, cores) / Math.min(workers, cores)) : target / workers;
        effect = gain > 1
          ? `at most ~${gain.toFixed(1)}× faster transfer (about ${formatDuration(transferMs / gain)} instead of ${formatDuration(transferMs)}), bounded by ${cores ?? "the"} CPU cores; 'blit tune SRC DST' measures the real gain`
          : `more files in flight while others wait on metadata; the gain is bounded by ${cores ?? "the number of"} CPU cores, so measure it with 'blit tune SRC DST'`;
      }
      findings.push({
        short: `small files with ${workers} worker${workers === 1 ? "" : "s"}`,
        cause: {
          text: `Small files dominate (${Math.round(smallPct)}% under 64 KiB, ${copied.toLocaleString("en-US")} transferred) and only ${workers} worker${workers === 1 ? "" : "s"} copied them: the transfer phase took ${Math.round(transferPct)}% of the run${here !== undefined ? ` at ${Math.round(here).toLocaleString("en-US")} files/s` : ""}.`,
          evidence: ids("workload.small-files", "counts.transferred", "options.workers", "share.transfer", "rate.files", "similar.best-workers", "tuned.workers", "machine.cores"),
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

  // 3. Enumeration-bound: walking the trees was most of the run.
  const enumPct = num("share.enumerate") ?? 0;
  if (get("flag.enumeration-heavy") || (enumPct >= ENUM_SHARE_PCT && total >= ENUM_MIN_TOTAL_MS)) {
    const entriesPerSec = num("rate.enumerate");
    const zeroChange = copied === 0;
    findings.push({
      short: "enumeration-bound",
      cause: {
        text: `Enumeration took ${Math.round(enumPct)}% of the run (${formatDuration(num("phase.enumerate") ?? 0)})${entriesPerSec ? ` at ${Math.round(entriesPerSec).toLocaleString("en-US")} entries/s` : ""}: the run was bound by walking the trees, not by copying${zeroChange ? " (nothing needed copying)" : ""}.`,
        evidence: ids("share.enumerate", "phase.enumerate", "rate.enumerate", "workload.files", "counts.transferred", "flag.enumeration-heavy"),
        confidence: get("flag.enumeration-heavy") ? "high" : "medium",
      },
      suggestion: {
        text: "Leave out subtrees that need no syncing (e.g. --exclude 'node_modules/', --exclude '*.tmp'), or mirror only the subdirectory that changes.",
        flag: "--exclude GLOB",
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
  if (notes.length > 0 && pathBytes > 0 && streamBytes / pathBytes >= STREAM_SHARE && streamBytes >= STREAM_MIN_BYTES) {
    const why = crossDevice
      ? `source and destination are on different filesystems (cross-device, EXDEV), so neither reflink nor copy_file_range could serve`
      : `the faster paths refused (${notes.map((e) => String(e.value)).join("; ")})`;
    findings.push({
      short: "bytes copied through userspace",
      cause: {
        text: `${formatBytes(streamBytes)} (${Math.round((streamBytes / pathBytes) * 100)}% of the bytes) went through a read/write stream: ${why}.`,
        evidence: ids("fastpath.stream", ...notes.map((e) => e.key), "fs.pair"),
        confidence: crossDevice ? "high" : "medium",
      },
      suggestion: {
        text: crossDevice
          ? "Where you can, keep source and destination on one filesystem (or stage on the destination's), so the kernel can copy the bytes."
          : "Check why the in-kernel copy was refused (the notes above); on a filesystem that supports it the bytes stay in the kernel.",
        expectedEffect: `the ${formatBytes(streamBytes)} now copied through userspace would take the in-kernel path, saving one copy of every byte in memory${byteMs > 0 ? ` (the byte cost of this run: about ${formatDuration(byteMs)})` : ""}`,
        evidence: ids("fastpath.stream", ...notes.map((e) => e.key), "prediction.term.perByte"),
      },
    });
  } else if (noReflink && slow && pathBytes >= CLONE_MIN_BYTES) {
    findings.push({
      short: "no reflink on this filesystem",
      cause: {
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
      short: "mirror deletions",
      cause: {
        text: `Deleting extraneous destination entries took ${Math.round(num("share.delete") ?? 0)}% of the run (${formatDuration(num("phase.delete") ?? 0)} for ${(num("counts.deleted") ?? 0).toLocaleString("en-US")} entries).`,
        evidence: ids("flag.delete-heavy", "phase.delete", "share.delete", "counts.deleted"),
        confidence: "high",
      },
    });
  }

  // 6. Errors.
  if (get("errors")) {
    findings.push({
      short: "errors",
      cause: {
        text: `The run had ${(num("errors") ?? 0).toLocaleString("en-US")} error(s); failed files were not transferred and a mirror with errors deletes nothing.`,
        evidence: ids("errors", "flag.errors"),
        confidence: "high",
      },
      suggestion: {
        text: "Fix the paths named in the errors ('blit diagnostics perf --json' lists them) and run again.",
        expectedEffect: "a complete run, and for mirror the pending deletions",
        evidence: ids("errors"),
      },
    });
  }

  // 7. Slow, or throughput collapsed, with nothing in the run to explain it: outside load.
  const performance = findings.some((f) => f.short !== "errors");
  if (slow && !performance) {
    const pred = num("prediction") ?? 0;
    const band = get("prediction")?.text.match(/80% band ([^;]+);/)?.[1];
    findings.push({
      short: "likely outside load",
      cause: {
        text: `The run took ${(num("prediction.ratio") ?? 0).toFixed(1)}× its prediction (${formatDuration(total)} against ${formatDuration(pred)}) while its workload, options and phase shares look like those of similar runs: most likely outside load on the machine or the disks.`,
        evidence: ids("duration.total", "prediction", "prediction.ratio", "prediction.score", "flag.slow-vs-prediction", "flag.throughput-collapse", "route.usual-rate", "similar.runs"),
        confidence: "medium",
      },
      suggestion: {
        text: "Look for competing I/O or CPU during the run (iostat -x 1, pidstat -d 1, other backups or scans) and schedule the run away from it.",
        expectedEffect: `without the contention it should take about ${formatDuration(pred)}${band ? ` (80% band ${band})` : ""}`,
        evidence: ids("prediction", "duration.total"),
      },
    });
  }

  const causes = findings.map((f) => f.cause);
  const suggestions = findings.flatMap((f) => (f.suggestion ? [f.suggestion] : []));
  return { summary: summarize(findings, get), causes, suggestions };
}

function summarize(findings: Finding[], get: (key: string) => Evidence | undefined): string {
  const total = formatDuration(Number(get("duration.total")?.value ?? 0));
  const prediction = get("prediction");
  const band = prediction?.text.match(/80% band ([^;]+);/)?.[1];
  const predicted = prediction ? `predicted ${formatDuration(Number(prediction.value))}${band ? `, 80% band ${band}` : ""}` : "no prediction";
  if (findings.length === 0) {
    const scored = typeof get("prediction.score")?.value === "number";
    return scored
      ? `Nothing unusual: the run took ${total} (${predicted}), in line with similar runs.`
      : `Nothing unusual found: the run took ${total} (${predicted}); too little comparable history for a robust comparison.`;
  }
  return `The run took ${total} (${predicted}). Causes: ${findings.map((f) => f.short).join("; ")}.`;
}
