// --backup, --backup-dir, --suffix (rsync's semantics): what a copy overwrites and what a mirror
// replaces or deletes is kept under a backup name instead of being lost: NAME~ beside it, or
// DIR/REL (DIR/REL+SUFFIX) under a backup directory, an existing backup of that name replaced.
//
// How it is kept, so that no moment lacks both the old and the new entry under the final name:
// - an entry about to be overwritten gets a second name (a hard link) in the backup place first;
//   the copy then renames the new file over the old name as always, and the old inode lives on
//   as the backup. A filesystem without hard links gets a rename just before instead.
// - an entry about to be deleted is renamed into the backup place (one rename, nothing copied).
// - an entry replaced by one of another type is swapped out (exchange) and then renamed there.
// Every name is reached through directory handles beneath the destination (and the backup
// directory's) root, one component at a time, never through a symlink (ffi RootedDir): a user who
// swaps a directory of the backup place for a symlink makes the backup fail, never lands it
// elsewhere. A backup that fails leaves the entry where it was (not overwritten, not deleted).
// A backup directory on another filesystem is refused before the run starts: a rename cannot
// cross filesystems, and copying each backup would double the run's writes.
import { moveBetween, nameFs, namePath, openRooted, type FsError, type RootedDir } from "../ffi/index.ts";
import { RootedDestTree, removeEntryAt } from "./dest-tree.ts";
import { UsageError } from "./errors.ts";
import { stageName } from "./plan.ts";
import type { RunOptions } from "./report.ts";

const { mkdirSync, realpathSync, statSync } = nameFs;
const { dirname, relative, resolve } = namePath;

/** Where backups go: a directory inside the destination (relative to its root), or outside it. */
export interface BackupPlace {
  /** Relative to the destination root ("" = beside each entry, the --suffix-only form). */
  inside?: string;
  /** An absolute directory outside the destination, on its filesystem. */
  outside?: string;
  suffix: string;
}

/**
 * The backup place of a run writing into `dstRoot`, checked before anything is written: a
 * backup directory on another filesystem than the destination is a usage error. Undefined when
 * no backup was asked for.
 */
export function backupPlace(opts: RunOptions, dstRoot: string, srcRoot: string): BackupPlace | undefined {
  if (!opts.backup) return undefined;
  const suffix = opts.suffix ?? (opts.backupDir === undefined ? "~" : "");
  if (opts.backupDir === undefined) return { inside: "", suffix };
  const abs = resolve(dstRoot, opts.backupDir);
  const rel = relative(dstRoot, abs);
  if (rel === "") throw new UsageError("BACKUP_DIR", `--backup-dir '${opts.backupDir}' is the destination itself; name a directory inside or beside it`);
  const inSource = relative(srcRoot, abs);
  if (inSource === "" || (!inSource.startsWith("..") && !inSource.startsWith("/"))) {
    throw new UsageError("BACKUP_DIR", `--backup-dir '${opts.backupDir}' is inside the source '${srcRoot}'; backups would be written into what is being copied: name a directory outside it`);
  }
  const dstDev = deviceOf(dstRoot);
  const dirDev = deviceOf(abs);
  if (dstDev !== undefined && dirDev !== undefined && dstDev !== dirDev) {
    throw new UsageError(
      "BACKUP_OTHER_FS",
      `--backup-dir '${opts.backupDir}' is on another filesystem than the destination '${dstRoot}'; backups are moved by rename, which cannot cross filesystems: choose a directory on the destination's filesystem (a relative --backup-dir is inside the destination)`,
    );
  }
  if (!rel.startsWith("..") && !rel.startsWith("/")) return { inside: rel, suffix };
  return { outside: abs, suffix };
}

/** The device of `p`, or of its deepest existing ancestor (what a directory made there would be on). */
function deviceOf(p: string): number | undefined {
  for (let cur = p; ; cur = dirname(cur)) {
    try {
      return statSync(cur).dev;
    } catch {}
    if (dirname(cur) === cur) return undefined;
  }
}

/**
 * What the walks leave out for the backups: the backup directory inside the destination (on
 * both sides, so that it is neither copied into nor deleted, as rsync does), and, for a mirror
 * keeping backups beside their entries, every name ending in the suffix on the destination
 * (rsync's "P *~" rule: earlier backups are not deleted).
 */
export function backupExcludes(place: BackupPlace | undefined, mirror: boolean): { source: string[]; destination: string[] } {
  if (!place) return { source: [], destination: [] };
  // Selection rules (engine/select), put before the user's: the first match wins, so no
  // --include can bring the backups back, and --delete-excluded never deletes them.
  if (place.inside) {
    const dir = `- /${escapeGlob(place.inside)}/`;
    return { source: [dir], destination: [dir] };
  }
  if (place.inside === "" && mirror) return { source: [], destination: [`- *${escapeGlob(place.suffix)}`] };
  return { source: [], destination: [] };
}

