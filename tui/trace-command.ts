// `blit trace ...`: ingest offline traces into the telemetry store, list and show them, and record
// a blit command under strace or perf in one step. Exit codes: 0 done, 1 ingested but some lines
// could not be read (each is named on stderr), 2 usage or fatal error. Each subcommand's flags,
// --help and README table come from its spec (tui/trace-flags.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { telemetryPath } from "../analytics/index.ts";
import {
  formatTraceSummary, getTrace, ingestTrace, listTraces, traceSummary, summariesForRun, TraceError, TRACE_FORMATS,
  type IngestResult, type SummaryFormat, type TraceFormat,
} from "../traces/index.ts";
import { UsageError } from "../engine/index.ts";
import { boolFlag, editDistance, helpText, parseCommand, stringFlag } from "./kit/command.ts";
import type { Io } from "./kit/io.ts";
import { formatTime } from "./format.ts";
import { INGEST_FORMATS, TRACE_SPECS, traceMainHelp, type TraceSub } from "./trace-flags.ts";

/** The kit's one Io (tui/kit/io.ts). */
export type TraceIo = Io;

const EXIT_OK = 0;
const EXIT_UNPARSED = 1;
const EXIT_FATAL = 2;
/** Unparsed lines named on stderr per file; the store keeps the first 20 too. */
const SHOW_UNPARSED = 20;

export async function traceCommand(args: string[], io: TraceIo): Promise<number> {
  const say = (s: string) => io.stdout.write(s.endsWith("\n") ? s : s + "\n");
  const err = (s: string) => io.stderr.write(`blit trace: ${s}\n`);
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
    const topic = rest[0] as TraceSub | undefined;
    say(topic && Object.hasOwn(TRACE_SPECS, topic) ? helpText(TRACE_SPECS[topic]) : traceMainHelp());
    return sub === undefined ? EXIT_FATAL : EXIT_OK;
  }
  try {
    switch (sub) {
      case "ingest": return await ingest(rest, io, say, err);
      case "list": return await list(rest, io, say);
      case "show": return await show(rest, io, say, err);
      case "record": return await record(rest, io, say, err);
      default:
        err(`unknown command '${sub}'${didYouMean(sub)}; run 'blit trace --help'`);
        return EXIT_FATAL;
    }
  } catch (e) {
    // The kit's usage errors name the command themselves ("for 'blit trace show'").
    if (e instanceof UsageError) {
      io.stderr.write(`blit: ${e.message}\n`);
      return EXIT_FATAL;
    }
    if (e instanceof TraceError || e instanceof RangeError) {
      err((e as Error).message);
      return EXIT_FATAL;
    }
    if ((e as { name?: string }).name === "TelemetryError") {
      err((e as Error).message);
      return EXIT_FATAL;
    }
    err(io.env.BLIT_DEBUG === "1" ? `fatal: ${(e as Error).stack ?? e}` : `${(e as Error).message ?? e} (BLIT_DEBUG=1 shows where)`);
    return EXIT_FATAL;
  }
}

/** "; did you mean 'show'?" for a subcommand one or two typos away. */
function didYouMean(typed: string): string {
  const best = Object.keys(TRACE_SPECS).map((k) => ({ k, d: editDistance(typed, k) })).sort((a, b) => a.d - b.d)[0];
  return best && best.d <= Math.max(1, Math.floor(best.k.length / 3)) ? `; did you mean '${best.k}'?` : "";
}

type Say = (s: string) => void;

async function ingest(args: string[], io: TraceIo, say: Say, err: Say): Promise<number> {
  const { values, positionals } = parseCommand(TRACE_SPECS.ingest, args, io);
  if (values.help) return help("ingest", say);
  const format = formatFlag(stringFlag(values, "format"));
  const runId = stringFlag(values, "run");
  let code = EXIT_OK;
  for (const file of positionals) {
    try {
      const result = await ingestTrace(file, { storePath: telemetryPath(io.env), format, runId });
      if (values.json) say(JSON.stringify(result));
      else say(ingestLine(result));
      if (reportUnparsed(result, err)) code = Math.max(code, EXIT_UNPARSED);
    } catch (e) {
      if (!(e instanceof TraceError)) throw e;
      err(e.message);
      code = EXIT_FATAL;
    }
  }
  return code;
}

