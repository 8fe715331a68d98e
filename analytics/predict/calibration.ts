// `blit tune`: a short calibration on a sample of the real tree. The sample is staged in a scratch
// directory beside the destination (so trials write to the destination's filesystem), then copied
// with each worker count in turn, every trial a real run recorded in the store. The fastest count
// is kept per route and filesystem pair; with `apply`, later runs on that pair use it.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { median } from "simple-statistics";
import { normalizeOptions, run, T_FILE, walkTree, type RunReport } from "../../engine/index.ts";
import { filesystemType } from "../../ffi/index.ts";
import { record } from "../store/record.ts";
import { withStore } from "../store/store.ts";
import { saveTunedSetting, writeTunedFile, type TrialSummary, type TunedSetting } from "./tuned-settings.ts";

export interface TuneOptions {
  source: string;
  destination: string;
  /** The store file. */
  path: string;
  /**
   * Worker counts to try.
   * @default [1, 2, 4, 8]
   */
  workers?: number[];
  /**
   * Rounds over all worker counts; each count's result is the median of its rounds.
   * @default 2
   */
  rounds?: number;
  /**
   * Most files in the sample.
   * @default 2000
   */
  sampleFiles?: number;
  /**
   * Most bytes in the sample.
   * @default 128_000_000
   */
  sampleBytes?: number;
  /** Leave these out of the sample, as --exclude does. */
  exclude?: string[];
  /**
   * Record the winner as applied: tunedWorkers() returns it from now on.
   * @default false
   */
  apply?: boolean;
  /** Called after each trial, e.g. to print progress. */
  onTrial?: (trial: { workers: number; round: number; totalMs: number; runId: string }) => void;
}

export interface TuneResult {
  setting: TunedSetting;
  /** Files and bytes in the sample, and in the whole source. */
  sample: { files: number; bytes: number; ofFiles: number; ofBytes: number };
  /** Trials whose record did not reach the store (each with the warning). */
  warnings: string[];
}

/** Worker counts within this share of the fastest count as just as fast; the smallest of them wins. */
const TIE = 0.03;

/** Runs the calibration. Throws RangeError for a source that is not a directory. */
export async function tune(options: TuneOptions): Promise<TuneResult> {
  const workers = options.workers ?? [1, 2, 4, 8];
  const rounds = options.rounds ?? 2;
  const maxFiles = options.sampleFiles ?? 2000;
  const maxBytes = options.sampleBytes ?? 128_000_000;
  const src = resolve(options.source);
  const dst = resolve(options.destination);
  let srcIsDir = false;
  try {
    srcIsDir = statSync(src).isDirectory();
  } catch {}
  if (!srcIsDir) throw new RangeError(`tune needs a source directory; '${options.source}' is not one`);
  // Scratch space beside the destination: its own filesystem, removed at the end whatever happens.
  let base = dst;
  while (!isDir(base)) {
    const up = dirname(base);
    if (up === base) throw new RangeError(`no existing directory above '${options.destination}'`);
    base = up;
  }
  const sourceFs = filesystemType(src);
  const destinationFs = filesystemType(base);
  const scratch = mkdtempSync(join(base, ".blit-tune-"));
  const warnings: string[] = [];
  try {
    const sample = stageSample(src, join(scratch, "sample"), maxFiles, maxBytes, options.exclude ?? []);
    const results = new Map<number, { runIds: string[]; totalMs: number[] }>(workers.map((w) => [w, { runIds: [], totalMs: [] }]));
    // One discarded warm-up, then the counts in turn, round after round (never all of one first).
    await trial(join(scratch, "sample"), join(scratch, "warm-up"), workers[0] ?? 1);
    for (let round = 1; round <= rounds; round++) {
      for (const w of round % 2 === 1 ? workers : [...workers].reverse()) {
        const report = await trial(join(scratch, "sample"), join(scratch, `trial-${round}-w${w}`), w);
        const stored = await record(report, { path: options.path });
        if (stored.warning) warnings.push(stored.warning);
        results.get(w)!.runIds.push(report.id);
        results.get(w)!.totalMs.push(report.phases.totalMs);
        options.onTrial?.({ workers: w, round, totalMs: report.phases.totalMs, runId: report.id });
      }
    }
    const trials: TrialSummary[] = workers.map((w) => ({ workers: w, ...results.get(w)!, medianMs: median(results.get(w)!.totalMs) }));
    const fastest = Math.min(...trials.map((t) => t.medianMs));
    const best = trials.filter((t) => t.medianMs <= fastest * (1 + TIE)).sort((a, b) => a.workers - b.workers)[0]!;
    const setting: TunedSetting = {
      route: "local",
      sourceFs,
      destinationFs,
      workers: best.workers,
      applied: options.apply ?? false,
      trials,
      sampleFiles: sample.files,
      sampleBytes: sample.bytes,
      source: src,
      destination: dst,
      tunedAt: new Date().toISOString(),
    };
    await withStore(options.path, ({ conn }) => saveTunedSetting(conn, setting), { busyTimeoutMs: 5000 });
    if (setting.applied) writeTunedFile(options.path, setting);
    return { setting, sample, warnings };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function trial(source: string, destination: string, workers: number): Promise<RunReport> {
  const { report } = await run({ command: "copy", source, destination, options: normalizeOptions({ workers }) });
  // Each run's dirty pages are written before the next starts, so none pays for another.
  try {
    Bun.spawnSync(["sync"]);
  } catch {}
  return report;
}

/** Copies an evenly spaced sample of the source's files (walk order, so directories are spread). */
function stageSample(src: string, into: string, maxFiles: number, maxBytes: number, exclude: string[]) {
  const tree = walkTree(src, exclude.map((p) => `- ${p}`), "source"); // --exclude patterns as selection rules
  const files: number[] = [];
  let ofBytes = 0;
  for (let i = 0; i < tree.paths.length; i++) {
    if (tree.types[i] === T_FILE) {
      files.push(i);
      ofBytes += tree.sizes[i]!;
    }
  }
  const stride = Math.max(1, files.length / maxFiles);
  let count = 0;
  let bytes = 0;
  mkdirSync(into, { recursive: true });
  for (let j = 0; j < Math.min(maxFiles, files.length); j++) {
    const i = files[Math.floor(j * stride)]!;
    const size = tree.sizes[i]!;
    if (bytes + size > maxBytes) continue;
    const rel = tree.paths[i]!;
    try {
      mkdirSync(dirname(join(into, rel)), { recursive: true });
      copyFileSync(join(src, rel), join(into, rel));
    } catch {
      continue; // unreadable now: the sample does without it
    }
    count++;
    bytes += size;
  }
  if (count === 0) throw new RangeError(`no readable files to sample in '${src}'`);
  return { files: count, bytes, ofFiles: files.length, ofBytes };
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
