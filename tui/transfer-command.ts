// blit copy / mirror / push / pull: their specs (from the one flag table), their options
// normalized once, and the one transfer loop (tui/kit/transfer-loop.ts) that runs them.
import { resolve } from "node:path";
import {
  isRemote, normalizeOptions, parseRate, refusedReport, run, runRemote, UsageError,
  type Job, type RemoteJob, type RetryRecord, type RunOptions, type RunReport,
} from "../engine/index.ts";
import { predictFor, telemetryEnabled, telemetryPath, tunedWorkers } from "../analytics/index.ts";
import { filesystemType, metadataPrivileges } from "../ffi/index.ts";
import { boolFlag, helpText, listFlag, parseCommand, stringFlag, type CommandSpec, type Values } from "./kit/command.ts";
import { isTerminal, say, warn, type Io } from "./kit/io.ts";
import { runTransfer } from "./kit/transfer-loop.ts";
import { joinSelectValues, selectionOf } from "./select-flags.ts";
import { eventSinks } from "./file-log.ts";
import { severalSources, withPaths } from "./several-sources.ts";
import { EXIT_OK } from "./exit-codes.ts";
import { bytes, count, countOf, formatTime, holeNote, rate, seconds, specialsNote } from "./format.ts";
import { parseTimeout, readToken, remoteSummary } from "./remote-command.ts";
import { tlsOptions } from "./tls-flags.ts";
import { transferFlagsOf, type TransferCommand } from "./transfer-flags.ts";

// rsync's habits: -a and -r are what blit always does; saying so beats "unknown option".
const ARCHIVE = "blit always copies directories recursively and keeps modes, times and symlinks (owners and groups as root); add -H, -A, -X for what rsync -a leaves out";
const RSYNC_NO_OPS = {
  "-a": ARCHIVE,
  "--archive": ARCHIVE,
  "-r": "blit always copies directories recursively",
  "--recursive": "blit always copies directories recursively",
};

const WHAT_IS_KEPT = `What is kept: as root, a file's owner and group (unless --no-owner, --no-group); with -X its
extended attributes, with -A its POSIX ACL; all given to the temporary before it gets its name.
Directories, symlinks (the link itself) and special files get them too. An entry whose size and
mtime match is not copied; its mode, owner and group are set again if they differ (not its
attributes). -H keeps hard links, --specials and --devices create FIFOs, sockets and devices.
-a and -r (rsync's) are accepted and ignored: this is what blit always does.`;

const SELECTION_RULES = `Selection rules (as rsync's): --include, --exclude, --*-from and --filter make one list, in
the order given. Each entry is checked against the list and the first rule that matches
decides; an entry no rule matches is copied. A pattern without '/' matches a name at any depth
('*.tmp', 'node_modules'); with a '/' it matches the end of the path from SRC ('logs/*.gz'
matches logs/a.gz and x/logs/a.gz), and a leading '/' anchors it at SRC ('/top.txt'); a
trailing '/' matches directories only. '*' matches within one name, '**' across '/', '?' one
character, '[a-z]' a class; 'dir/***' matches dir and everything below it. An excluded
directory is not entered, so to copy deep files their directories must be included too: for
every .c file (and every directory), give --include='*/' --include='*.c' --exclude='*'.
Excluded destination entries are never deleted (unless mirror --delete-excluded).`;

const BACKUPS_NOTE = `Backups (--backup, --backup-dir, --suffix): a file about to be overwritten first gets a second
name (a hard link) as its backup, so its name always holds the old or the new file; a deleted
entry is renamed into the backups; an older backup of the same name is replaced. A backup that
cannot be made leaves its entry as it was (named as an error, exit 1). All of it goes through
DST's directory handles without following symlinks below DST and DIR. With -v or -i, progress
is shown only when asked for with --progress.`;

const SEVERAL_SOURCES = `With several sources, each source's name becomes an entry of DST (a directory SRC1 is copied to
DST/NAME1, a file into DST), as 'cp -r a b dst/' and rsync without a trailing slash do; two
sources with the same name are refused. Each source is its own run (--json prints one report
per source, one per line); the exit code is the worst of them.`;

