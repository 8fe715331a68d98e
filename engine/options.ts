// One typed object per run, normalized once. Flags beat BLIT_* environment beat defaults.
import { availableParallelism } from "node:os";
import { metadataPrivileges, type Keep } from "../ffi/index.ts";
import type { Command, RunOptions } from "./report.ts";
import { Scope } from "./select/index.ts";

export interface Job {
  command: Command;
  /** As the user typed them; resolved to absolute paths by the engine. */
  source: string;
  destination: string;
  options: RunOptions;
}

/** --retries' default: a push or pull runs again up to 3 times after a dropped connection. */
export const DEFAULT_RETRIES = 3;
/** The most --retries takes. */
export const MAX_RETRIES = 100;

/** Everything a caller may leave out gets its documented default here. */
export function normalizeOptions(partial: Partial<RunOptions> = {}): RunOptions {
  const {
    dryRun = false,
    checksum = false,
    sizeOnly = false,
    ignoreTimes = false,
    exclude = [],
    // Two per core keeps the disk busy while one thread waits on metadata; at most 16.
    workers = Math.min(16, Math.max(2, availableParallelism() * 2)),
    bwlimit = 0,
    maxDelete = -1,
    force = false,
    hardLinks = false,
    // As rsync -a: owners and groups are kept where the process may give them (root).
    owner = metadataPrivileges().owners,
    group = metadataPrivileges().owners,
    xattrs = false,
    acls = false,
    specials = false,
    devices = false,
    numericIds = false,
    filter = exclude.map((p) => `- ${p}`),
    filesFrom,
    deleteExcluded = false,
    backupDir,
    retries,
  } = partial;
  // Checked here so that a bad rule stops the run before anything is written (SelectError).
  Scope.top(filter);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    throw new RangeError(`--workers must be a whole number from 1 to 256, got ${workers}`);
  }
  if (!(bwlimit >= 0)) throw new RangeError(`--bwlimit must be 0 or more bytes per second, got ${bwlimit}`);
  if (!Number.isInteger(maxDelete) || maxDelete < -1) {
    throw new RangeError(`--max-delete must be a whole number of 0 or more, got ${maxDelete}`);
  }
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0 || retries > MAX_RETRIES)) {
    throw new RangeError(`--retries must be a whole number from 0 to ${MAX_RETRIES}, got ${retries}`);
  }
  if (checksum && sizeOnly) throw new RangeError("--checksum and --size-only cannot be used together");
  const base = {
    dryRun, checksum, sizeOnly, ignoreTimes, exclude: [...exclude], filter: [...filter], ...(filesFrom ? { filesFrom: [...filesFrom] } : {}), deleteExcluded, workers, bwlimit, maxDelete, force, hardLinks, owner, group, xattrs, acls, specials, devices, numericIds,
  };
  // Only remote runs retry: a local run's options carry no `retries`.
  return { ...base, ...(retries !== undefined ? { retries } : {}), ...(partial.wholeFile !== undefined ? { wholeFile: partial.wholeFile } : {}), ...backupOptions(partial.backup, backupDir, partial.suffix) };
}

/**
 * The selection rules a run's walks apply: `filter`, or (an older report, a caller that set
 * only `exclude`) the --exclude patterns.
 */
export function selectionRules(o: Pick<RunOptions, "exclude" | "filter">): string[] {
  return o.filter?.length ? o.filter : (o.exclude ?? []).map((p) => `- ${p}`);
}

/** The rules of a mirror's destination walk: none with --delete-excluded (excluded entries are then deleted too). */
export function destinationRules(o: Pick<RunOptions, "exclude" | "filter" | "deleteExcluded">): string[] {
  return o.deleteExcluded ? [] : selectionRules(o);
}

/**
 * --backup, --backup-dir, --suffix as rsync reads them: either of the last two implies the first;
 * the suffix is "~" without a backup directory and "" with one. Nothing when no backup is asked.
 */
function backupOptions(backup: boolean | undefined, dir: string | undefined, suffix: string | undefined): Partial<RunOptions> {
  if (!backup && dir === undefined && suffix === undefined) return {};
  if (dir !== undefined && dir.trim() === "") throw new RangeError("--backup-dir needs a directory, got ''");
  const s = suffix ?? (dir === undefined ? "~" : "");
  if (s.includes("/")) throw new RangeError(`--suffix must not contain '/', got '${s}'`);
  if (s === "" && dir === undefined) throw new RangeError("--suffix '' would give a backup the name of the file it keeps; give a suffix or a --backup-dir");
  return dir === undefined ? { backup: true, suffix: s } : { backup: true, backupDir: dir, suffix: s };
}

/** The metadata a run's copies keep beyond content, mode and mtime, as the copy backends take it. */
export function keepOf(options: Pick<RunOptions, "owner" | "group" | "xattrs" | "acls">): Keep {
  return { owner: options.owner, group: options.group, xattrs: options.xattrs, acls: options.acls };
}

/** "50M" -> 52428800 bytes/s; plain numbers are bytes; K, M, G, T are powers of 1024. */
export function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?(\/s)?$/i.exec(text.trim());
  if (!m) throw new RangeError(`not a rate: '${text}' (use a number of bytes per second, e.g. 500K, 50M, 1G)`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
  return Math.round(Number(m[1]) * mult);
}
