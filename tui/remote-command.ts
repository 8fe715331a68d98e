// blit ls, and what push and pull share with it and check: the auth token, --timeout, and the
// summary of a remote transfer (the transfer itself runs in tui/transfer-command.ts).
import { readFileSync } from "node:fs";
import { isRemote, listRemote, RemoteError, UsageError, type RetryNotice, type RunReport } from "../engine/index.ts";
import { EXIT_FATAL, EXIT_OK } from "./exit-codes.ts";
import { bytes, count, countOf, formatTime, holeNote, rate, seconds, specialsNote } from "./format.ts";
import { boolFlag, helpText, parseCommand, stringFlag, type CommandSpec } from "./kit/command.ts";
import type { Flag } from "./kit/flag.ts";
import { say, warn, type Io } from "./kit/io.ts";
import { TRANSFER_FLAGS } from "./transfer-flags.ts";
import { tlsOptions } from "./tls-flags.ts";

/** @deprecated the kit's Io (tui/kit/io.ts); kept for the test driver. */
export type RemoteIo = Io;

export const LS_SPEC: CommandSpec = {
  name: "ls",
  usage: "blit ls blit[s]://HOST:PORT[/MODULE[/PATH]] [flags]",
  about: `Without a module: list the daemon's modules (name, read-only or writable, comment).
With a module: list a directory of it (type, size, mtime, name), or one file.
Names, comments and messages from the daemon are shown with control characters escaped (\\x1b).`,
  flags: [
    ...TRANSFER_FLAGS.filter((f) => ["--auth-token-file", "--tls-ca", "--tls-fingerprint", "--tls-accept-new"].includes(f.name)),
    { name: "--timeout", value: "SECONDS", commands: ["ls"], help: "give up when the daemon does not answer for SECONDS", default: "60; 0 waits forever" },
    RETRIES_FLAG("ls"),
    { name: "--json", commands: ["ls"], help: "print JSON" },
    { name: "--help", short: "-h", commands: ["ls"], help: "this help" },
  ] as CommandSpec["flags"],
  positionals: ["URL"],
  after: `Exit codes: 0 listed; 2 bad URL, "cannot resolve HOST", "cannot reach HOST:PORT", "auth token
rejected", "module 'x' not found", the path does not exist, or no answer within --timeout.`,
};

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

/** The summary of a push or pull, after its errors. */
export function remoteSummary(r: RunReport): string {
  const c = r.counts;
  const t = r.transport;
  const dry = r.options.dryRun ? " (dry run: nothing changed)" : "";
  const mirror = r.command === "mirror";
  const lines = [
    `${r.route} ${r.source} -> ${r.destination}: ${r.status}${dry}`,
    `  source: ${countOf(r.workload.files, "file")} (${bytes(r.workload.bytes)}), ${countOf(r.workload.dirs, "dir")}, ${countOf(r.workload.symlinks, "symlink")}`,
    r.options.dryRun
      ? `  would transfer ${count(c.planned)} (${bytes(c.plannedBytes)}), skip ${count(c.skipped)}${mirror ? `, delete ${count(c.deletePlanned)}` : ""}`
      : `  transferred ${count(c.copied)} (${bytes(c.copiedBytes)}${holeNote(c)}), skipped ${count(c.skipped)} unchanged${mirror ? `, deleted ${count(c.deleted)}` : ""}, ${countOf(c.dirsCreated, "dir")} created`,
  ];
  if (t && !r.options.dryRun) {
    lines.push(`  data via ${t.kind}${t.tls ? "+tls" : ""}; time ${seconds(r.phases.totalMs)} (negotiate ${seconds(t.negotiateMs)}, transfer ${seconds(t.transferMs)}, complete ${seconds(t.completeMs)}), ${rate(c.copiedBytes, t.transferMs)}`);
  }
  if (t?.delta && !r.options.dryRun) {
    // What delta and resume saved: kept from the receiver's older version or from a broken transfer's part.
    const d = t.delta;
    const resumed = d.resumedFiles ? `; ${countOf(d.resumedFiles, "file")} resumed (${bytes(d.resumedBytes)} kept from the broken transfer)` : "";
    lines.push(`  delta: ${countOf(d.files, "file")} as changes, ${bytes(d.matchedBytes)} kept, ${bytes(d.literalBytes)} sent${resumed}`);
  }
  if (t?.dataBytesOut !== undefined && !r.options.dryRun && (t.dataBytesOut > 0 || (t.dataBytesIn ?? 0) > 0)) {
    lines.push(`  on the wire (data plane): ${bytes(t.dataBytesOut)} sent, ${bytes(t.dataBytesIn ?? 0)} received`);
  }
  if (t?.retries?.length) {
    const whys = [...new Set(t.retries.map((x) => x.reason))];
    lines.push(`  retried ${countOf(t.retries.length, "time")} (${countOf(t.attempts ?? t.retries.length + 1, "attempt")}): ${whys.join("; ")}`);
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

/** --retries for the read-only remote commands (ls, check). */
export function RETRIES_FLAG<C extends string>(command: C): Flag<C> {
  return {
    name: "--retries", value: "N", commands: [command],
    help: "after a dropped connection, a restarted daemon or a --timeout stall, ask again up to N times (waiting 0.5 s, 1 s, 2 s ... up to 30 s); a rejected token, a missing module or a TLS key mismatch fail at once",
    default: "3; 0 fails at the first loss",
  };
}

/** --retries N: a whole number from 0 to 100; undefined when not given (the default, 3). */
export function parseRetries(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) > 100) throw new UsageError("BAD_OPTION", `--retries must be a whole number from 0 to 100, got '${v}'`);
  return Number(v);
}