const REMOTE_EXITS = `Exit codes:
  0    all done
  1    some files failed (each is named on stderr); mirror deleted nothing
  2    the transfer could not run or failed: bad flags or URL, "cannot resolve HOST",
       "cannot reach HOST:PORT", "auth token rejected" or "the daemon requires an auth token",
       "module 'x' not found", "module 'x' is read-only", or the connection was lost or the
       daemon stalled past --timeout on every attempt ("gave up after N attempts"; --retries)
       (nothing partial is left under a final name)
  130  interrupted (Ctrl-C or SIGTERM); temporary files removed on both sides`;

export const TRANSFER_SPECS: Record<TransferCommand, CommandSpec<TransferCommand>> = {
  copy: {
    name: "copy",
    usage: "blit copy SRC... DST [flags]",
    about: `Copy new and changed files from SRC into DST. Never deletes anything in DST (that is
'blit mirror'). A file counts as unchanged when its size and modification time match (see
--checksum, --size-only, --ignore-times). Files are written under a temporary (anonymous where
the OS allows) and put in place only when complete, with their mode and mtime (nanoseconds
kept); symlinks are copied as links, empty directories are kept, directory mtimes are set last.

${SEVERAL_SOURCES}

${WHAT_IS_KEPT}`,
    flags: transferFlagsOf("copy"),
    positionals: ["SRC...", "DST"],
    noOps: RSYNC_NO_OPS,
    hints: {
      "--delete": "use 'blit mirror SRC DST' (copy never deletes)",
      "--max-delete": "--max-delete is a mirror flag: use 'blit mirror' (copy never deletes)",
      "--force": "--force is a mirror flag: use 'blit mirror' (copy never deletes)",
      "--mirror": "use 'blit mirror SRC DST' (copy never deletes)",
      "--delete-excluded": "--delete-excluded is a mirror flag: use 'blit mirror' (copy never deletes)",
    },
    after: `${SELECTION_RULES}

${BACKUPS_NOTE}`,
  },
  mirror: {
    name: "mirror",
    usage: "blit mirror SRC... DST [flags]",
    about: `Make DST equal to SRC: copy new and changed files as 'blit copy' does, then delete entries of
DST that SRC lacks.

${SEVERAL_SOURCES} A mirror's deletes stay inside each DST/NAME: other entries of DST
are never deleted. --files-from is refused with mirror (everything unlisted would go).

${WHAT_IS_KEPT}`,
    flags: transferFlagsOf("mirror"),
    positionals: ["SRC...", "DST"],
    noOps: { ...RSYNC_NO_OPS, "--delete": "a mirror always deletes what SRC lacks" },
    hints: { "--mirror": "'blit mirror' is the mirror; --mirror is for push and pull" },
    after: `${SELECTION_RULES}

${BACKUPS_NOTE}

Mirror deletes only after a complete enumeration and copy with no errors; any error means
nothing is deleted (exit 1).`,
  },
  push: {
    name: "push",
    usage: "blit push SRC blit[s]://HOST:PORT/MODULE[/PATH] [flags]",
    about: `Send SRC to a blitd module. SRC is a directory (its contents go into MODULE/PATH, created if
missing) or a single file (into MODULE/PATH if that is a directory, else to that name). Only new
and changed files travel (size and mtime, or --checksum); the daemon writes each one under a
temporary name and renames it into place when complete. IPv6 hosts are written [::1].

File data goes over a one-time TCP connection to the daemon, or inside gRPC when that connection
cannot be made (or with --force-grpc); the summary says which. A blits:// URL puts both under
TLS 1.3: the daemon is trusted by --tls-ca, or by its key pinned in $BLIT_HOME/known_daemons.`,
    flags: transferFlagsOf("push"),
    positionals: ["SRC", "URL"],
    noOps: RSYNC_NO_OPS,
    hints: {
      "--delete": "use --mirror (push deletes on the daemon only with --mirror)",
      "--workers": "--workers applies to copy and mirror; push moves data over one connection (the receiving side writes small files with BLIT_SHARD_WRITERS threads, default 2)",
      "-w": "--workers applies to copy and mirror; push moves data over one connection (the receiving side writes small files with BLIT_SHARD_WRITERS threads, default 2)",
    },
    after: REMOTE_EXITS,
  },
  pull: {
    name: "pull",
    usage: "blit pull blit[s]://HOST:PORT/MODULE[/PATH] DST [flags]",
    about: `Fetch a directory (or one file) of a blitd module into DST (created if missing). Only new and
changed files travel; each is written under a temporary name and renamed into place when
complete. Paths the daemon sends are checked: none can lead outside DST. If the daemon stops
mid-transfer, blit exits 2 and DST holds no partial file.`,
    flags: transferFlagsOf("pull"),
    positionals: ["URL", "DST"],
    noOps: RSYNC_NO_OPS,
    hints: {
      "--delete": "use --mirror (pull deletes in DST only with --mirror)",
      "--workers": "--workers applies to copy and mirror; pull moves data over one connection (the receiving side writes small files with BLIT_SHARD_WRITERS threads, default 2)",
      "-w": "--workers applies to copy and mirror; pull moves data over one connection (the receiving side writes small files with BLIT_SHARD_WRITERS threads, default 2)",
    },
    after: REMOTE_EXITS,
  },
};

