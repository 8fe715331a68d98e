// blit push / pull / ls: parse flags, run against blitd, print, record, map to an exit code.
// The lead wires these into tui/cli.ts; each returns the exit code (0 ok, 1 partial, 2 fatal).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  isRemote, listRemote, normalizeOptions, parseRate, RemoteError, runRemote, UsageError,
  type Action, type RemoteJob, type RunReport,
} from "../engine/index.ts";
import { displayName } from "../ffi/index.ts";
import { startRecording, telemetryEnabled, telemetryPath } from "../analytics/index.ts";
import { EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK, exitCodeFor } from "./exit-codes.ts";
import { bytes, count, holeNote, rate, seconds, specialsNote } from "./format.ts";
import { COMMON_TRANSFER_OPTIONS } from "./transfer-flags.ts";
import { joinSelectValues, SELECT_OPTIONS, selectionOf } from "./select-flags.ts";
import { ProgressView } from "./progress.ts";
import { TLS_HELP, TLS_OPTIONS, tlsOptions } from "./tls-flags.ts";

export interface RemoteIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

const COMMON = `Flags:
      --mirror           delete on the receiving side what the source lacks (after a complete,
                         error-free transfer only; see --max-delete, --force)
      --force-grpc       carry file data inside the gRPC connection instead of a separate TCP
                         data connection (for networks that only let the gRPC port through)
  -n, --dry-run          print the plan (what would be copied, created, deleted); change nothing
  -c, --checksum         compare files of equal size by content hash (BLAKE2b-256), and verify
                         each file's hash after the transfer
      --size-only        treat files of equal size as unchanged, whatever their mtime
  -I, --ignore-times     transfer every file, even when size and mtime match
      --exclude PATTERN  leave out matching entries (repeatable; same rules as 'blit copy')
      --include PATTERN  keep matching entries that a later --exclude would leave out
      --exclude-from FILE
                         each line of FILE as an --exclude ('#' and ';' comments; '-' is stdin)
      --include-from FILE
                         each line of FILE as an --include
      --filter RULE      '+ PAT', '- PAT', 'merge FILE' (read here), 'dir-merge NAME' (read
                         from each directory by the side that walks it: blitd for a pull's
                         source and a push's destination); see 'blit copy --help'
                         (rules beyond --exclude need a blitd of this version)
  -H, --hard-links       files that are hard links of each other stay hard links on the
                         receiving side (each inode's data travels once)
  -X, --xattrs           keep extended attributes: user.*, and trusted.* and security.* where
                         both sides may (root; for a push, a module with keep_owners = true)
  -A, --acls             keep POSIX ACLs
      --no-owner         do not give the receiving side's entries the source's owner (kept by
                         default: a push asks blitd, which keeps them only as root in a module
                         with keep_owners = true; a pull keeps them when blit runs as root)
      --no-group         do not give them the source's group (kept like owners)
      --numeric-ids      owners and groups travel as numbers; without it each id is given the
                         receiving side's id of the same user or group name (the number when
                         the name is unknown there), as rsync does
      --specials         create FIFOs and sockets like the source's (otherwise skipped, and the
                         summary counts them by kind)
      --devices          create device nodes like the source's (root; for a push, a module with
                         keep_owners = true; otherwise skipped and counted)
      --bwlimit RATE     send file data at most RATE bytes per second: 500K, 50M, 1G (K, M, G are
                         1024-based, as in rsync); the sending side paces itself (blitd for a pull)
      --max-delete N     with --mirror: if more than N entries would be deleted, delete none (exit 1)
      --force            with --mirror: allow a mirror from an empty source
      --auth-token-file FILE
                         the daemon's auth token (env BLIT_AUTH_TOKEN holds the token itself)
${TLS_HELP}
      --timeout SECONDS  give up when the daemon shows no progress for SECONDS in any phase
                         (connect, negotiate, data, the daemon's confirmation, complete): exit 2
                         naming the daemon and the phase, nothing partial kept. Default 60; 0
                         waits forever (connecting still gives up after 10 s)
      --progress         show progress on stderr (default when stderr is a terminal)
      --no-progress      no progress display
      --json             print one JSON object (the run report) on stdout
  -v, --verbose          list every action and the transport notes
      --no-telemetry     do not record this run (env BLIT_TELEMETRY=off does the same)
  -h, --help             this help`;

const EXITS = `Exit codes:
  0    all done
  1    some files failed (each is named on stderr); mirror deleted nothing
  2    the transfer could not run or failed: bad flags or URL, "cannot reach HOST:PORT",
       "auth token rejected", "module 'x' not found", "module 'x' is read-only", or the
       connection was lost or the daemon stalled past --timeout (nothing partial is left
       under a final name)
  130  interrupted (Ctrl-C or SIGTERM); temporary files removed on both sides`;