/** Where the backup of destination entry `rel` goes, as a user names it: relative to the destination, or absolute. */
export function backupShownAs(place: BackupPlace, rel: string): string {
  if (place.outside !== undefined) return `${place.outside}/${rel}${place.suffix}`;
  return `${place.inside ? `${place.inside}/` : ""}${rel}${place.suffix}`;
}

/** `s` as an rsync pattern matching itself: with no wildcard it already does; with one, each wildcard and backslash is quoted. */
function escapeGlob(s: string): string {
  return /[*?[]/.test(s) ? s.replace(/[\\*?[\]]/g, (c) => `\\${c}`) : s;
}

function split(rel: string): [string, string] {
  const k = rel.lastIndexOf("/");
  return k < 0 ? ["", rel] : [rel.slice(0, k), rel.slice(k + 1)];
}

/** Codes of a rename onto an existing backup of another shape (a directory, or a file where a directory goes). */
const OCCUPIED = new Set(["EISDIR", "ENOTEMPTY", "EEXIST", "ENOTDIR"]);

/** Keeps entries of the destination under their backup names (see the header). */
export class Backups {
  private readonly store: RootedDestTree;
  private readonly prefix: string;
  private readonly ownsStore: boolean;
  /** Entries kept so far. */
  kept = 0;
  /** Backup directories known to exist (made or found), so that each is checked once. */
  private readonly made = new Set<string>([""]);

  constructor(private readonly dest: RootedDestTree, private readonly place: BackupPlace) {
    if (place.outside !== undefined) {
      mkdirSync(place.outside, { recursive: true, mode: 0o700 });
      this.store = new RootedDestTree(openRooted(realpathSync(place.outside)), true);
      this.prefix = "";
      this.ownsStore = true;
    } else {
      this.store = dest;
      this.prefix = place.inside ?? "";
      this.ownsStore = false;
    }
  }

  /** The backup of destination entry `rel`, relative to the backup place's root. */
  nameOf(rel: string): string {
    return (this.prefix ? `${this.prefix}/` : "") + rel + this.place.suffix;
  }

  /**
   * Keeps `rel` (a non-directory about to be overwritten) as its backup while it stays in
   * place: a hard link, put over any older backup by rename. Where hard links are refused
   * (EPERM: another user's file under protected_hardlinks, a filesystem without them; EMLINK),
   * the entry is renamed there instead and its name is empty until the copy puts the new file.
   */
  linkAside(rel: string): void {
    const [dir, name] = split(rel);
    const [bdirRel, bname] = split(this.nameOf(rel));
    const from = this.dest.dir(dir);
    const to = this.backupDir(bdirRel);
    const tmp = stageName(bname);
    try {
      moveBetween("link", from, name, to, tmp);
    } catch (err) {
      const code = (err as FsError).code;
      if (code === "EPERM" || code === "EMLINK" || code === "EOPNOTSUPP") return this.moveAside(rel);
      throw err;
    }
    try {
      this.replace(to, bdirRel, bname, () => to.rename(tmp, bname));
      this.kept++;
    } finally {
      // Gone after a rename, except when the backup already was this very file (a killed
      // run's): rename(2) then does nothing and leaves both names.
      to.unlinkQuiet(tmp);
    }
  }

  /**
   * Moves `rel` (a deleted entry, or one swapped out: any type) to its backup name, replacing an
   * older backup; `at` is where it is now when not at `rel` (a replaced entry swapped out under a
   * temporary name in the same directory).
   */
  moveAside(rel: string, at = rel): void {
    const [dir, name] = split(at);
    const [bdirRel, bname] = split(this.nameOf(rel));
    const from = this.dest.dir(dir);
    const to = this.backupDir(bdirRel);
    this.dest.forget(at);
    this.replace(to, bdirRel, bname, () => moveBetween("rename", from, name, to, bname));
    this.kept++;
  }

  /** Runs `put`; when an older backup of another shape is in the way, removes it and runs `put` again. */
  private replace(to: RootedDir, bdirRel: string, bname: string, put: () => void): void {
    try {
      put();
    } catch (err) {
      if (!OCCUPIED.has((err as FsError).code)) throw err;
      this.store.forget(bdirRel ? `${bdirRel}/${bname}` : bname);
      removeEntryAt(to, bname);
      put();
    }
  }

  /** The handle of backup directory `rel` (beneath the backup root), made with its parents (0700) when missing. */
  private backupDir(rel: string): RootedDir {
    if (!this.made.has(rel)) {
      const parts = rel.split("/");
      for (let k = 1; k <= parts.length; k++) {
        const sub = parts.slice(0, k).join("/");
        if (this.made.has(sub)) continue;
        try {
          this.store.mkdir(sub, 0o700);
        } catch (err) {
          if ((err as FsError).code !== "EEXIST") throw err;
        }
        this.made.add(sub);
      }
    }
    return this.store.dir(rel);
  }

  close(): void {
    if (this.ownsStore) this.store.close();
  }
}
