// `blit diagnose`, `blit predict` and `blit tune`: the analytics commands. Each takes its
// arguments (after the command word) and an io, and resolves to an exit code: 0 done,
// 2 usage error or a store that cannot be used. Their flags, --help and README tables come from
// one table each (tui/diagnose-flags.ts).
import { normalizeOptions, parseRate, run, UsageError, type Command } from "../engine/index.ts";
import {
  DiagnoseError, diagnoseHistory, diagnoseRun, formatDiagnosis, countOf, formatCount, formatDuration, formatBytes, predictFor, parseSince,
  TelemetryError, telemetryPath, tune, tunedWorkers, type DiagnoseFormat, type Prediction,
} from "../analytics/index.ts";
import { aiSettings, listRuns, previewRequest, type AiSettings } from "../analytics/index.ts";
import { storeSource } from "./ai/ai-source.ts";
import { launchDiagnoseUi } from "./ai/launch.tsx";
import { listMarkdown, runMarkdown } from "./ai/markdown.ts";
import { EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK } from "./exit-codes.ts";
import { transferFlagNames } from "./transfer-flags.ts";
import type { Io } from "./kit/io.ts";
import { boolFlag, helpText, listFlag, parseCommand, stringFlag } from "./kit/command.ts";
import { DIAGNOSE_SPEC, PREDICT_SPEC, storeToRead, TUNE_SPEC } from "./diagnose-flags.ts";

/** The kit's one Io (tui/kit/io.ts). */
export type CommandIo = Io;

/** `blit diagnose [RUN_ID | --last] [--since 7d] [--format text|md|json]` */
export async function diagnoseCommand(args: string[], io: CommandIo): Promise<number> {
  return guarded(io, async () => {
    const { values: v, positionals } = parseCommand(DIAGNOSE_SPEC, args, io);
    if (v.help) return say(io, helpText(DIAGNOSE_SPEC)), EXIT_OK;
    const values = {
      last: boolFlag(v, "last"), since: stringFlag(v, "since"), limit: stringFlag(v, "limit"), format: stringFlag(v, "format"),
      json: boolFlag(v, "json"), ai: boolFlag(v, "ai"), "ai-preview": boolFlag(v, "ai-preview"), redact: boolFlag(v, "redact"),
      "ai-timeout": stringFlag(v, "ai-timeout"), store: stringFlag(v, "store"),
    };
    if (values.ai || values["ai-preview"]) {
      if (values.ai && values["ai-preview"]) throw new RangeError("give --ai or --ai-preview, not both");
      if (values.format !== undefined || values.json) throw new RangeError("--ai prints Markdown when stdout is not a terminal; --format is for the plain report");
      if (values.since !== undefined || values.limit !== undefined) throw new RangeError("--since and --limit are for the plain history report");
      if (positionals.length === 1 && values.last) throw new RangeError("give a run id or --last, not both");
      const settings = aiSettings(io.env, {
        redact: values.redact ?? false,
        timeoutMs: values["ai-timeout"] === undefined ? undefined : wholeNumber("ai-timeout", values["ai-timeout"], 1, 600_000),
      });
      const path = storeToRead(values.store, io.env);
      if (values["ai-preview"]) return aiPreview(io, path, settings, positionals[0]);
      return aiCommand(io, path, settings, positionals[0] ?? (values.last ? "" : undefined));
    }
    if (values.redact || values["ai-timeout"] !== undefined) throw new RangeError("--redact and --ai-timeout go with --ai or --ai-preview");
    const format = formatOf(values.format, values.json, ["text", "md", "json"]);
    if (positionals.length === 1 && values.last) throw new RangeError("give a run id or --last, not both");
    const path = storeToRead(values.store, io.env);
    const limit = values.limit === undefined ? 10 : wholeNumber("limit", values.limit, 1);
    if (positionals.length === 1 || values.last) {
      if (values.since !== undefined) throw new RangeError("--since is for the history report; a single run has no window");
      try {
        const d = await diagnoseRun({ path, id: positionals[0] });
        say(io, formatDiagnosis(d, format));
      } catch (e) {
        if (e instanceof DiagnoseError && e.code === "NO_RUNS") {
          say(io, format === "json" ? JSON.stringify({ error: "NO_RUNS", message: `no runs recorded yet in ${path}` }) : `no runs recorded yet in ${path}`);
          return EXIT_OK;
        }
        throw e;
      }
      return EXIT_OK;
    }
    const sinceLabel = values.since ?? "7d";
    const d = await diagnoseHistory({ path, sinceMs: parseSince(sinceLabel), sinceLabel, limit });
    say(io, formatDiagnosis(d, format));
    return EXIT_OK;
  });
}