/** Runs `blit copy|mirror|push|pull ARGS` and returns its exit code. */
export async function transferCommand(command: TransferCommand, given: string[], io: Io, rules?: string[]): Promise<number> {
  const spec = TRANSFER_SPECS[command];
  // A selection flag takes the next argument whatever it starts with ('- *', '-' for stdin).
  const { values, positionals, tokens, args } = parseCommand(spec, joinSelectValues(given), io);
  if (values.help) {
    say(io, helpText(spec));
    return EXIT_OK;
  }
  if (command === "mirror" && stringFlag(values, "files-from") !== undefined) {
    throw new UsageError("USAGE", "--files-from is refused with mirror: a mirror deletes what SRC lacks, and a list would make that everything unlisted; use 'blit copy --files-from'");
  }
  // Read and checked before anything is written (a bad rule or list: exit 2). Several sources
  // share the rules read once.
  const selection = rules ? { filter: rules } : selectionOf(tokens, stringFlag(values, "files-from"));
  if ((command === "copy" || command === "mirror") && positionals.length > 2) {
    if (selection.filesFrom) throw new UsageError("BAD_RULE", "--files-from takes one source (its paths are relative to it)");
    return severalSources(positionals, (src, dst) => transferCommand(command, withPaths(args, tokens, src, dst), io, selection.filter));
  }
  const jsonLines = boolFlag(values, "json-lines") ?? false;
  const common = {
    command,
    args: args.filter((a) => !positionals.includes(a)),
    dryRun: boolFlag(values, "dry-run") ?? false,
    // --json-lines ends with the report, as --json prints it
    json: (boolFlag(values, "json") ?? false) || jsonLines,
    verbose: boolFlag(values, "verbose") ?? false,
    progress: boolFlag(values, "no-progress") ? false : boolFlag(values, "progress"),
    telemetry: !boolFlag(values, "no-telemetry") && telemetryEnabled(io.env),
  };
  const [a, b] = positionals as [string, string];
  if (command === "copy" || command === "mirror") {
    const options = normalizeOptions({
      ...transferOptions(values, command),
      ...selection,
      deleteExcluded: boolFlag(values, "delete-excluded") ?? false,
      workers: workersOf(values, a, b, io),
    });
    const job: Job = { command, source: a, destination: b, options };
    const started = new Date();
    const itemizing = boolFlag(values, "itemize-changes") ?? false;
    // Opened before the run: a --log-file that cannot be opened safely stops it here. With
    // --json, stdout holds the report only (-i and -v lines would break it; --json-lines has them).
    const sinks = eventSinks(
      { itemize: itemizing && !common.json, verbose: common.verbose && !common.json, jsonLines, logFile: stringFlag(values, "log-file") },
      (line) => say(io, line),
    );
    return runTransfer(io, {
      ...common,
      source: a,
      destination: b,
      sinks,
      perEntry: itemizing || common.verbose,
      stats: boolFlag(values, "stats") ?? false,
      interruptNote: "stopping after the files in flight",
      start: (hooks) => run(job, { ...hooks, listActions: options.dryRun, onEvent: sinks.onEvent }),
      refused: (e) => refusedReport(job, e, started),
      extra: async (report) => dryRunPrediction(report, options, io),
      summary: localSummary,
    });
  }
  const route = command;
  const remote = route === "push" ? b : a;
  const local = route === "push" ? a : b;
  if (!isRemote(remote)) throw new UsageError("USAGE", `${route}: '${remote}' is not a blit:// URL; ${route === "push" ? "the destination" : "the source"} must be blit://HOST:PORT/MODULE[/PATH]`);
  if (isRemote(local)) throw new UsageError("USAGE", `${route}: '${local}' must be a local path`);
  const mirror = boolFlag(values, "mirror") ?? false;
  if (!mirror && (stringFlag(values, "max-delete") !== undefined || boolFlag(values, "force"))) throw new UsageError("USAGE", "--max-delete and --force only apply with --mirror");
  const job: RemoteJob = {
    command: mirror ? "mirror" : "copy",
    route,
    local,
    remote,
    // Read here; the rules travel to blitd with the request (Options.filter).
    options: normalizeOptions({ ...transferOptions(values, route), ...selection }),
    forceGrpc: boolFlag(values, "force-grpc") ?? false,
    authToken: readToken(stringFlag(values, "auth-token-file"), io.env),
    tls: tlsOptions({ "tls-ca": stringFlag(values, "tls-ca"), "tls-fingerprint": stringFlag(values, "tls-fingerprint"), "tls-accept-new": boolFlag(values, "tls-accept-new") }, io.env),
    timeout: parseTimeout(stringFlag(values, "timeout")),
  };
  return runTransfer(io, {
    ...common,
    source: route === "push" ? local : remote,
    destination: route === "push" ? remote : local,
    interruptNote: "stopping the transfer and removing temporary files",
    start: (hooks) => runRemote(job, { ...hooks, onRetry: (r) => sayRetry(io, route, r) }),
    refused: (e) => { throw e; },
    summary: remoteSummary,
  });
}