function ingestLine(r: IngestResult): string {
  const link = r.runId ? `linked to run ${r.runId} (${r.linkMethod})` : `not linked to a run${r.linkNote ? `: ${r.linkNote}` : ""}`;
  const what = r.events === 0 ? "no events" : `${r.events} events`;
  const skipped = Object.values(r.skippedLines).reduce((a, b) => a + b, 0);
  const passed = skipped ? `, ${skipped} line${skipped === 1 ? "" : "s"} skipped (${Object.keys(r.skippedLines).join("; ")})` : "";
  const traced = r.runId && r.summary.tracer ? `; the run was traced by ${r.summary.tracer.tool}` : "";
  return `trace ${r.traceId}: ${r.file} (${r.format}), ${what}${r.unparsedLines ? `, ${r.unparsedLines} unparsed lines` : ""}${passed}; ${link}${traced}`;
}

/** Names the unparsed lines on stderr; true when there were any. */
function reportUnparsed(r: IngestResult, err: Say): boolean {
  if (r.unparsedLines === 0) return false;
  for (const b of r.unparsedSample.slice(0, SHOW_UNPARSED)) err(`${r.file}:${b.line}: ${b.reason}: ${b.text}`);
  if (r.unparsedLines > SHOW_UNPARSED) err(`${r.file}: … and ${r.unparsedLines - SHOW_UNPARSED} more unparsed lines`);
  return true;
}

async function list(args: string[], io: TraceIo, say: Say): Promise<number> {
  const { values } = parseCommand(TRACE_SPECS.list, args, io);
  if (values.help) return help("list", say);
  const limitText = stringFlag(values, "limit");
  const limit = limitText === undefined ? 50 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`--limit needs a whole number of 1 or more, got '${limitText}'`);
  const traces = await listTraces({ path: telemetryPath(io.env), limit });
  if (values.json) {
    say(JSON.stringify(traces));
    return EXIT_OK;
  }
  if (traces.length === 0) {
    say(`no traces ingested yet in ${telemetryPath(io.env)}`);
    return EXIT_OK;
  }
  const rows = traces.map((t) => [t.id.slice(0, 8), formatTime(t.ingestedAt), t.format, String(t.events), String(t.unparsedLines), t.runId ? t.runId.slice(0, 8) : "-", t.file]);
  const head = ["id", "ingested", "format", "events", "unparsed", "run", "file"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  say([line(head), ...rows.map(line)].join("\n"));
  return EXIT_OK;
}

async function show(args: string[], io: TraceIo, say: Say, err: Say): Promise<number> {
  const { values, positionals } = parseCommand(TRACE_SPECS.show, args, io);
  if (values.help) return help("show", say);
  const format = summaryFormat(stringFlag(values, "format"));
  const scope = stringFlag(values, "scope") ?? "trace";
  if (scope !== "trace" && scope !== "run") throw new RangeError(`--scope is trace or run, got '${scope}'`);
  const path = telemetryPath(io.env);
  const info = await getTrace(positionals[0]!, { path });
  if (!info) {
    err(`no trace '${positionals[0]}' in ${path} (or the prefix is not unique); run 'blit trace list'`);
    return EXIT_FATAL;
  }
  let summary = await traceSummary(info.id, { path });
  if (scope === "run") {
    if (!info.runId) {
      err(`trace ${info.id} is not linked to a run; ingest it again with --run RUN_ID`);
      return EXIT_FATAL;
    }
    summary = (await summariesForRun(info.runId, { path })).find((s) => s.traceId === info.id)?.summary;
  }
  if (!summary) {
    err(`trace ${info.id} has no stored summary`);
    return EXIT_FATAL;
  }
  say(formatTraceSummary(summary, format));
  return EXIT_OK;
}

