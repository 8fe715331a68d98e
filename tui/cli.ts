// The blit command line: route a command to its module, and map what escapes to one line and
// an exit code (usage errors 2; anything else 2 with its message, the stack only with BLIT_DEBUG=1).
import { UsageError, VERSION } from "../engine/index.ts";
import { formatRunsTable, isFleetSpec, listRuns, TelemetryError, telemetryPath } from "../analytics/index.ts";
// Commands other than copy and mirror load their modules (DuckDB queries, gRPC, Ink) on use, so
// that a copy starts in ~20 ms.
const diagnoseCommands = () => import("./diagnose-command.ts");
const remoteCommands = () => import("./remote-command.ts");
const traceCommands = () => import("./trace-command.ts");
const checkCommands = () => import("./check-command.ts");
const telemetryCommands = () => import("./telemetry-command.ts");
const reportCommands = () => import("./report-command.ts");
import { EXIT_FATAL, EXIT_OK } from "./exit-codes.ts";
import { editDistance, helpText, parseCommand, stringFlag, usageErrorOf, type CommandSpec } from "./kit/command.ts";
import { flagLabel, labelList } from "./kit/flag.ts";
import { processIo, say, warn, type Io } from "./kit/io.ts";
import { transferFlagsOf } from "./transfer-flags.ts";
import { storeFlag, storeToRead } from "./diagnose-flags.ts";
import { TRANSFER_SPECS, transferCommand } from "./transfer-command.ts";

export type { Io } from "./kit/io.ts";

const MAIN_HELP = `blit ${VERSION} — fast file copy and sync that records every run

Usage:
  blit copy   SRC... DST [flags]  copy new and changed files from SRC into DST; never deletes
  blit mirror SRC... DST [flags]  make DST equal to SRC, deleting what SRC lacks
  blit push SRC blit://HOST:PORT/MODULE[/PATH] [--mirror] [--force-grpc] [flags]
                                  send SRC to a blitd module
  blit pull blit://HOST:PORT/MODULE[/PATH] DST [--mirror] [--force-grpc] [flags]
                                  fetch from a blitd module into DST
  blit ls   blit://HOST:PORT[/MODULE[/PATH]] [--timeout SECONDS] [--json]
                                  list a daemon's modules, or a directory in one
                                  (blits://... for a daemon with TLS: --tls-ca FILE, or its key
                                  pinned in $BLIT_HOME/known_daemons; see 'blit push --help')
  blit check SRC DST [--checksum] [--exclude PATTERN] [--include PATTERN] [--json]
                                  list what is missing, extra or different between two trees
                                  (either may be blit://...); exit 0 equal, 1 different, 2 error
  blit diagnostics perf [--limit N] [--json] [--store SPEC]
                                  recent runs from the telemetry store
  blit diagnose [RUN_ID | --last] [--since 7d] [--format text|md|json] [--store SPEC]
                                  explain a run (or recent history): prediction, flags, causes;
                                  --store 'DIR/**/*.parquet' reads a fleet's export and adds the
                                  fleet view (which hosts are slow for the same work)
  blit report --html FILE [RUN_ID | --last | --since 30d] [--store SPEC]
                                  one self-contained HTML page with charts: history or one run
  blit telemetry export|import DIR
                                  this host's runs out to a fleet's Parquet folder (by host and
                                  day; only what is new), or a folder's runs into this store
  blit predict SRC DST            how long a copy/mirror would take, and why, before running it
  blit tune SRC DST [--apply]     measure worker counts on a sample; --apply uses the best later
  blit trace ingest|list|show|record ...
                                  offline traces (ETW text/CSV, perf, strace) as evidence
  blit help [COMMAND]             this text, or a command's flags ('blit help blitd': the daemon's)

SRC is a directory (its contents go into DST, which is created if missing) or a single file
(copied into DST if DST is a directory, else to the path DST). With several sources, each one's
name becomes an entry of DST (SRC1 goes to DST/NAME1, as 'cp -r a b dst/' does).

Flags of copy and mirror (details: 'blit copy --help', 'blit mirror --help'):
${labelList(transferFlagsOf("copy"))}
  mirror only: ${transferFlagsOf("mirror").filter((f) => !f.commands.includes("copy")).map(flagLabel).join("   ")}
  -a, -r (rsync's) are accepted and ignored: blit always copies recursively, keeping modes and times

Exit codes:
  0    all done
  1    some files failed (each is named on stderr); the rest was done, mirror deleted nothing
       (blit check: 1 means the trees differ)
  2    usage error or fatal error (bad flags, missing source, destination inside source,
       no space left on the destination); nothing or only part was written
  130  interrupted (Ctrl-C or SIGTERM); temporary files removed, run recorded as interrupted

Environment:
  BLIT_HOME        where the telemetry store lives (default $XDG_DATA_HOME/blit, else
                   ~/.local/share/blit); the file is BLIT_HOME/telemetry.duckdb; the pinned
                   keys of blits:// daemons are in BLIT_HOME/known_daemons
  BLIT_TELEMETRY   'off' records nothing (same as --no-telemetry)
  BLIT_WORKERS     default for --workers
  BLIT_BACKEND     'portable' forces the plain read/write copy path (for comparison)
`;