/** The run options every transfer command shares, from its flags (defaults in normalizeOptions). */
function transferOptions(values: Values, command: TransferCommand): Partial<RunOptions> {
  const maxDelete = stringFlag(values, "max-delete");
  const bwlimit = stringFlag(values, "bwlimit");
  // Left out, owner and group follow what this process may keep (root: kept). A push asks the
  // daemon to keep them (it decides, and says so when it does not).
  const keepDefault = command === "push" ? true : undefined;
  return {
    dryRun: boolFlag(values, "dry-run") ?? false,
    checksum: boolFlag(values, "checksum") ?? false,
    sizeOnly: boolFlag(values, "size-only") ?? false,
    ignoreTimes: boolFlag(values, "ignore-times") ?? false,
    exclude: listFlag(values, "exclude"),
    bwlimit: bwlimit !== undefined ? parseRate(bwlimit) : 0,
    maxDelete: maxDelete !== undefined ? wholeNumber("max-delete", maxDelete) : -1,
    force: boolFlag(values, "force") ?? false,
    hardLinks: boolFlag(values, "hard-links") ?? false,
    owner: boolFlag(values, "no-owner") ? false : keepDefault,
    group: boolFlag(values, "no-group") ? false : keepDefault,
    xattrs: boolFlag(values, "xattrs") ?? false,
    acls: boolFlag(values, "acls") ?? false,
    specials: boolFlag(values, "specials") ?? false,
    devices: boolFlag(values, "devices") ?? false,
    ...(command === "push" || command === "pull" ? { numericIds: boolFlag(values, "numeric-ids") ?? false, ...retriesOf(values), ...wholeFileOf(values) } : {}),
    ...(command === "copy" || command === "mirror"
      ? { backup: boolFlag(values, "backup"), backupDir: stringFlag(values, "backup-dir"), suffix: stringFlag(values, "suffix") }
      : {}),
  };
}