/**
 * `blit diagnose --ai [RUN_ID]`: the full-screen UI on a terminal, else the same content as
 * Markdown. `runId` "" means the latest run (--last).
 */
async function aiCommand(io: CommandIo, path: string, settings: AiSettings, runId: string | undefined): Promise<number> {
  const source = storeSource({ path, settings });
  const stdin = io.stdin ?? process.stdin;
  if (io.stdout.isTTY === true && stdin.isTTY === true) {
    // --last opens at the newest run; an empty store opens at the (empty) list.
    const initialRunId = runId === "" ? (await listRuns({ path, limit: 1 }))[0]?.id : runId;
    const outcome = await launchDiagnoseUi({ source, initialRunId, stdout: io.stdout as NodeJS.WriteStream, stdin });
    return outcome === "interrupted" ? EXIT_INTERRUPTED : EXIT_OK;
  }
  if (runId === undefined) {
    const list = await source.recentRuns();
    say(io, listMarkdown(list.runs.length > 0 ? await source.scoreRuns(list) : list, source.explainer));
    return EXIT_OK;
  }
  try {
    const detail = await source.runDetail(runId || undefined);
    say(io, runMarkdown(detail, await source.explain(detail)));
  } catch (e) {
    if (e instanceof DiagnoseError && e.code === "NO_RUNS") return say(io, `no runs recorded yet in ${path}`), EXIT_OK;
    throw e;
  }
  return EXIT_OK;
}

/** `blit diagnose --ai-preview [RUN_ID]`: exactly what --ai would send for the run; sends nothing. */
async function aiPreview(io: CommandIo, path: string, settings: AiSettings, runId: string | undefined): Promise<number> {
  let d;
  try {
    d = await diagnoseRun({ path, id: runId });
  } catch (e) {
    if (e instanceof DiagnoseError && e.code === "NO_RUNS") return say(io, `no runs recorded yet in ${path}`), EXIT_OK;
    throw e;
  }
  const p = previewRequest({ run: d.run, evidence: d.evidence }, settings, transferFlagNames());
  const lines = [
    `blit diagnose --ai-preview: nothing was sent. For run ${d.run.id}, --ai would send:`,
    `  ${p.endpoint}`,
    `  model: ${settings.model ?? "(BLIT_AI_MODEL not set)"}; timeout ${settings.timeoutMs} ms; the API key is sent as a header and not shown`,
  ];
  if (p.missing.length > 0) lines.push(`  not configured (${p.missing.join(", ")} not set): --ai would not call a model; the offline rules would answer`);
  if (settings.redact) {
    lines.push(`  --redact: ${p.placeholders.length} placeholder${p.placeholders.length === 1 ? "" : "s"} (the originals stay on this machine):`);
    for (const ph of p.placeholders) lines.push(`    ${ph.placeholder} = ${ph.original}`);
  } else {
    lines.push("  paths and host names are sent as they are (--redact replaces them)");
  }
  lines.push("Request body:", JSON.stringify(p.request, null, 2));
  say(io, lines.join("\n"));
  return EXIT_OK;
}

