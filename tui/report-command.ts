// `blit report --html FILE [RUN_ID | --last | --since 30d] [--store SPEC]`: the facts of
// `blit diagnose` as one self-contained HTML page with charts. Exit 0 written, 2 anything else
// (usage, no such run, an unreadable store, FILE not writable), with FILE left untouched.
import { resolve } from "node:path";
import { UsageError } from "../engine/index.ts";
import { DiagnoseError, formatDuration, parseSince, TelemetryError, telemetryPath } from "../analytics/index.ts";
import { EXIT_FATAL, EXIT_OK } from "./exit-codes.ts";
import { boolFlag, helpText, parseCommand, stringFlag, type Values } from "./kit/command.ts";
import { say, warn, type Io } from "./kit/io.ts";
import { REPORT_SPEC } from "./report-flags.ts";
import { storeToRead } from "./diagnose-flags.ts";
import { historyReportData, reportHtml, ReportWriteError, runReportData, writeFileAtomic, type ReportData } from "./report/index.ts";

export interface ReportOptions {
  /** Where the page is written. */
  file: string;
  /** The telemetry store. @default telemetryPath(env) */
  store: string;
  /** A run id or prefix; "" is the latest run (--last); undefined is the history report. */
  run: string | undefined;
  /** @default "30d" */
  since: string;
  /** @default 10 */
  limit: number;
}

export async function reportCommand(args: string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseCommand(REPORT_SPEC, args, io);
    if (values.help) return say(io, helpText(REPORT_SPEC)), EXIT_OK;
    const options = reportOptions(values, positionals, io.env);
    const data = await reportData(options);
    writeFileAtomic(options.file, reportHtml(data));
    say(io, `wrote ${options.file}`);
    say(io, summaryLine(data));
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError || e instanceof RangeError || e instanceof DiagnoseError || e instanceof TelemetryError || e instanceof ReportWriteError) {
      warn(io, e.message);
      return EXIT_FATAL;
    }
    warn(io, io.env.BLIT_DEBUG === "1" ? `fatal: ${(e as Error).stack ?? e}` : `${(e as Error).message ?? e} (BLIT_DEBUG=1 shows where)`);
    return EXIT_FATAL;
  }
}

/** The flags checked and defaulted once. */
function reportOptions(v: Values, positionals: string[], env: Io["env"]): ReportOptions {
  const html = stringFlag(v, "html");
  if (html === undefined || html === "") throw new UsageError("USAGE", "report: --html FILE is required (the only format for now); e.g. blit report --html report.html");
  const last = boolFlag(v, "last") ?? false;
  const since = stringFlag(v, "since");
  if (positionals.length === 1 && last) throw new RangeError("give a run id or --last, not both");
  const run = positionals[0] ?? (last ? "" : undefined);
  if (run !== undefined && since !== undefined) throw new RangeError("--since is for the history report; a single run has no window");
  const limitText = stringFlag(v, "limit");
  const limit = limitText === undefined ? 10 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`--limit needs a whole number of 1 or more, got '${limitText}'`);
  return { file: resolve(html), store: storeToRead(stringFlag(v, "store"), env), run, since: since ?? "30d", limit };
}

function reportData(o: ReportOptions): Promise<ReportData> {
  if (o.run !== undefined) {
    return runReportData(o.store, o.run === "" ? undefined : o.run).catch((e: unknown) => {
      if (e instanceof DiagnoseError && e.code === "NO_RUNS") throw new DiagnoseError("NO_RUNS", `no runs recorded yet in ${o.store}; nothing to report`);
      throw e;
    });
  }
  return historyReportData({ store: o.store, sinceMs: parseSince(o.since), sinceLabel: o.since, limit: o.limit });
}

/** One line on what the page holds. */
function summaryLine(data: ReportData): string {
  if (data.kind === "history") {
    const d = data.diagnosis;
    return `history since ${d.window.label}: ${d.window.runs} run${d.window.runs === 1 ? "" : "s"} of ${d.window.totalRuns}, ${d.flaggedCount} flagged, ${data.runs.length} charted`;
  }
  const d = data.diagnosis;
  return `run ${d.run.id}: ${formatDuration(d.run.totalMs)} (predicted ${formatDuration(d.prediction.durationMs)}), ${d.flags.length} flag${d.flags.length === 1 ? "" : "s"}, ${d.explanation.causes.length} cause${d.explanation.causes.length === 1 ? "" : "s"}, ${d.timeline.length} timeline samples`;
}