const DIAGNOSTICS_SPEC: CommandSpec = {
  name: "diagnostics perf",
  usage: "blit diagnostics perf [--limit N] [--json]",
  about: `List recent runs from the telemetry store, newest first: id, when (with its time zone),
command, status (a dry run says so), files, bytes, duration, rate, workers, the fast path that
carried most bytes, source and destination. Sizes are IEC (KiB, MiB); the rate is bytes copied
over the transfer phase, as the run's own summary prints it; --json gives raw numbers (bytes,
milliseconds, UTC times). Give the id (or its first characters) to 'blit diagnose'.`,
  flags: [
    { name: "--limit", value: "N", commands: ["diagnostics perf"], help: "how many runs", default: "20" },
    { name: "--json", commands: ["diagnostics perf"], help: "print the runs as a JSON array" },
    storeFlag("diagnostics perf"),
    { name: "--help", short: "-h", commands: ["diagnostics perf"], help: "this help" },
  ],
  positionals: [],
};

const COMMANDS = ["copy", "mirror", "push", "pull", "ls", "check", "diagnostics", "diagnose", "report", "predict", "tune", "trace", "telemetry", "help"];

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "-h" || cmd === "--help") {
    say(io, MAIN_HELP);
    return cmd === undefined ? EXIT_FATAL : EXIT_OK;
  }
  if (cmd === "--version" || cmd === "-V") {
    say(io, `blit ${VERSION}`);
    return EXIT_OK;
  }
  try {
    if (cmd === "help") return await help(rest[0], io);
    if (cmd === "copy" || cmd === "mirror" || cmd === "push" || cmd === "pull") return await transferCommand(cmd, rest, io);
    if (cmd === "diagnostics") return await diagnostics(rest, io);
    if (cmd === "diagnose") return await (await diagnoseCommands()).diagnoseCommand(rest, io);
    if (cmd === "report") return await (await reportCommands()).reportCommand(rest, io);
    if (cmd === "predict") return await (await diagnoseCommands()).predictCommand(rest, io);
    if (cmd === "tune") return await (await diagnoseCommands()).tuneCommand(rest, io);
    if (cmd === "trace") return await (await traceCommands()).traceCommand(rest, io);
    if (cmd === "ls") return await (await remoteCommands()).lsCommand(rest, io);
    if (cmd === "check") return await (await checkCommands()).checkCommand(rest, io);
    if (cmd === "telemetry") return await (await telemetryCommands()).telemetryCommand(rest, io);
    throw new UsageError("USAGE", `unknown command '${cmd}'${didYouMean(cmd, COMMANDS)}; run 'blit --help' for the commands`);
  } catch (e) {
    warn(io, failureText(await asUsageError(cmd, e), io.env));
    return EXIT_FATAL;
  }
}

