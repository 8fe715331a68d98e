// The flag tables of `blit diagnose`, `blit predict` and `blit tune`: their parser, --help and the
// README's tables are made from these (tui/kit). Kept apart from diagnose-command.ts so that the
// README generator and `blit help` need not load DuckDB queries or the Ink UI.
import { existsSync } from "node:fs";
import { isFleetSpec, telemetryPath } from "../analytics/index.ts";
import type { CommandSpec } from "./kit/command.ts";
import { helpFlag, type Flag } from "./kit/flag.ts";

/**
 * `--store SPEC`, the store a reading command reads: this host's store file, another one, or a
 * fleet's Parquet export read in place ('DIR/**\/*.parquet', or DIR).
 */
export function storeFlag<C extends string>(command: C): Flag<C> {
  return {
    name: "--store", value: "SPEC", commands: [command],
    help: "the telemetry store to read: a store file, or a fleet's Parquet export read in place ('DIR/**/*.parquet' or DIR, as 'blit telemetry export DIR' writes it); a fleet adds the fleet view",
    default: "$BLIT_HOME/telemetry.duckdb",
  };
}

/**
 * The store a reading command reads: `--store`'s value, else this host's store. A store file
 * given with --store must exist (a reader never creates an empty one where a typo pointed).
 */
export function storeToRead(store: string | undefined, env: Record<string, string | undefined>): string {
  if (store === undefined) return telemetryPath(env);
  if (isFleetSpec(store) || existsSync(store)) return store;
  throw new RangeError(`--store ${store}: no such store file or folder; give a telemetry.duckdb file, or a fleet export ('DIR/**/*.parquet' or DIR)`);
}

const DIAGNOSE_FLAGS: readonly Flag<"diagnose">[] = [
  { name: "--last", commands: ["diagnose"], help: "diagnose the most recent run" },
  { name: "--since", value: "SPAN", commands: ["diagnose"], help: "history window: 90m, 12h, 7d, 2w, or a date like 2025-03-01", default: "7d" },
  { name: "--limit", value: "N", commands: ["diagnose"], help: "runs listed as slowest and as flagged", default: "10" },
  {
    name: "--format", value: "FORMAT", commands: ["diagnose"],
    help: "text (default), md (Markdown) or json (schema: DIAGNOSE_REPORT_SCHEMA in analytics/diagnose-schema.ts)",
  },
  { name: "--json", commands: ["diagnose"], help: "same as --format json" },
  storeFlag("diagnose"),
  {
    name: "--ai", commands: ["diagnose"],
    help: "the interactive UI: recent runs (a throughput sparkline, predictions, flags), a run's page (actual vs predicted with its band, phases, fast paths, flags, trace) and an Explain panel (causes and suggestions with the evidence they cite, and the command line to try). With RUN_ID it opens at that run. When stdout is not a terminal it prints the same as Markdown.",
  },
  { name: "--ai-preview", commands: ["diagnose"], help: "print exactly what would be sent to the model for RUN_ID (default: the latest run), and send nothing" },
  {
    name: "--redact", commands: ["diagnose"],
    help: "with --ai or --ai-preview: replace paths and host names in what is sent with placeholders (<path-1>, <host-1>); answers are shown with the originals put back",
  },
  {
    name: "--ai-timeout", value: "MS", commands: ["diagnose"],
    help: "longest wait for the model before the offline rules answer", default: "20000; env BLIT_AI_TIMEOUT_MS",
  },
  helpFlag("diagnose"),
];