/** `blit predict SRC DST [--workers N] [--bwlimit RATE] [--format text|json]` */
export async function predictCommand(args: string[], io: CommandIo): Promise<number> {
  return guarded(io, async () => {
    const { values: v, positionals } = parseCommand(PREDICT_SPEC, args, io);
    if (v.help) return say(io, helpText(PREDICT_SPEC)), EXIT_OK;
    const values = {
      command: stringFlag(v, "command"), workers: stringFlag(v, "workers"), bwlimit: stringFlag(v, "bwlimit"), exclude: listFlag(v, "exclude"),
      checksum: boolFlag(v, "checksum"), format: stringFlag(v, "format"), json: boolFlag(v, "json"), store: stringFlag(v, "store"),
    };
    const format = formatOf(values.format, values.json, ["text", "json"]);
    if (positionals.some((p) => p.startsWith("blit://"))) throw new RangeError("predict works on local paths for now (push and pull are not wired yet)");
    const command = (values.command ?? "mirror") as Command;
    if (command !== "copy" && command !== "mirror") throw new RangeError(`--command must be copy or mirror, got '${values.command}'`);
    const path = storeToRead(values.store, io.env);
    const workersText = values.workers ?? (io.env.BLIT_WORKERS || undefined); // empty counts as unset, as for copy and mirror
    const bwlimit = values.bwlimit !== undefined ? parseRate(values.bwlimit) : 0;
    // Enumerate and plan only: what the real run would transfer, with the filesystems it would use.
    const { report } = await run({
      command,
      source: positionals[0]!,
      destination: positionals[1]!,
      options: normalizeOptions({
        dryRun: true,
        exclude: values.exclude,
        checksum: values.checksum ?? false,
        workers: workersText !== undefined ? wholeNumber("workers", workersText, 1) : undefined,
        bwlimit,
      }),
    });
    const tuned = workersText === undefined ? await tunedWorkers(report.route, report.sourceFs, report.destinationFs, { path }) : undefined;
    const prediction = await predictFor(report, report.route, { path, bwlimit });
    if (format === "json") {
      say(io, JSON.stringify({ source: report.source, destination: report.destination, command, sourceFs: report.sourceFs, destinationFs: report.destinationFs, workload: report.workload, planned: report.counts.planned, plannedBytes: report.counts.plannedBytes, tunedWorkers: tuned ?? null, prediction }, null, 2));
      return EXIT_OK;
    }
    say(io, predictionText(report.source, report.destination, command, report.sourceFs, report.destinationFs, prediction, tuned, values.checksum ?? false));
    return EXIT_OK;
  });
}

/** `blit tune SRC DST [--apply]` */
export async function tuneCommand(args: string[], io: CommandIo): Promise<number> {
  return guarded(io, async () => {
    const { values: v, positionals } = parseCommand(TUNE_SPEC, args, io);
    if (v.help) return say(io, helpText(TUNE_SPEC)), EXIT_OK;
    const values = {
      apply: boolFlag(v, "apply"), workers: stringFlag(v, "workers"), rounds: stringFlag(v, "rounds"), "sample-files": stringFlag(v, "sample-files"),
      "sample-bytes": stringFlag(v, "sample-bytes"), exclude: listFlag(v, "exclude"), format: stringFlag(v, "format"), json: boolFlag(v, "json"),
    };
    const format = formatOf(values.format, values.json, ["text", "json"]);
    if (positionals.some((p) => p.startsWith("blit://"))) throw new RangeError("tune works on local paths for now (push and pull are not wired yet)");
    const workers = values.workers === undefined ? undefined : values.workers.split(",").map((w) => wholeNumber("workers", w.trim(), 1, 256));
    const result = await tune({
      source: positionals[0]!,
      destination: positionals[1]!,
      path: telemetryPath(io.env),
      workers: workers ? [...new Set(workers)] : undefined,
      rounds: values.rounds === undefined ? undefined : wholeNumber("rounds", values.rounds, 1, 20),
      sampleFiles: values["sample-files"] === undefined ? undefined : wholeNumber("sample-files", values["sample-files"], 1),
      sampleBytes: values["sample-bytes"] === undefined ? undefined : parseRate(values["sample-bytes"]),
      exclude: values.exclude,
      apply: values.apply ?? false,
      onTrial: format === "text" ? (t) => io.stderr.write(`blit: tune: round ${t.round}, ${countOf(t.workers, "worker")}: ${formatDuration(t.totalMs)}\n`) : undefined,
    });
    for (const w of result.warnings) io.stderr.write(`blit: warning: ${w}\n`);
    if (format === "json") return say(io, JSON.stringify(result, null, 2)), EXIT_OK;
    const s = result.setting;
    const lines = [
      `tune ${s.source} -> ${s.destination} (${s.route}, ${s.sourceFs} -> ${s.destinationFs})`,
      `  sample: ${formatCount(result.sample.files)} of ${countOf(result.sample.ofFiles, "file")}, ${formatBytes(result.sample.bytes)} of ${formatBytes(result.sample.ofBytes)}, staged on the destination's filesystem`,
      `  WORKERS  MEDIAN    TRIALS`,
      ...s.trials.map((t) => `  ${String(t.workers).padStart(7)}  ${formatDuration(t.medianMs).padEnd(8)}  ${t.totalMs.map(formatDuration).join(", ")}${t.workers === s.workers ? "  <- best" : ""}`),
      s.applied
        ? `  applied: runs on ${s.route} ${s.sourceFs} -> ${s.destinationFs} without --workers now use ${countOf(s.workers, "worker")}`
        : `  best: ${countOf(s.workers, "worker")}; not applied (run again with --apply, or pass --workers ${s.workers})`,
      `  ${s.trials.reduce((a, t) => a + t.runIds.length, 0)} trial runs recorded; see 'blit diagnose'`,
    ];
    say(io, lines.join("\n"));
    return EXIT_OK;
  });
}