async function record(args: string[], io: TraceIo, say: Say, err: Say): Promise<number> {
  const dash = args.indexOf("--");
  const own = dash >= 0 ? args.slice(0, dash) : args;
  const command = dash >= 0 ? args.slice(dash + 1) : [];
  const { values, positionals } = parseCommand(TRACE_SPECS.record, own, io);
  if (values.help) return help("record", say);
  const chosen = [stringFlag(values, "tool"), boolFlag(values, "strace") ? "strace" : undefined, boolFlag(values, "perf") ? "perf" : undefined].filter((t) => t !== undefined);
  if (new Set(chosen).size > 1) throw new RangeError(`choose one tracer: --strace, --perf or --tool T (got ${chosen.join(" and ")})`);
  const tool = chosen[0] ?? "strace";
  if (tool !== "strace" && tool !== "perf") throw new RangeError(`--tool is strace or perf, got '${tool}'`);
  const format = summaryFormat(stringFlag(values, "format"));
  if (positionals.length > 0 || command.length === 0) {
    err("record needs the command after '--', e.g. 'blit trace record -- blit mirror SRC DST'");
    return EXIT_FATAL;
  }
  if (process.platform !== "linux") {
    err("record runs on Linux only; on Windows capture with WPR or xperf and use 'blit trace ingest'");
    return EXIT_FATAL;
  }
  const argv = command[0] === "blit" ? [process.execPath, new URL("./blit.ts", import.meta.url).pathname, ...command.slice(1)] : command;
  const dir = mkdtempSync(join(tmpdir(), "blit-trace-"));
  const out = join(dir, tool === "strace" ? "trace.strace" : "trace.perf-trace");
  const tracer = tool === "strace"
    ? ["strace", "-f", "-tt", "-T", "-e", "trace=file,desc,process", "-o", out, "--", ...argv]
    : ["perf", "trace", "-o", out, "--", ...argv];
  let child: ReturnType<typeof Bun.spawn> | undefined;
  try {
    const started = Date.now() / 1000;
    try {
      child = Bun.spawn(tracer, { env: io.env, stdin: "inherit", stdout: "pipe", stderr: "pipe" });
    } catch (e) {
      err(`cannot start ${tool}: ${(e as Error).message} (is it installed and on PATH?)`);
      return EXIT_FATAL;
    }
    const [status, stdout, stderr] = await Promise.all([
      child.exited,
      new Response(child.stdout as ReadableStream).text(),
      new Response(child.stderr as ReadableStream).text(),
    ]);
    io.stderr.write(stderr);
    io.stderr.write(stdout); // the traced command's own output, kept apart from the summary on stdout
    if (!(await Bun.file(out).exists()) || (await Bun.file(out).size) === 0) {
      err(`${tool} wrote no trace (exit status ${status}); is tracing allowed here? (ptrace / perf_event_paranoid)`);
      return EXIT_FATAL;
    }
    if (status !== 0) err(`note: the traced command exited with status ${status}; its trace is ingested anyway`);
    const result = await ingestTrace(out, {
      storePath: telemetryPath(io.env),
      format: tool === "strace" ? "strace" : "perf-trace",
      // perf trace counts milliseconds from its start, which is (within a few ms) when we spawned it
      epochOffset: tool === "perf" ? started : undefined,
      // the link says which tool traced the run, so diagnosis can account for the tracer's cost
      recordedWith: { tool, command: tracer.slice(0, tracer.indexOf("--")).filter((a) => a !== "-o" && a !== out).join(" ") },
    });
    say(ingestLine(result).replace(out, `${tool} of '${command.join(" ")}'`));
    const unparsed = reportUnparsed(result, err);
    say(formatTraceSummary(result.runSummary ?? result.summary, format));
    return unparsed ? EXIT_UNPARSED : EXIT_OK;
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function help(cmd: TraceSub, say: Say): number {
  say(helpText(TRACE_SPECS[cmd]));
  return EXIT_OK;
}

function formatFlag(value: string | undefined): TraceFormat | "auto" {
  if (value === undefined || value === "auto") return "auto";
  if ((TRACE_FORMATS as readonly string[]).includes(value)) return value as TraceFormat;
  throw new RangeError(`--format is one of ${INGEST_FORMATS}; got '${value}'`);
}

function summaryFormat(value: string | undefined): SummaryFormat {
  if (value === undefined) return "text";
  if (value === "text" || value === "md" || value === "json") return value;
  throw new RangeError(`--format is text, md or json; got '${value}'`);
}