export const DIAGNOSE_SPEC: CommandSpec<"diagnose"> = {
  name: "diagnose",
  usage: `blit diagnose [RUN_ID | --last] [--since 7d] [--format text|md|json]
blit diagnose --ai [RUN_ID] [--redact] [--ai-timeout MS]
blit diagnose --ai-preview [RUN_ID] [--redact]`,
  about: `Without a run: a report on recent history from the telemetry store: the duration predictor per
route (its coefficients and its error measured on runs it did not see), the runs slowest against
their prediction, flagged runs, and trends per route.
With a run id (or a unique prefix of one, 4+ characters) or --last: that run's prediction and
error band, its flags, the numbered evidence (E1, E2, ...), and causes and suggestions that cite
the evidence and name the flag to change.`,
  flags: DIAGNOSE_FLAGS,
  positionals: ["[RUN_ID]"],
  after: `Flags raised: slow-vs-prediction (robust score ≥ 3.5 over similar runs and ≥ 1.5× their duration),
enumeration-heavy, delete-heavy, throughput-collapse, throttled, errors. A run far faster
than similar runs is noted, not flagged.
With fewer than 8 comparable runs the predictor uses default coefficients and says so.

Environment:
  BLIT_HOME        where the telemetry store lives (see 'blit --help')
  OPENAI_BASE_URL  an OpenAI-compatible endpoint for --ai (hosted, llama.cpp, Ollama ...)
  OPENAI_API_KEY   its key
  BLIT_AI_MODEL    the model to ask. Without all three, the offline rules explain.
  BLIT_AI_TIMEOUT_MS  default for --ai-timeout
A model is sent the run's evidence bundle (numbered facts), never file contents; its answer is
checked (claims citing no real evidence and flags blit lacks are dropped, visibly) and cached in
the store per run, evidence and model. Timeouts, rate limits, server errors and malformed
replies fall back to the offline rules with a notice.`,
};

const PREDICT_FLAGS: readonly Flag<"predict">[] = [
  { name: "--command", value: "NAME", commands: ["predict"], help: "copy or mirror", default: "mirror" },
  {
    name: "--workers", short: "-w", value: "N", commands: ["predict"], help: "the worker count you would run with",
    default: "the one 'blit tune --apply' chose for these filesystems, else blit's default; env BLIT_WORKERS",
  },
  { name: "--bwlimit", value: "RATE", commands: ["predict"], help: "the bandwidth limit you would run with: 500K, 50M, 1G (0 = none)" },
  { name: "--exclude", value: "GLOB", repeatable: true, commands: ["predict"], help: "as for copy and mirror (repeatable)" },
  { name: "--checksum", short: "-c", commands: ["predict"], help: "as for copy and mirror (then the plan hashes files to compare them)" },
  { name: "--format", value: "FORMAT", commands: ["predict"], help: "text (default) or json" },
  { name: "--json", commands: ["predict"], help: "same as --format json" },
  storeFlag("predict"),
  helpFlag("predict"),
];

export const PREDICT_SPEC: CommandSpec<"predict"> = {
  name: "predict",
  usage: "blit predict SRC DST [flags]",
  about: `How long 'blit mirror SRC DST' (or copy) would take, and why, before running it. Both trees are
enumerated (a dry run; nothing is written or recorded) to learn what would be transferred; the
predictor fitted on this store's history turns that into a duration with its 80% error band,
term by term (fixed cost, per file, per byte, ...). With little history it uses documented
default coefficients and says so.`,
  flags: PREDICT_FLAGS,
  positionals: ["SRC", "DST"],
};

const TUNE_FLAGS: readonly Flag<"tune">[] = [
  {
    name: "--apply", commands: ["tune"],
    help: "use the winner from now on: later runs on these filesystems that do not set --workers (or BLIT_WORKERS) use it",
  },
  { name: "--workers", value: "LIST", commands: ["tune"], help: "worker counts to try", default: "1,2,4,8" },
  { name: "--rounds", value: "N", commands: ["tune"], help: "rounds over all counts; each count's result is its median", default: "2" },
  { name: "--sample-files", value: "N", commands: ["tune"], help: "most files in the sample", default: "2000" },
  { name: "--sample-bytes", value: "N", commands: ["tune"], help: "most bytes in the sample: 64M, 1G (K, M, G are powers of 1024)", default: "128M" },
  { name: "--exclude", value: "GLOB", repeatable: true, commands: ["tune"], help: "leave matching entries out of the sample (repeatable)" },
  { name: "--format", value: "FORMAT", commands: ["tune"], help: "text (default) or json" },
  { name: "--json", commands: ["tune"], help: "same as --format json" },
  helpFlag("tune"),
];

export const TUNE_SPEC: CommandSpec<"tune"> = {
  name: "tune",
  usage: "blit tune SRC DST [--apply] [flags]",
  about: `Measure worker counts on a sample of the real tree and keep the fastest for this route and pair
of filesystems. The sample (evenly spaced files of SRC, at most --sample-files files and
--sample-bytes bytes) is staged in a scratch directory beside DST, on DST's filesystem, and copied
once per worker count and round into fresh directories; every trial is a real run, recorded in
the telemetry store. The scratch directory is removed at the end. DST itself is not touched.`,
  flags: TUNE_FLAGS,
  positionals: ["SRC", "DST"],
};
