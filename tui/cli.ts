// The blit command line: parse, run, print, record, and map the outcome to an exit code.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  normalizeOptions, parseRate, refusedReport, run, UsageError, VERSION,
  type Action, type Job, type RunReport,
} from "../engine/index.ts";
import {
  formatRunsTable, listRuns, predictFor, startRecording, telemetryEnabled, telemetryPath, tunedWorkers, type Recording,
} from "../analytics/index.ts";
import { displayName, filesystemType, metadataPrivileges } from "../ffi/index.ts";
// Commands other than copy and mirror load their modules (DuckDB queries, gRPC, Ink) on use, so
// that a copy starts in ~20 ms.
const diagnoseCommands = () => import("./diagnose-command.ts");
const remoteCommands = () => import("./remote-command.ts");
const traceCommands = () => import("./trace-command.ts");
const checkCommands = () => import("./check-command.ts");
import { EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK, exitCodeFor } from "./exit-codes.ts";
import { BACKUP_AND_LOG_OPTIONS, COMMON_TRANSFER_OPTIONS } from "./transfer-flags.ts";
import { bytes, count, holeNote, rate, seconds, specialsNote } from "./format.ts";
import { ProgressView } from "./progress.ts";
import { eventSinks, statsLines } from "./file-log.ts";

const MAIN_HELP = `blit ${VERSION} — fast file copy and sync that records every run

Usage:
  blit copy   SRC DST [flags]     copy new and changed files from SRC into DST; never deletes
  blit mirror SRC DST [flags]     make DST equal to SRC, deleting what SRC lacks
  blit push SRC blit://HOST:PORT/MODULE[/PATH] [--mirror] [--force-grpc] [flags]
                                  send SRC to a blitd module
  blit pull blit://HOST:PORT/MODULE[/PATH] DST [--mirror] [--force-grpc] [flags]
                                  fetch from a blitd module into DST
  blit ls   blit://HOST:PORT[/MODULE[/PATH]] [--timeout SECONDS] [--json]
                                  list a daemon's modules, or a directory in one
                                  (blits://... for a daemon with TLS: --tls-ca FILE, or its key
                                  pinned in $BLIT_HOME/known_daemons; see 'blit push --help')
  blit check SRC DST [--checksum] [--exclude GLOB] [--json]
                                  list what is missing, extra or different between two trees
                                  (either may be blit://...); exit 0 equal, 1 different, 2 error
  blit diagnostics perf [--limit N] [--json]
                                  recent runs from the telemetry store
  blit diagnose [RUN_ID | --last] [--since 7d] [--format text|md|json]
                                  explain a run (or recent history): prediction, flags, causes
  blit predict SRC DST            how long a copy/mirror would take, and why, before running it
  blit tune SRC DST [--apply]     measure worker counts on a sample; --apply uses the best later
  blit trace ingest|list|show|record ...
                                  offline traces (ETW text/CSV, perf, strace) as evidence
  blit help [COMMAND]             this text, or a command's flags

SRC is a directory (its contents go into DST, which is created if missing) or a single file
(copied into DST if DST is a directory, else to the path DST).

Flags of copy and mirror (details: 'blit copy --help', 'blit mirror --help'):
  -n, --dry-run   -c, --checksum   --size-only   -I, --ignore-times   --exclude GLOB
  -H, --hard-links   -X, --xattrs   -A, --acls   --no-owner   --no-group   --specials   --devices
  -w, --workers N   --bwlimit RATE   --progress   --no-progress   --json   -v, --verbose
  -i, --itemize-changes   --log-file FILE   --json-lines   --stats
  -b, --backup   --backup-dir DIR   --suffix S
  --no-telemetry   -h, --help;   mirror only: --max-delete N   --force

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

const COPY_FLAGS = `Flags:
  -n, --dry-run          print the plan (what would be copied, created, deleted); change nothing
  -c, --checksum         compare files of equal size by content hash (BLAKE2b-256), not mtime
      --size-only        treat files of equal size as unchanged, whatever their mtime
  -I, --ignore-times     copy every file, even when size and mtime match
      --exclude GLOB     leave out matching entries (repeatable). A pattern without '/' matches a
                         name at any depth ('*.tmp', 'node_modules'); with '/' it matches the path
                         from SRC ('logs/*.gz'; a leading '/' anchors it at SRC); a trailing '/'
                         matches directories only. Excluded destination entries are never deleted.
  -H, --hard-links       files that are hard links of each other in SRC stay hard links in DST
                         (the first is copied, the others are linked to it)
  -X, --xattrs           keep extended attributes: user.*, and as root also trusted.* and security.*
  -A, --acls             keep POSIX ACLs
      --no-owner         do not give copies the source's owner (kept by default when running as
                         root, as rsync -a does; another user's copies are owned by that user)
      --no-group         do not give copies the source's group (kept by default as root)
      --specials         create FIFOs and sockets like the source's (otherwise they are skipped,
                         and the summary counts them by kind)
      --devices          create device nodes like the source's (needs root; otherwise skipped
                         and counted)
  -w, --workers N        copy with N worker threads (default: 2 per CPU core, 2 to 16;
                         env BLIT_WORKERS)
      --bwlimit RATE     limit the transfer to RATE bytes per second: 500K, 50M, 1G
                         (K, M, G are powers of 1024; 0 = no limit)
      --progress         show progress on stderr (default when stderr is a terminal):
                         files, bytes, rate, ETA
      --no-progress      no progress display
      --json             print one JSON object (the run report) on stdout, for scripts
      --json-lines       print one JSON object per entry event on stdout ({"event": "copy",
                         "mkdir", "link", "meta", "delete", "backup" or "error", "path",
                         "reason", "bytes", "itemize", ...}), then the run report as the last line
  -v, --verbose          list every action as it is done, with its reason (new, size, time,
                         checksum, perms, owner, group, always), and the fast-path notes
  -i, --itemize-changes  list every change in rsync's format: '>f+++++++++ new',
                         '>f.st...... changed', 'cd+++++++++ dir/', '.f...p..... mode',
                         '*deleting   gone' (YXcstpoguax as in rsync(1))
      --log-file FILE    append a line per action (timestamp with its zone, the itemized change,
                         the reason) between a start line and an end line with the totals; a
                         symlink or non-regular FILE is refused; a new FILE is made 0600
      --stats            print rsync-like totals after the summary
  -b, --backup           keep what the run overwrites (and a mirror replaces or deletes) as NAME~
                         beside it; a mirror then never deletes names ending in the suffix
      --backup-dir DIR   keep them in DIR instead, under their path relative to DST (this
                         implies --backup; DIR is relative to DST unless absolute, on DST's
                         filesystem; a DIR inside DST is neither copied into nor deleted; 0700)
      --suffix S         the backups' suffix (implies --backup; default '~', '' with --backup-dir)
      --no-telemetry     do not record this run (env BLIT_TELEMETRY=off does the same)
  -h, --help             this help`;

const MIRROR_ONLY = `Mirror only:
      --max-delete N     if more than N entries would be deleted, delete none and exit 1
      --force            allow a mirror from an empty SRC to empty DST