export const PUSH_HELP = `blit push SRC blit[s]://HOST:PORT/MODULE[/PATH] [flags]

Send SRC to a blitd module. SRC is a directory (its contents go into MODULE/PATH, created if
missing) or a single file (into MODULE/PATH if that is a directory, else to that name). Only new
and changed files travel (size and mtime, or --checksum); the daemon writes each one under a
temporary name and renames it into place when complete. IPv6 hosts are written [::1].

File data goes over a one-time TCP connection to the daemon, or inside gRPC when that connection
cannot be made (or with --force-grpc); the summary says which. A blits:// URL puts both under
TLS 1.3: the daemon is trusted by --tls-ca, or by its key pinned in $BLIT_HOME/known_daemons.

${COMMON}

${EXITS}
`;

export const PULL_HELP = `blit pull blit[s]://HOST:PORT/MODULE[/PATH] DST [flags]

Fetch a directory (or one file) of a blitd module into DST (created if missing). Only new and
changed files travel; each is written under a temporary name and renamed into place when
complete. Paths the daemon sends are checked: none can lead outside DST. If the daemon stops
mid-transfer, blit exits 2 and DST holds no partial file.

${COMMON}

${EXITS}
`;

export const LS_HELP = `blit ls blit[s]://HOST:PORT[/MODULE[/PATH]] [flags]

Without a module: list the daemon's modules (name, read-only or writable, comment).
With a module: list a directory of it (type, size, mtime, name), or one file.

Flags:
      --auth-token-file FILE   the daemon's auth token (env BLIT_AUTH_TOKEN holds the token itself)
${TLS_HELP}
      --timeout SECONDS        give up when the daemon does not answer for SECONDS (default 60;
                               0 waits forever)
      --json                   print JSON
  -h, --help                   this help

Names, comments and messages from the daemon are shown with control characters escaped (\x1b).

Exit codes: 0 listed; 2 bad URL, "cannot reach HOST:PORT", "auth token rejected",
"module 'x' not found", the path does not exist, or no answer within --timeout.
`;

