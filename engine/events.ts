// Per-entry events of a run, as they happen (or, in a dry run, as planned): what --itemize-changes,
// -v, --log-file and --json-lines print. Each carries the planner's reason (Plan.why), never a
// guess made afterwards. Only a run given an onEvent hook builds them: a run without one does no
// per-entry work for them.
import { WHY, whyNames } from "./plan.ts";

export type EventKind = "copy" | "mkdir" | "link" | "hardlink" | "special" | "meta" | "delete" | "backup" | "error";
/** rsync's file-type letters: f file, d directory, L symlink, D device, S FIFO or socket. */
export type EntryLetter = "f" | "d" | "L" | "D" | "S";

export interface FileEvent {
  event: EventKind;
  /** Relative to the destination root ("" is the root itself); for "error", as the error names it. */
  path: string;
  type?: EntryLetter;
  /** Why (whyNames of the planner's bits): "new", "size", "time", "checksum", "perms", "owner", "group", ... */
  reason: string[];
  /** The planner's bits (WHY), for itemize. */
  why?: number;
  /** Bytes of a file copied. */
  bytes?: number;
  /** A symlink's target, a hard link's first name, or where a backup went. */
  target?: string;
  /** "error": the error's code and message. */
  code?: string;
  message?: string;
}

/** An event of the planner's bits, with the reason names filled in. */
export function fileEvent(event: EventKind, path: string, type: EntryLetter, why: number, extra: Partial<FileEvent> = {}): FileEvent {
  return { event, path, type, reason: whyNames(why), why, ...extra };
}

/**
 * The event as rsync's --itemize-changes prints it: "YXcstpoguax name" (rsync(1), --itemize-changes):
 * Y is > (a file received), c (a local change or creation), h (a hard link), . (attributes only)
 * or the message "*deleting"; X the type letter; then c (checksum or link target), s (size), t
 * (time), p (perms), o (owner), g (group), and u, a, x unused here; all + for a new entry.
 * Directories end in "/", the root is "./"; symlinks show "-> target", hard links "=> first".
 * Undefined for events rsync does not itemize (backups, errors).
 */
export function itemize(e: FileEvent): string | undefined {
  const name = (e.type === "d" ? (e.path === "" ? "." : e.path) + "/" : e.path);
  if (e.event === "delete") return `*deleting   ${name}`;
  if (e.event === "backup" || e.event === "error") return undefined;
  const y = e.event === "copy" ? ">" : e.event === "hardlink" ? "h" : e.event === "meta" ? "." : "c";
  const why = e.why ?? 0;
  const flags = why & WHY.NEW
    ? "+++++++++"
    : [
        why & (WHY.CHECKSUM | WHY.TARGET) ? "c" : ".",
        why & WHY.SIZE ? "s" : ".",
        why & WHY.TIME ? "t" : ".",
        why & WHY.PERMS ? "p" : ".",
        why & WHY.OWNER ? "o" : ".",
        why & WHY.GROUP ? "g" : ".",
        ".", ".", ".",
      ].join("");
  const tail = e.event === "link" && e.target !== undefined ? ` -> ${e.target}` : e.event === "hardlink" && e.target !== undefined ? ` => ${e.target}` : "";
  return `${y}${e.type ?? "f"}${flags} ${name}${tail}`;
}