Mirror deletes only after a complete enumeration and copy with no errors; any error means
nothing is deleted (exit 1).`;

const BACKUPS_NOTE = `Backups (--backup, --backup-dir, --suffix): a file about to be overwritten first gets a second
name (a hard link) as its backup, so its name always holds the old or the new file; a deleted
entry is renamed into the backups; an older backup of the same name is replaced. A backup that
cannot be made leaves its entry as it was (named as an error, exit 1). All of it goes through
DST's directory handles without following symlinks below DST and DIR. With -v or -i, progress
is shown only when asked for with --progress.`;

const HELP: Record<string, string> = {
  copy: `blit copy SRC DST [flags]

Copy new and changed files from SRC into DST. Never deletes anything in DST. A file counts as
unchanged when its size and modification time match (see --checksum, --size-only,
--ignore-times). Files are written under a temporary (anonymous where the OS allows) and put in
place only when complete, with their mode and mtime (nanoseconds kept); symlinks are copied as
links, empty directories are kept, directory mtimes are set last.

What is kept: as root, a file's owner and group (unless --no-owner, --no-group); with -X its
extended attributes, with -A its POSIX ACL; all given to the temporary before it gets its name.
Directories, symlinks (the link itself) and special files get them too. An entry whose size and
mtime match is not copied; its mode, owner and group are set again if they differ (not its
attributes). -H keeps hard links, --specials and --devices create FIFOs, sockets and devices.

