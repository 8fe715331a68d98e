// The one loop of copy, mirror, push and pull: record, show progress, stop on a signal, run,
// turn a refusal into a report, print errors, JSON or the summary, and exit with the report's
// own code. Each command supplies only how to run and how to summarize (rclone's sync.run()).
import { UsageError, type Action, type Progress, type RunReport } from "../../engine/index.ts";
import { startRecording, telemetryPath } from "../../analytics/index.ts";
import { displayName } from "../../ffi/index.ts";
import { EXIT_INTERRUPTED } from "../exit-codes.ts";
import { bytes, countOf } from "../format.ts";
import { ProgressView } from "../progress.ts";
import { statsLines, type EventSinks } from "../file-log.ts";
import { isTerminal, say, warn, type Io } from "./io.ts";

export interface TransferPlan {
  command: string;
  source: string;
  destination: string;
  dryRun: boolean;
  json: boolean;
  verbose: boolean;
  /** --progress / --no-progress; undefined: on when stderr is a terminal and not --json. */
  progress?: boolean;
  telemetry: boolean;
  /** What the first Ctrl-C says will happen. */
  interruptNote: string;
  /** Runs the transfer; a UsageError means refused before any work. */
  start(hooks: { signal: AbortSignal; onProgress: (p: Progress) => void }): Promise<{ report: RunReport; actions: Action[] }>;
  /** The report of a run refused before any work (so that telemetry has it too). */
  refused(e: UsageError): RunReport;
  /** Fields added to the JSON object and lines after the summary (a dry run's prediction). */
  extra?(report: RunReport): Promise<{ json: Record<string, unknown>; lines: string[] }>;
  summary(report: RunReport): string;
  /** Per-entry output (-i, -v with reasons, --log-file, --json-lines), fed by the run's events. */
  sinks?: EventSinks;
  /** -i or -v print each entry as it is done: no action list at the end, no progress unless asked. */
  perEntry?: boolean;
  /** --stats: rsync-like totals after the summary. */
  stats?: boolean;
  /** The flags as given, for the --log-file start line. */
  args?: string[];
}

/** Errors shown on stderr before the rest are counted. */
const ERRORS_SHOWN = 50;

export async function runTransfer(io: Io, plan: TransferPlan): Promise<number> {
  const recording = plan.telemetry ? startRecording({ path: telemetryPath(io.env) }) : undefined;
  // Per-entry lines on stdout would be torn by a progress line redrawn on the same terminal.
  const showProgress = plan.progress ?? (isTerminal(io.stderr) && !plan.json && !plan.perEntry);
  const view = showProgress ? new ProgressView(io.stderr as NodeJS.WriteStream, isTerminal(io.stderr)) : undefined;
  const abort = new AbortController();
  let signals = 0;
  const onSignal = () => {
    if (++signals === 1) {
      io.stderr.write(`\nblit: interrupted; ${plan.interruptNote} (press Ctrl-C again to quit at once)\n`);
      abort.abort();
    } else process.exit(EXIT_INTERRUPTED);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let report: RunReport;
  let actions: Action[] = [];
  try {
    plan.sinks?.start(plan.command, plan.source, plan.destination, plan.args ?? []);
    ({ report, actions } = await plan.start({ signal: abort.signal, onProgress: (p) => view?.update(p) }));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    report = plan.refused(e);
  } finally {
    view?.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  plan.sinks?.finish(report);
  if (recording) {
    const r = await recording.finish(report);
    if (r.warning) warn(io, `warning: telemetry not recorded: ${r.warning}`);
  }
  printErrors(io, report);
  const extra = report.status === "failed" && report.counts.planned === 0 ? undefined : await plan.extra?.(report);
  if (plan.json) {
    say(io, JSON.stringify({ ...report, actions: plan.dryRun ? actions : undefined, ...extra?.json, telemetry: plan.telemetry ? telemetryPath(io.env) : null }));
  } else if (!isRefusal(report)) {
    // -v and -i printed each entry as it was done (or planned); a plain dry run lists the plan.
    if (!plan.perEntry && (plan.dryRun || plan.verbose)) for (const a of actions) say(io, `${a.kind.padEnd(7)} ${displayName(a.path)}${a.bytes !== undefined ? `  (${bytes(a.bytes)})` : ""}`);
    say(io, plan.summary(report));
    for (const line of extra?.lines ?? []) say(io, line);
    if (plan.stats) say(io, statsLines(report));
    if (plan.verbose) for (const [k, note] of Object.entries(report.fastPathNotes)) say(io, `  note: ${k}: ${note}`);
  }
  return report.exitCode;
}

/** A run that failed before writing anything: its one error says it all, no summary of zeros. */
function isRefusal(r: RunReport): boolean {
  const c = r.counts;
  return r.status === "failed" && r.errors.length === 1 && r.errors[0]!.side === "run" && c.copied + c.deleted + c.dirsCreated === 0;
}

function printErrors(io: Io, report: RunReport): void {
  const shown = report.errors.slice(0, ERRORS_SHOWN);
  for (const e of shown) warn(io, e.side === "run" ? e.message : `error: ${e.side} ${e.path}: ${e.message} [${e.code}]`);
  if (report.errorCount > shown.length) warn(io, `… and ${countOf(report.errorCount - shown.length, "more error")} (see 'blit diagnose ${report.id.slice(0, 8)}')`);
}