function predictionText(
  source: string, destination: string, command: string, sourceFs: string, destinationFs: string,
  p: Prediction, tuned: number | undefined, checksum: boolean,
): string {
  const lines = [
    `${command} ${source} -> ${destination} (${sourceFs} -> ${destinationFs})`,
    `  predicted ${formatDuration(p.durationMs)}, 80% band ${formatDuration(p.lowMs)}–${formatDuration(p.highMs)}`,
    `  why:`,
    ...p.terms.map((t) => `    ${t.label.padEnd(22)} ${t.term === "fixed" ? "" : `${formatCount(t.quantity)} × ${t.msEach.toPrecision(3)} ms = `}${formatDuration(t.ms)}`),
  ];
  if (p.throttleFloorMs !== undefined) {
    lines.push(`    --bwlimit floor        ${formatDuration(p.throttleFloorMs)} (without the limit: ${formatDuration(p.unthrottledMs)})`);
  }
  lines.push(`  ${p.note}`);
  if (tuned !== undefined) lines.push(`  blit tune --apply chose ${countOf(tuned, "worker")} for ${sourceFs} -> ${destinationFs}`);
  if (checksum) lines.push("  note: --checksum hashing is not part of the model; expect longer");
  return lines.join("\n");
}

// Usage problems (from the kit: "did you mean", the missing argument) and an unusable store are
// exit 2 in one line; any other error too, its stack only with BLIT_DEBUG=1.
async function guarded(io: CommandIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof RangeError || e instanceof UsageError || e instanceof DiagnoseError || e instanceof TelemetryError) {
      io.stderr.write(`blit: ${(e as Error).message}\n`);
      return EXIT_FATAL;
    }
    io.stderr.write(io.env.BLIT_DEBUG === "1" ? `blit: fatal: ${(e as Error).stack ?? e}\n` : `blit: ${(e as Error).message ?? e} (BLIT_DEBUG=1 shows where)\n`);
    return EXIT_FATAL;
  }
}

function say(io: CommandIo, text: string): void {
  io.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

function formatOf<T extends DiagnoseFormat>(format: string | undefined, json: boolean | undefined, allowed: T[]): T {
  if (json && format !== undefined && format !== "json") throw new RangeError(`--json and --format ${format} disagree`);
  const f = (json ? "json" : format ?? "text") as T;
  if (!allowed.includes(f)) throw new RangeError(`--format must be ${allowed.join(", ")}; got '${format}'`);
  return f;
}

function wholeNumber(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new RangeError(`--${flag} needs a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ""}, got '${text}'`);
  }
  return Number(text);
}