/**
 * Each retry is one line on stderr as it happens (the summary and the report list them all); on
 * a terminal the progress line it interrupts is cleared first, so the two do not run together.
 */
function sayRetry(io: Io, route: string, r: RetryRecord & { of: number }): void {
  if (isTerminal(io.stderr)) io.stderr.write("\r\x1b[K");
  warn(io, `${route}: attempt ${r.attempt} of ${r.of} failed: ${r.reason}; retrying in ${seconds(r.delayMs)}`);
}

/** --whole-file / --no-whole-file (push, pull); the later of the two wins, as in rsync. */
function wholeFileOf(values: Values): { wholeFile?: boolean } {
  const on = boolFlag(values, "whole-file");
  const off = boolFlag(values, "no-whole-file");
  if (on && off) throw new UsageError("BAD_OPTION", "--whole-file and --no-whole-file cannot be used together");
  return on ? { wholeFile: true } : off ? { wholeFile: false } : {};
}

/** --retries N (push, pull): a whole number; its range is checked by normalizeOptions. */
function retriesOf(values: Values): { retries?: number } {
  const v = stringFlag(values, "retries");
  return v === undefined ? {} : { retries: wholeNumber("retries", v) };
}

function wholeNumber(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError("USAGE", `--${flag} needs a whole number, got '${v}'`);
  return Number(v);
}

/** --workers, else BLIT_WORKERS, else what `blit tune --apply` chose for these filesystems. */
function workersOf(values: Values, src: string, dst: string, io: Io): number | undefined {
  const text = stringFlag(values, "workers") ?? (io.env.BLIT_WORKERS || undefined);
  if (text !== undefined) return wholeNumber("workers", text);
  const fsOf = (p: string) => filesystemType(resolve(p));
  return tunedWorkers("local", fsOf(src), fsOf(dst), { path: telemetryPath(io.env) });
}

/** A dry run says how long the real run would take, from the history's fitted model. */
async function dryRunPrediction(report: RunReport, options: RunOptions, io: Io): Promise<{ json: Record<string, unknown>; lines: string[] }> {
  if (!options.dryRun) return { json: {}, lines: [] };
  const prediction = await predictFor(report, report.route, { path: telemetryPath(io.env), bwlimit: options.bwlimit });
  const lines = prediction ? [`  predicted duration: ${seconds(prediction.durationMs)} (80% band ${seconds(prediction.lowMs)} to ${seconds(prediction.highMs)}); ${prediction.note}`] : [];
  return { json: { prediction }, lines };
}

function localSummary(r: RunReport): string {
  const c = r.counts;
  const p = r.phases;
  const dry = r.options.dryRun ? " (dry run: nothing changed)" : "";
  const paths = Object.entries(r.bytesByPath)
    .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
    .map(([k, v]) => `${k} ${bytes(v ?? 0)} (${countOf(r.filesByPath[k as keyof typeof r.filesByPath] ?? 0, "file")})`)
    .join(", ");
  const lines = [
    `${r.command} ${r.source} -> ${r.destination}: ${r.status}${dry}`,
    `  source: ${countOf(r.workload.files, "file")} (${bytes(r.workload.bytes)}), ${countOf(r.workload.dirs, "dir")}, ${countOf(r.workload.symlinks, "symlink")}`,
    r.options.dryRun
      ? `  would copy ${count(c.planned)} (${bytes(c.plannedBytes)}), skip ${count(c.skipped)}${r.command === "mirror" ? `, delete ${count(c.deletePlanned)}` : ""}`
      : `  copied ${count(c.copied)} (${bytes(c.copiedBytes)}${holeNote(c)}), skipped ${count(c.skipped)} unchanged${r.command === "mirror" ? `, deleted ${count(c.deleted)}` : ""}, ${countOf(c.dirsCreated, "dir")} created`,
    `  time ${seconds(p.totalMs)} (enumerate ${seconds(p.enumerateMs)}, plan ${seconds(p.planMs)}, transfer ${seconds(p.transferMs)}, delete ${seconds(p.deleteMs)}), ${rate(c.copiedBytes, p.transferMs)}, ${countOf(r.plan.workers, "worker")}`,
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