/** A parseArgs error that escaped a command (check parses with its table's spec) in the kit's words. */
async function asUsageError(cmd: string, e: unknown): Promise<unknown> {
  if (!((e as { code?: string }).code ?? "").startsWith("ERR_PARSE_ARGS")) return e;
  const flags = cmd === "check" ? (await checkCommands()).CHECK_FLAGS : [];
  return usageErrorOf({ name: cmd, usage: `blit ${cmd}`, about: "", flags, positionals: [] }, e);
}

/** What a failure that escaped a command says: its message; the stack only with BLIT_DEBUG=1. */
export function failureText(e: unknown, env: Io["env"]): string {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof UsageError || e instanceof RangeError || ((e as { code?: string }).code ?? "").startsWith("ERR_PARSE_ARGS")) return message;
  if (env.BLIT_DEBUG === "1") return `fatal: ${(e as Error)?.stack ?? e}`;
  if (e instanceof TelemetryError) return `${message}; ${telemetryRemedy(e)}`;
  const code = (e as { code?: string }).code;
  return `${message}${code && !message.includes(code) ? ` [${code}]` : ""} (BLIT_DEBUG=1 shows where)`;
}

/** What to do about a store that cannot be opened (named in the message). */
function telemetryRemedy(e: TelemetryError): string {
  if (isFleetSpec(e.path)) return "give the folder 'blit telemetry export' wrote, or a glob of its Parquet files ('DIR/**/*.parquet')";
  return e.code === "TELEMETRY_BUSY"
    ? "try again when the other blit has finished"
    : `move the file aside (blit starts a new store there), or set BLIT_HOME to another directory`;
}

/** "; did you mean 'copy'?" when `typed` is one typo from a known word. */
function didYouMean(typed: string, known: readonly string[]): string {
  const best = known.map((k) => ({ k, d: editDistance(typed, k) })).sort((a, b) => a.d - b.d)[0];
  return best && best.d <= Math.max(1, Math.floor(best.k.length / 3)) ? `; did you mean '${best.k}'?` : "";
}

/** `blit help [COMMAND]`: the command's own --help (blitd's too). */
async function help(topic: string | undefined, io: Io): Promise<number> {
  if (topic === undefined) {
    say(io, MAIN_HELP);
    return EXIT_OK;
  }
  if (topic === "blitd") {
    say(io, (await import("../daemon/index.ts")).BLITD_HELP);
    return EXIT_OK;
  }
  if (topic === "copy" || topic === "mirror" || topic === "push" || topic === "pull") {
    say(io, helpText(TRANSFER_SPECS[topic]));
    return EXIT_OK;
  }
  if (topic === "diagnostics") {
    say(io, helpText(DIAGNOSTICS_SPEC));
    return EXIT_OK;
  }
  if (COMMANDS.includes(topic)) return main([topic, "--help"], io);
  throw new UsageError("USAGE", `no help for '${topic}'${didYouMean(topic, [...COMMANDS, "blitd"])}; the commands: ${[...COMMANDS, "blitd"].join(", ")}`);
}

async function diagnostics(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "-h" || sub === "--help" || sub === undefined) {
    say(io, helpText(DIAGNOSTICS_SPEC));
    return sub === undefined ? EXIT_FATAL : EXIT_OK;
  }
  if (sub !== "perf") throw new UsageError("USAGE", `unknown diagnostics command '${sub}'; the one there is: blit diagnostics perf`);
  const { values } = parseCommand(DIAGNOSTICS_SPEC, rest, io);
  if (values.help) {
    say(io, helpText(DIAGNOSTICS_SPEC));
    return EXIT_OK;
  }
  const limitText = stringFlag(values, "limit");
  const limit = limitText === undefined ? 20 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError("USAGE", `--limit needs a whole number of 1 or more, got '${limitText}'`);
  const path = storeToRead(stringFlag(values, "store"), io.env);
  const runs = await listRuns({ limit, path });
  if (values.json) say(io, JSON.stringify(runs));
  else if (runs.length === 0) say(io, `no runs recorded yet in ${path}`);
  else say(io, formatRunsTable(runs));
  return EXIT_OK;
}
