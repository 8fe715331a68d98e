// Per-entry output of copy and mirror: -i/--itemize-changes (rsync's format), -v (the action and
// its reason), --log-file FILE (a line per action with a timestamp, between a start and an end
// line) and --json-lines (a JSON object per event, then the run report). All of them read the
// engine's events (engine/events.ts), which carry the planner's reasons; a run asking for none
// gets no onEvent hook and does no per-entry work.
import { closeSync, constants, fstatSync, openSync, writeSync } from "node:fs";
import { itemize, type FileEvent, type RunReport } from "../engine/index.ts";
import { bytes, count, countOf, escapePath, formatIsoTime, seconds } from "./format.ts";

export interface EventOutput {
  itemize: boolean;
  verbose: boolean;
  jsonLines: boolean;
  logFile?: string;
}

/** Where a run's events go; `onEvent` is undefined when nothing asked for them. */
export interface EventSinks {
  onEvent?: (e: FileEvent) => void;
  /** Writes the log file's start line (after the run's paths are known to be valid, it names them as typed). */
  start(command: string, source: string, destination: string, args: string[]): void;
  /** The end line of the log file, and its close; --json-lines' last line is printed by the caller. */
  finish(report: RunReport): void;
}

/**
 * The sinks for `out`, writing text to `say` (stdout). The log file is opened here, before the
 * run: a path that cannot be opened safely is a usage error (RangeError) and nothing runs.
 */
export function eventSinks(out: EventOutput, say: (s: string) => void): EventSinks {
  const log = out.logFile !== undefined ? LogFile.open(out.logFile) : undefined;
  const text = out.jsonLines ? undefined : out.itemize ? itemizeLine : out.verbose ? verboseLine : undefined;
  const each: ((e: FileEvent) => void)[] = [];
  if (out.jsonLines) each.push((e) => say(jsonLine(e)));
  if (text) {
    each.push((e) => {
      const line = text(e);
      if (line !== undefined) say(line);
    });
  }
  if (log) {
    each.push((e) => {
      const line = logLine(e);
      if (line !== undefined) log.write(line);
    });
  }
  const onEvent = each.length === 0 ? undefined : each.length === 1 ? each[0] : (e: FileEvent) => each.forEach((f) => f(e));
  return {
    onEvent,
    start(command, source, destination, args) {
      log?.write(`start ${command} ${escapePath(source)} -> ${escapePath(destination)}${args.length ? ` (${args.join(" ")})` : ""}`);
    },
    finish(report) {
      if (!log) return;
      log.write(`end ${report.status} (exit ${report.exitCode}): ${totals(report)}`);
      log.close();
    },
  };
}

/** -i: rsync's itemized line; errors go to stderr as always, backups are not itemized (as rsync). */
function itemizeLine(e: FileEvent): string | undefined {
  const line = itemize(e);
  return line === undefined ? undefined : escapePath(line);
}

/** -v: "copy    path  (12 KiB; size, time)", "delete  path", "backup  path -> where". */
function verboseLine(e: FileEvent): string | undefined {
  if (e.event === "error") return undefined;
  const name = escapePath(e.type === "d" && e.path !== "" ? `${e.path}/` : e.path || "./");
  const target = e.target !== undefined ? ` ${e.event === "hardlink" ? "=>" : "->"} ${escapePath(e.target)}` : "";
  const why = [e.bytes !== undefined ? bytes(e.bytes) : "", e.reason.join(", ")].filter(Boolean).join("; ");
  return `${e.event.padEnd(8)}${name}${target}${why ? `  (${why})` : ""}`;
}

/** --json-lines: one object per event; the planner's bits stay inside (the reason names them). */
function jsonLine(e: FileEvent): string {
  const { why: _why, ...rest } = e;
  const line = itemize(e);
  return JSON.stringify(line === undefined ? rest : { ...rest, itemize: line });
}

/** --log-file: the itemized form (or the event's kind) with the reason; errors with their code. */
function logLine(e: FileEvent): string | undefined {
  if (e.event === "error") return `error ${escapePath(e.path)}: ${escapePath(e.message ?? "")} [${e.code}]`;
  if (e.event === "backup") return `backup ${escapePath(e.path)} -> ${escapePath(e.target ?? "")} (${e.reason.join(", ")})`;
  const line = itemize(e) ?? `${e.event} ${e.path}`;
  return `${escapePath(line)}${e.reason.length ? ` (${e.reason.join(", ")})` : ""}`;
}

/** The totals of the end line and of --stats' first lines. */
function totals(r: RunReport): string {
  const c = r.counts;
  const parts = [`copied ${count(c.copied)} (${bytes(c.copiedBytes)})`, `skipped ${count(c.skipped)}`, `${countOf(c.dirsCreated, "dir")} created`];
  if (r.command === "mirror") parts.push(`deleted ${count(c.deleted)}`);
  if (c.backedUp) parts.push(`backed up ${count(c.backedUp)}`);
  parts.push(countOf(r.errorCount, "error"), `in ${seconds(r.phases.totalMs)}`);
  return parts.join(", ");
}

/** --stats: rsync-like totals after the summary. */
export function statsLines(r: RunReport): string {
  const c = r.counts;
  const w = r.workload;
  const n = (v: number) => count(v);
  return [
    `Number of files: ${n(w.files + w.dirs + w.symlinks)} (reg: ${n(w.files)}, dir: ${n(w.dirs)}, link: ${n(w.symlinks)})`,
    `Number of created directories: ${n(c.dirsCreated)}`,
    `Number of deleted files: ${n(c.deleted)}`,
    `Number of backups kept: ${n(c.backedUp ?? 0)}`,
    `Number of regular files transferred: ${n(c.copied - c.symlinks)}`,
    `Total file size: ${n(w.bytes)} bytes`,
    `Total transferred file size: ${n(c.copiedBytes)} bytes`,
    `Number of unchanged files: ${n(c.skipped)} (${n(c.skippedBytes)} bytes)`,
    `Errors: ${n(r.errorCount)}`,
  ].join("\n");
}

/**
 * The --log-file, opened for appending: the last component is never followed (a symlink put
 * there by another user is refused), only a regular file is written (a FIFO or device is
 * refused, without blocking), a new file is 0600, and each line is one write(2) with O_APPEND,
 * so lines of runs sharing the file never interleave mid-line.
 */
class LogFile {
  private constructor(private fd: number) {}

  static open(path: string): LogFile {
    const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    let fd: number;
    try {
      fd = openSync(path, flags, 0o600);
    } catch (err) {
      const code = (err as { code?: string }).code ?? "EIO";
      const why = code === "ELOOP" ? "it is a symlink (not followed)" : code === "ENOENT" ? "its directory does not exist" : code === "ENXIO" ? "it is a FIFO" : code;
      throw new RangeError(`cannot open --log-file '${path}': ${why}; name a regular file in an existing directory`);
    }
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      throw new RangeError(`--log-file '${path}' is not a regular file; name a regular file`);
    }
    return new LogFile(fd);
  }

  /** One line: an ISO 8601 timestamp with its zone's offset (the one formatter's), the process id, the text. */
  write(text: string): void {
    if (this.fd < 0) return;
    writeSync(this.fd, `${formatIsoTime(Date.now())} [${process.pid}] ${text}\n`);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