${COPY_FLAGS}

${BACKUPS_NOTE}
`,
  mirror: `blit mirror SRC DST [flags]

Make DST equal to SRC: copy new and changed files as 'blit copy' does, then delete entries of
DST that SRC lacks.

${COPY_FLAGS}
${MIRROR_ONLY}

${BACKUPS_NOTE}
`,
  diagnostics: `blit diagnostics perf [--limit N] [--json]

List recent runs from the telemetry store, newest first: when, command, status, files, bytes,
duration, rate, workers, the fast path that carried most bytes, source and destination.

Flags:
      --limit N          how many runs (default 20)
      --json             print the runs as a JSON array
  -h, --help             this help
`,
};

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const say = (s: string) => io.stdout.write(s.endsWith("\n") ? s : s + "\n");
  const err = (s: string) => io.stderr.write(`blit: ${s}\n`);
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "-h" || cmd === "--help") {
    say(MAIN_HELP);
    return cmd === undefined ? EXIT_FATAL : EXIT_OK;
  }
  if (cmd === "--version" || cmd === "-V") {
    say(`blit ${VERSION}`);
    return EXIT_OK;
  }
  if (cmd === "help") {
    const topic = rest[0];
    if (topic && ["diagnose", "predict", "tune", "trace", "push", "pull", "ls", "check"].includes(topic)) return main([topic, "--help"], io);
    else say(topic && HELP[topic] ? HELP[topic]! : MAIN_HELP);
    return EXIT_OK;
  }
  try {
    if (cmd === "copy" || cmd === "mirror") return await transfer(cmd, rest, io, say, err);
    if (cmd === "diagnostics") return await diagnostics(rest, io, say, err);
    if (cmd === "diagnose") return await (await diagnoseCommands()).diagnoseCommand(rest, io);
    if (cmd === "predict") return await (await diagnoseCommands()).predictCommand(rest, io);
    if (cmd === "tune") return await (await diagnoseCommands()).tuneCommand(rest, io);
    if (cmd === "trace") return await (await traceCommands()).traceCommand(rest, io);
    if (cmd === "push") return await (await remoteCommands()).pushCommand(rest, io);
    if (cmd === "pull") return await (await remoteCommands()).pullCommand(rest, io);
    if (cmd === "ls") return await (await remoteCommands()).lsCommand(rest, io);
    if (cmd === "check") return await (await checkCommands()).checkCommand(rest, io);
    err(`unknown command '${cmd}'; run 'blit --help' for the commands`);
    return EXIT_FATAL;
  } catch (e) {
    if (e instanceof UsageError || e instanceof RangeError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      err(`${(e as Error).message}`);
      return EXIT_FATAL;
    }
    err(`fatal: ${(e as Error).stack ?? e}`);
    return EXIT_FATAL;
  }
}

async function transfer(cmd: "copy" | "mirror", args: string[], io: Io, say: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...COMMON_TRANSFER_OPTIONS,
      workers: { type: "string", short: "w" },
      bwlimit: { type: "string" },
      xattrs: { type: "boolean", short: "X" },
      acls: { type: "boolean", short: "A" },
      "no-owner": { type: "boolean" },
      "no-group": { type: "boolean" },
      ...BACKUP_AND_LOG_OPTIONS,
    },
  });
  if (values.help) {
    say(HELP[cmd]!);
    return EXIT_OK;
  }
  if (positionals.length !== 2) {
    err(`${cmd} needs a source and a destination (got ${positionals.length} path${positionals.length === 1 ? "" : "s"}); run 'blit ${cmd} --help'`);
    return EXIT_FATAL;
  }
  if (cmd === "copy" && (values["max-delete"] !== undefined || values.force)) {
    err("--max-delete and --force are mirror flags; copy never deletes");
    return EXIT_FATAL;
  }
  const wholeNumber = (flag: string, v: string) => {
    if (!/^\d+$/.test(v)) throw new RangeError(`--${flag} needs a whole number, got '${v}'`);
    return Number(v);
  };
  const workersText = values.workers ?? (io.env.BLIT_WORKERS || undefined);
  const options = normalizeOptions({
    dryRun: values["dry-run"] ?? false,
    checksum: values.checksum ?? false,
    sizeOnly: values["size-only"] ?? false,
    ignoreTimes: values["ignore-times"] ?? false,
    exclude: values.exclude ?? [],
    workers: workersText !== undefined ? wholeNumber("workers", workersText) : tuned(positionals, io),
    bwlimit: values.bwlimit !== undefined ? parseRate(values.bwlimit) : 0,
    maxDelete: values["max-delete"] !== undefined ? wholeNumber("max-delete", values["max-delete"]) : -1,
    force: values.force ?? false,
    hardLinks: values["hard-links"] ?? false,
    // Left out, owner and group follow what this process may keep (root: kept).
    owner: values["no-owner"] ? false : undefined,
    group: values["no-group"] ? false : undefined,
    xattrs: values.xattrs ?? false,
    acls: values.acls ?? false,
    specials: values.specials ?? false,
    devices: values.devices ?? false,
    backup: values.backup,
    backupDir: values["backup-dir"],
    suffix: values.suffix,
  });
  const job: Job = { command: cmd, source: positionals[0]!, destination: positionals[1]!, options };
  const telemetryOn = !values["no-telemetry"] && telemetryEnabled(io.env);
  const jsonLines = values["json-lines"] ?? false;
  const json = (values.json ?? false) || jsonLines;
  const itemizing = values["itemize-changes"] ?? false;
  // Opened before the run: a --log-file that cannot be opened safely stops it here.
  // With --json, stdout holds the report only (-i and -v lines would break it; --json-lines has them).
  const sinks = eventSinks({ itemize: itemizing && !json, verbose: values.verbose === true && !json, jsonLines, logFile: values["log-file"] }, say);
  // Per-entry lines on stdout would be torn by a progress line redrawn on the same terminal.
  const perEntry = itemizing || values.verbose === true;
  const showProgress = values["no-progress"] ? false : values.progress ?? (io.stderr.isTTY === true && !json && !perEntry);
  const started = new Date();
  // The store opens while the run works; at the end only the insert is left.
  const recording = telemetryOn ? startRecording({ path: telemetryPath(io.env) }) : undefined;

  const abort = new AbortController();
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals === 1) {
      io.stderr.write("\nblit: interrupted; stopping after the files in flight (press Ctrl-C again to quit at once)\n");
      abort.abort();
    } else process.exit(EXIT_INTERRUPTED);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const view = showProgress ? new ProgressView(io.stderr, io.stderr.isTTY === true) : undefined;
  let report: RunReport;
  let actions: Action[] = [];
  try {
    sinks.start(cmd, job.source, job.destination, args.filter((a) => !positionals.includes(a)));
    const result = await run(job, { signal: abort.signal, onProgress: (p) => view?.update(p), listActions: options.dryRun, onEvent: sinks.onEvent });
    report = result.report;
    actions = result.actions;
  } catch (e) {
    view?.stop();
    if (!(e instanceof UsageError)) throw e;
    report = refusedReport(job, e, started);
    err(e.message);
    sinks.finish(report);
    if (recording) await saveTelemetry(recording, report, err);
    if (json) say(JSON.stringify({ ...report, telemetry: telemetryOn ? telemetryPath(io.env) : null }));
    return EXIT_FATAL;
  } finally {
    view?.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  sinks.finish(report);
  if (recording) await saveTelemetry(recording, report, err);
  const shown = report.errors.slice(0, 50);
  for (const e of shown) err(`error: ${e.side === "run" ? "" : `${e.side} `}${e.path}: ${e.message} [${e.code}]`);
  if (report.errorCount > shown.length) err(`… and ${report.errorCount - shown.length} more errors (see 'blit diagnostics perf --json')`);
  // A dry run says how long the real run would take, from the history's fitted model.
  const prediction = options.dryRun ? await predictFor(report, report.route, { path: telemetryPath(io.env), bwlimit: options.bwlimit }) : undefined;
  if (json) {
    say(JSON.stringify({ ...report, actions: options.dryRun ? actions : undefined, prediction, telemetry: telemetryOn ? telemetryPath(io.env) : null }));
  } else {
    // -v and -i printed each entry as it was done (or planned); a plain dry run lists the plan.
    if (options.dryRun && !values.verbose && !itemizing) for (const a of actions) say(`${a.kind.padEnd(7)} ${displayName(a.path)}${a.bytes !== undefined ? `  (${bytes(a.bytes)})` : ""}`);
    say(summary(report));
    if (values.stats) say(statsLines(report));
    if (prediction) {
      say(`  predicted duration: ${seconds(prediction.durationMs)} (80% band ${seconds(prediction.lowMs)} to ${seconds(prediction.highMs)}); ${prediction.note}`);
    }
    if (values.verbose) for (const [p, note] of Object.entries(report.fastPathNotes)) say(`  note: ${note}`);
  }
  return exitCodeFor(report.status);
}

/** The worker count `blit tune --apply` chose for these filesystems, if any (read from a small file). */
function tuned(positionals: string[], io: Io): number | undefined {
  if (positionals.length !== 2) return undefined;
  const fsOf = (p: string) => filesystemType(resolve(p));
  return tunedWorkers("local", fsOf(positionals[0]!), fsOf(positionals[1]!), { path: telemetryPath(io.env) });
}

async function saveTelemetry(recording: Recording, report: RunReport, err: (s: string) => void) {
  const r = await recording.finish(report);
  if (r.warning) err(`warning: telemetry not recorded: ${r.warning}`);
}

function summary(r: RunReport): string {
  const c = r.counts;
  const p = r.phases;
  const dry = r.options.dryRun ? " (dry run: nothing changed)" : "";
  const paths = Object.entries(r.bytesByPath)
    .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
    .map(([k, v]) => `${k} ${bytes(v ?? 0)} (${count(r.filesByPath[k as keyof typeof r.filesByPath] ?? 0)} files)`)
    .join(", ");
  const lines = [
    `${r.command} ${r.source} -> ${r.destination}: ${r.status}${dry}`,
    `  source: ${count(r.workload.files)} files (${bytes(r.workload.bytes)}), ${count(r.workload.dirs)} dirs, ${count(r.workload.symlinks)} symlinks`,
    r.options.dryRun
      ? `  would copy ${count(c.planned)} (${bytes(c.plannedBytes)}), skip ${count(c.skipped)}${r.command === "mirror" ? `, delete ${count(c.deletePlanned)}` : ""}`
      : `  copied ${count(c.copied)} (${bytes(c.copiedBytes)}${holeNote(c)}), skipped ${count(c.skipped)} unchanged${r.command === "mirror" ? `, deleted ${count(c.deleted)}` : ""}, ${count(c.dirsCreated)} dirs created`,
    `  time ${seconds(p.totalMs)} (enumerate ${seconds(p.enumerateMs)}, plan ${seconds(p.planMs)}, transfer ${seconds(p.transferMs)}, delete ${seconds(p.deleteMs)}), ${rate(c.copiedBytes, p.transferMs)}, ${r.plan.workers} workers`,
  ];
  if (paths) lines.push(`  fast paths: ${paths}`);
  // Left out by the process's privileges, not by a flag: say so (as root with --no-owner, nothing).
  const ownersWhy = !r.options.owner && !r.options.group ? metadataPrivileges().reasons.owners : undefined;
  if (ownersWhy) lines.push(`  owners and groups not kept: ${ownersWhy}`);
  const specials = specialsNote(r.specialsSkipped);
  if (specials) lines.push(`  not transferred: ${specials}`);
  if (r.errorCount) lines.push(`  errors: ${count(r.errorCount)} (listed above)`);
  return lines.join("\n");
}

async function diagnostics(args: string[], io: Io, say: (s: string) => void, err: (s: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "-h" || sub === "--help" || sub === undefined) {
    say(HELP.diagnostics!);
    return sub === undefined ? EXIT_FATAL : EXIT_OK;
  }
  if (sub !== "perf") {
    err(`unknown diagnostics command '${sub}'; run 'blit diagnostics --help'`);
    return EXIT_FATAL;
  }
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: { limit: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    say(HELP.diagnostics!);
    return EXIT_OK;
  }
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`--limit needs a whole number of 1 or more, got '${values.limit}'`);
  const runs = await listRuns({ limit, path: telemetryPath(io.env) });
  if (values.json) say(JSON.stringify(runs));
  else if (runs.length === 0) say(`no runs recorded yet in ${telemetryPath(io.env)}`);
  else say(formatRunsTable(runs));
  return EXIT_OK;
}
