// The flag tables of `blit trace ingest|list|show|record`: each subcommand's parser, --help and
// README table are made from its spec here (tui/kit).
import { TRACE_FORMATS } from "../traces/index.ts";
import type { CommandSpec } from "./kit/command.ts";
import { helpFlag } from "./kit/flag.ts";

export type TraceSub = "ingest" | "list" | "show" | "record";

/** What --format of ingest takes. */
export const INGEST_FORMATS = `auto, ${TRACE_FORMATS.join(", ")}`;

const INGEST: CommandSpec<"trace ingest"> = {
  name: "trace ingest",
  usage: "blit trace ingest FILE... [--format F] [--run RUN_ID] [--json]",
  about: `Read trace files into the telemetry store, summarize them, and link each to the blit run it
covers: the run given with --run, else a recorded run whose process id appears in the trace
and whose start..finish overlaps the trace's time.

Formats (detected from the content, never the file name):
  xperf        'xperf -i t.etl -o t.txt -a dumper' text
  tracerpt     'tracerpt t.etl -of CSV' (UTF-8 or UTF-16)
  wpa-csv      wpaexporter / WPA 'Export to CSV' tables (any locale)
  perf-script  'perf script' text of any perf since 3.x: with or without --header, the time,
               CPU and period fields, ':' after the event, call chains; tracepoints; CPU
               samples (cpu-clock, task-clock, cycles) give the busiest functions
  perf-trace   'perf trace' text
  strace       strace with -f/-ff (pid column or [pid N]), -t, -tt, -ttt or -r, -T, -y/-yy
               (fds shown as paths or sockets), -k (each call's stack kept), unfinished and
               resumed halves, signals and exits; the traced program's own output between
               strace's lines is skipped and counted, never an error`,
  flags: [
    { name: "--format", value: "F", commands: ["trace ingest"], help: `read every FILE as format F (${INGEST_FORMATS})`, default: "auto" },
    { name: "--run", value: "RUN_ID", commands: ["trace ingest"], help: "link to this run (see 'blit diagnostics perf' for ids)" },
    { name: "--json", commands: ["trace ingest"], help: "print one JSON object per file (the ingest result) on stdout" },
    helpFlag("trace ingest"),
  ],
  positionals: ["FILE..."],
  after: `Lines that cannot be read are counted, named on stderr and skipped; the rest is ingested (exit 1).
Times: strace -tt has no date and strace -r, perf trace and ETW exports have no origin, so their
wall time is placed by the file's modification time (marked "estimated" when it is a guess).`,
};

const LIST: CommandSpec<"trace list"> = {
  name: "trace list",
  usage: "blit trace list [--limit N] [--json]",
  about: "List ingested traces, newest first: id, format, events, unparsed lines, linked run, file.",
  flags: [
    { name: "--limit", value: "N", commands: ["trace list"], help: "how many traces", default: "50" },
    { name: "--json", commands: ["trace list"], help: "print the traces as a JSON array" },
    helpFlag("trace list"),
  ],
  positionals: [],
};

const SHOW: CommandSpec<"trace show"> = {
  name: "trace show",
  usage: "blit trace show TRACE_ID [--format text|md|json] [--scope trace|run]",
  about: `Show a trace's summary: time and count per operation kind, latency percentiles, bytes by process
and by file, other processes that touched blit's files (an antivirus scanner reading every file
blit writes), metadata against data time, and the longest gaps without progress.
TRACE_ID may be a unique prefix of the id ('blit trace list' shows them).`,
  flags: [
    { name: "--format", value: "F", commands: ["trace show"], help: "text (default), md (Markdown) or json" },
    { name: "--scope", value: "S", commands: ["trace show"], help: "trace (the whole file, default) or run (only the linked run's window)" },
    helpFlag("trace show"),
  ],
  positionals: ["TRACE_ID"],
};

const RECORD: CommandSpec<"trace record"> = {
  name: "trace record",
  usage: "blit trace record [--strace|--perf] [--format text|md|json] -- COMMAND...",
  about: `Linux: run COMMAND (usually 'blit mirror SRC DST' or 'blit copy SRC DST') under a tracer, ingest
the trace linked to the run it produced, remove the temporary trace file, and print the trace id
and its summary. 'blit' as the first word runs this blit.

  strace (default)  strace -f -tt -T -e trace=file,desc,process   (paths, sizes, durations)
  perf              perf trace                                     (lower overhead; needs perf
                                                                    and permission to trace)
The trace is linked to the run as traced by that tool ('traced by' in 'blit trace show', and the
summary's "tracer" in JSON): the fact diagnosis needs to tell the tracer's own cost (strace
slows every system call) from the run's.`,
  flags: [
    { name: "--strace", commands: ["trace record"], help: "trace with strace (the default)" },
    { name: "--perf", commands: ["trace record"], help: "trace with perf trace" },
    { name: "--tool", value: "T", commands: ["trace record"], help: "the same as --strace or --perf: strace or perf" },
    { name: "--format", value: "F", commands: ["trace record"], help: "how to print the summary: text (default), md or json" },
    helpFlag("trace record"),
  ],
  // The command comes after '--' and is split off before parsing; words before '--' are told
  // where the command goes (trace-command.ts), not just "unexpected".
  positionals: ["[COMMAND...]"],
  after: "The telemetry store is the one COMMAND records into (BLIT_HOME etc. are passed through).",
};

export const TRACE_SPECS: { [S in TraceSub]: CommandSpec<`trace ${S}`> } = { ingest: INGEST, list: LIST, show: SHOW, record: RECORD };

/** `blit trace --help`: the subcommands' usages (from their specs) and the exit codes. */
export function traceMainHelp(): string {
  const usages = Object.values(TRACE_SPECS).map((s) => `  ${s.usage}`).join("\n");
  return `blit trace — offline traces of slow copies, stored beside the runs they explain

Usage:
${usages}

Run 'blit trace COMMAND --help' for a command's flags.

Exit codes:
  0  done
  1  ingested, but some lines could not be read (each is named on stderr, with its line number)
  2  usage error, or a file that is missing, empty or not a trace
`;
}