/** The auth token: --auth-token-file beats BLIT_AUTH_TOKEN; undefined when neither is set. */
export function readToken(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (file) {
    try {
      return readFileSync(file, "utf8").trim();
    } catch (err) {
      throw new UsageError("TOKEN_FILE", `cannot read --auth-token-file '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const t = env.BLIT_AUTH_TOKEN?.trim();
  return t || undefined;
}

/** --timeout SECONDS: a number >= 0 (0: wait forever); undefined when not given (the default, 60). */
export function parseTimeout(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError("BAD_TIMEOUT", `--timeout needs seconds (a number >= 0; 0 waits forever), got '${v}'`);
  return Number(v);
}

function isUsage(e: unknown): boolean {
  return e instanceof UsageError || e instanceof RangeError || ((e as { code?: string }).code ?? "").startsWith("ERR_PARSE_ARGS");
}

export function pushCommand(args: string[], io: RemoteIo): Promise<number> {
  return transferCommand("push", args, io);
}

export function pullCommand(args: string[], io: RemoteIo): Promise<number> {
  return transferCommand("pull", args, io);
}

async function transferCommand(route: "push" | "pull", args: string[], io: RemoteIo): Promise<number> {
  const say = (s: string) => io.stdout.write(s.endsWith("\n") ? s : s + "\n");
  const err = (s: string) => io.stderr.write(`blit: ${s}\n`);
  try {
    const { values, positionals, tokens } = parseArgs({
      args: joinSelectValues(args),
      allowPositionals: true,
      strict: true,
      tokens: true,
      options: {
        ...COMMON_TRANSFER_OPTIONS,
        ...SELECT_OPTIONS,
        mirror: { type: "boolean" },
        "force-grpc": { type: "boolean" },
        "auth-token-file": { type: "string" },
        ...TLS_OPTIONS,
        timeout: { type: "string" },
        bwlimit: { type: "string" },
        xattrs: { type: "boolean", short: "X" },
        acls: { type: "boolean", short: "A" },
        "no-owner": { type: "boolean" },
        "no-group": { type: "boolean" },
        "numeric-ids": { type: "boolean" },
        // not a push/pull flag: taken so that its error can say why
        workers: { type: "string", short: "w" },
      },
    });
    if (values.help) {
      say(route === "push" ? PUSH_HELP : PULL_HELP);
      return EXIT_OK;
    }
    if (positionals.length !== 2) {
      err(`${route} needs ${route === "push" ? "SRC and a blit:// URL" : "a blit:// URL and DST"} (got ${positionals.length} argument${positionals.length === 1 ? "" : "s"}); run 'blit ${route} --help'`);
      return EXIT_FATAL;
    }
    const [a, b] = positionals as [string, string];
    const remote = route === "push" ? b : a;
    const local = route === "push" ? a : b;
    if (!isRemote(remote)) {
      err(`${route}: '${remote}' is not a blit:// URL; ${route === "push" ? "the destination" : "the source"} must be blit://HOST:PORT/MODULE[/PATH]`);
      return EXIT_FATAL;
    }
    if (isRemote(local)) {
      err(`${route}: '${local}' must be a local path`);
      return EXIT_FATAL;
    }
    if (values.workers !== undefined) {
      err(`--workers applies to copy and mirror; ${route} moves data over one connection (the receiving side writes small files with BLIT_SHARD_WRITERS threads, default 2)`);
      return EXIT_FATAL;
    }
    if (!values.mirror && (values["max-delete"] !== undefined || values.force)) {
      err("--max-delete and --force only apply with --mirror");
      return EXIT_FATAL;
    }
    const whole = (flag: string, v: string) => {
      if (!/^\d+$/.test(v)) throw new RangeError(`--${flag} needs a whole number, got '${v}'`);
      return Number(v);
    };
    const options = normalizeOptions({
      dryRun: values["dry-run"] ?? false,
      checksum: values.checksum ?? false,
      sizeOnly: values["size-only"] ?? false,
      ignoreTimes: values["ignore-times"] ?? false,
      exclude: values.exclude ?? [],
      // Read here; the rules travel to blitd with the request (Options.filter).
      ...selectionOf(tokens),
      maxDelete: values["max-delete"] !== undefined ? whole("max-delete", values["max-delete"]) : -1,
      force: values.force ?? false,
      hardLinks: values["hard-links"] ?? false,
      bwlimit: values.bwlimit !== undefined ? parseRate(values.bwlimit) : 0,
      // A push asks the daemon to keep owners (it decides, and says so when it does not); a
      // pull keeps them where this process may give them (root), as a local copy does.
      owner: values["no-owner"] ? false : route === "push" ? true : undefined,
      group: values["no-group"] ? false : route === "push" ? true : undefined,
      xattrs: values.xattrs ?? false,
      acls: values.acls ?? false,
      numericIds: values["numeric-ids"] ?? false,
      specials: values.specials ?? false,
      devices: values.devices ?? false,
    });
    const job: RemoteJob = {
      command: values.mirror ? "mirror" : "copy",
      route,
      local,
      remote,
      options,
      forceGrpc: values["force-grpc"] ?? false,
      authToken: readToken(values["auth-token-file"], io.env),
      tls: tlsOptions(values, io.env),
      timeout: parseTimeout(values.timeout),
    };
    const json = values.json ?? false;
    const telemetryOn = !values["no-telemetry"] && telemetryEnabled(io.env);
    const recording = telemetryOn ? startRecording({ path: telemetryPath(io.env) }) : undefined;
    const showProgress = values["no-progress"] ? false : values.progress ?? (io.stderr.isTTY === true && !json);
    const view = showProgress ? new ProgressView(io.stderr, io.stderr.isTTY === true) : undefined;
    const abort = new AbortController();
    let signals = 0;
    const onSignal = () => {
      if (++signals === 1) {
        io.stderr.write("\nblit: interrupted; stopping the transfer and removing temporary files\n");
        abort.abort();
      } else process.exit(EXIT_INTERRUPTED);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    let report: RunReport;
    let actions: Action[];
    try {
      ({ report, actions } = await runRemote(job, { signal: abort.signal, onProgress: (p) => view?.update(p) }));
    } finally {
      view?.stop();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    if (recording) {
      const r = await recording.finish(report);
      if (r.warning) err(`warning: telemetry not recorded: ${r.warning}`);
    }
    const shown = report.errors.slice(0, 50);
    for (const e of shown) err(e.side === "run" ? e.message : `error: ${e.side} ${e.path}: ${e.message} [${e.code}]`);
    if (report.errorCount > shown.length) err(`… and ${report.errorCount - shown.length} more errors`);
    if (json) say(JSON.stringify({ ...report, actions: options.dryRun ? actions : undefined, telemetry: telemetryOn ? telemetryPath(io.env) : null }));
    else {
      if (options.dryRun || values.verbose) for (const x of actions) say(`${x.kind.padEnd(7)} ${displayName(x.path)}${x.bytes !== undefined ? `  (${bytes(x.bytes)})` : ""}`);
      say(summary(report));
      if (values.verbose) for (const [k, note] of Object.entries(report.fastPathNotes)) say(`  note: ${k}: ${note}`);
    }
    return exitCodeFor(report.status);
  } catch (e) {
    if (isUsage(e)) {
      err((e as Error).message);
      return EXIT_FATAL;
    }
    err(`fatal: ${(e as Error)?.stack ?? e}`);
    return EXIT_FATAL;
  }
}

function summary(r: RunReport): string {
  const c = r.counts;
  const t = r.transport;
  const dry = r.options.dryRun ? " (dry run: nothing changed)" : "";
  const mirror = r.command === "mirror";
  const lines = [
    `${r.route} ${r.source} -> ${r.destination}: ${r.status}${dry}`,
    `  source: ${count(r.workload.files)} files (${bytes(r.workload.bytes)}), ${count(r.workload.dirs)} dirs, ${count(r.workload.symlinks)} symlinks`,
    r.options.dryRun
      ? `  would transfer ${count(c.planned)} (${bytes(c.plannedBytes)}), skip ${count(c.skipped)}${mirror ? `, delete ${count(c.deletePlanned)}` : ""}`
      : `  transferred ${count(c.copied)} (${bytes(c.copiedBytes)}${holeNote(c)}), skipped ${count(c.skipped)} unchanged${mirror ? `, deleted ${count(c.deleted)}` : ""}, ${count(c.dirsCreated)} dirs created`,
  ];
  if (t && !r.options.dryRun) {
    lines.push(`  data via ${t.kind}${t.tls ? "+tls" : ""}; time ${seconds(r.phases.totalMs)} (negotiate ${seconds(t.negotiateMs)}, transfer ${seconds(t.transferMs)}, complete ${seconds(t.completeMs)}), ${rate(c.copiedBytes, t.transferMs)}`);
  }
  // What was asked for and not kept, and why (the daemon's module or privileges, or ours).
  const notKept = [
    r.fastPathNotes.owners && `owners and groups not kept: ${r.fastPathNotes.owners}`,
    r.fastPathNotes.devices && `device nodes not created: ${r.fastPathNotes.devices}`,
    r.fastPathNotes.setid && r.fastPathNotes.setid,
    r.fastPathNotes.metadata && `owners, attributes and special files not kept: ${r.fastPathNotes.metadata}`,
  ];
  for (const l of notKept) if (l) lines.push(`  ${l}`);
  if (r.fastPathNotes.tls) lines.push(`  tls: ${r.fastPathNotes.tls}`);
  const specials = specialsNote(r.specialsSkipped);
  if (specials) lines.push(`  not transferred: ${specials}`);
  if (r.errorCount) lines.push(`  errors: ${count(r.errorCount)} (listed above)`);
  return lines.join("\n");
}

export async function lsCommand(args: string[], io: RemoteIo): Promise<number> {
  const say = (s: string) => io.stdout.write(s.endsWith("\n") ? s : s + "\n");
  const err = (s: string) => io.stderr.write(`blit: ${s}\n`);
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        "auth-token-file": { type: "string" },
        ...TLS_OPTIONS,
        timeout: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      say(LS_HELP);
      return EXIT_OK;
    }
    if (positionals.length !== 1 || !isRemote(positionals[0]!)) {
      err("ls needs one blit://HOST:PORT[/MODULE[/PATH]] URL; run 'blit ls --help'");
      return EXIT_FATAL;
    }
    const listing = await listRemote(positionals[0]!, { authToken: readToken(values["auth-token-file"], io.env), timeout: parseTimeout(values.timeout), tls: tlsOptions(values, io.env) });
    if (values.json) {
      say(JSON.stringify(listing));
      return EXIT_OK;
    }
    if (listing.modules) {
      if (listing.modules.length === 0) say("no modules");
      const w = Math.max(4, ...listing.modules.map((m) => m.name.length));
      for (const m of listing.modules) say(`${m.name.padEnd(w)}  ${m.readOnly ? "read-only" : "writable "}  ${m.comment}`);
      return EXIT_OK;
    }
    for (const e of listing.entries ?? []) {
      const kind = e.type === "dir" ? "d" : e.type === "symlink" ? "l" : e.type === "file" ? "-" : "?";
      const when = new Date(e.mtimeSec * 1000).toISOString().slice(0, 19).replace("T", " ");
      say(`${kind}${(e.mode & 0o7777).toString(8).padStart(4, "0")}  ${String(e.size).padStart(12)}  ${when}  ${e.name}${e.type === "dir" ? "/" : ""}`);
    }
    if (listing.truncated) say("… (more entries; the daemon lists at most 10,000)");
    return EXIT_OK;
  } catch (e) {
    if (e instanceof RemoteError || isUsage(e)) {
      err((e as Error).message);
      return EXIT_FATAL;
    }
    err(`fatal: ${(e as Error)?.stack ?? e}`);
    return EXIT_FATAL;
  }
}