/** One stderr line per retry of a read-only remote call. */
export function sayReadRetry(io: Io, what: string, r: RetryNotice): void {
  warn(io, `${what}: attempt ${r.attempt} of ${r.of} failed: ${r.reason}; retrying in ${seconds(r.delayMs)}`);
}

export async function lsCommand(args: string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseCommand(LS_SPEC, args, io);
    if (values.help) {
      say(io, helpText(LS_SPEC));
      return EXIT_OK;
    }
    if (!isRemote(positionals[0]!)) throw new UsageError("USAGE", `ls: '${positionals[0]}' is not a blit:// URL; usage: ${LS_SPEC.usage}`);
    const tls = tlsOptions({ "tls-ca": stringFlag(values, "tls-ca"), "tls-fingerprint": stringFlag(values, "tls-fingerprint"), "tls-accept-new": boolFlag(values, "tls-accept-new") }, io.env);
    const listing = await listRemote(positionals[0]!, {
      authToken: readToken(stringFlag(values, "auth-token-file"), io.env), timeout: parseTimeout(stringFlag(values, "timeout")), tls,
      retries: parseRetries(stringFlag(values, "retries")), onRetry: (r) => sayReadRetry(io, "ls", r),
    });
    if (values.json) {
      say(io, JSON.stringify(listing));
      return EXIT_OK;
    }
    if (listing.modules) {
      if (listing.modules.length === 0) say(io, "no modules");
      const w = Math.max(4, ...listing.modules.map((m) => m.name.length));
      for (const m of listing.modules) say(io, `${m.name.padEnd(w)}  ${m.readOnly ? "read-only" : "writable "}  ${m.comment}`);
      return EXIT_OK;
    }
    for (const e of listing.entries ?? []) {
      const kind = e.type === "dir" ? "d" : e.type === "symlink" ? "l" : e.type === "file" ? "-" : "?";
      const when = formatTime(e.mtimeSec * 1000);
      say(io, `${kind}${(e.mode & 0o7777).toString(8).padStart(4, "0")}  ${String(e.size).padStart(12)}  ${when}  ${e.name}${e.type === "dir" ? "/" : ""}`);
    }
    if (listing.truncated) say(io, "… (more entries; the daemon lists at most 10,000)");
    return EXIT_OK;
  } catch (e) {
    // The daemon's answer (not found, rejected, unreachable) is the whole message.
    if (e instanceof RemoteError) {
      warn(io, e.message);
      return EXIT_FATAL;
    }
    throw e;
  }
}


