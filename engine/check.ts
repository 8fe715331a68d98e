// blit check: compare two directory trees, local or on a blitd module, and change neither. Both
// sides are walked (walkTree, or the daemon's manifest), marched in lock step (marchTrees), and
// each file present on both sides is judged by the planner's own rule (fileUnchanged, one modify
// window), so "equal" here means "a copy or mirror would transfer nothing".
import { realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { backend, metadataPrivileges, openRooted, type RootedDir, type Xattr, type XattrSelection } from "../ffi/index.ts";
import { UsageError } from "./errors.ts";
import { selectionRules } from "./options.ts";
import { comparePaths, fileUnchanged, marchTrees, sameMtime, typeName } from "./plan.ts";
import { fetchRemoteTree, hashBeneath, isRemote, readTreeXattrs, RemoteError, type RetryNotice, type TlsClientOptions } from "./remote/index.ts";
import type { RunError } from "./report.ts";
import { T_DIR, T_FILE, T_LINK, walkTree, type Tree } from "./walk.ts";

/** missing: in SRC, not in DST; extra: in DST, not in SRC; differs: on both sides, not equal. */
export type CheckKind = "missing" | "extra" | "differs";

/**
 * Why an entry on both sides differs, listed in this order:
 * - content: the bytes differ (sizes differ, or --checksum hashed both and the hashes differ)
 * - size: regular files of different sizes
 * - mtime: modification times further apart than MODIFY_WINDOW_NS (files without --checksum,
 *   directories always; symlink times are not compared)
 * - mode: permission bits (files and directories)
 * - type: a file on one side, a directory or symlink on the other (see `dstType`)
 * - target: symlinks pointing at different targets
 */
export type CheckReason = "content" | "size" | "mtime" | "mode" | "type" | "target" | "owner" | "links" | "xattrs" | "acls";

export type EntryType = "file" | "directory" | "symlink" | "special file";

export interface CheckEntry {
  /** Relative to both roots, "/"-separated, as the walk read it (not escaped). */
  path: string;
  kind: CheckKind;
  /** The type in SRC (missing, differs) or in DST (extra). */
  type: EntryType;
  /** With reason "type": the type in DST. */
  dstType?: EntryType;
  /** Empty for missing and extra. */
  reasons: CheckReason[];
}

export interface CheckCounts {
  missing: number;
  extra: number;
  differs: number;
  /** Entries present on both sides with nothing different. */
  equal: number;
  /** Files compared by content hash (--checksum). */
  hashed: number;
}

/** equal: no difference and no error; different: at least one difference; error: something could not be compared. */
export type CheckStatus = "equal" | "different" | "error";

export interface CheckOptions {
  /**
   * Files of equal size are compared by content (BLAKE2b-256) instead of by mtime, as
   * `blit copy --checksum` decides. Both sides must be local: blitd sends no hashes without a
   * transfer. @default false
   */
  checksum: boolean;
  /** --exclude patterns (rsync-style, see engine/select), applied to both sides. @default [] */
  exclude: string[];
  /** Every selection rule in order, canonical (engine/select); replaces `exclude` when set. @default the excludes */
  filter?: string[];
  /** The daemon's auth token for a blit:// side. @default undefined */
  authToken?: string;
  /** Seconds to wait for a daemon to answer. @default 10 */
  connectTimeout?: number;
  /** How a blits:// side is trusted. @default pinning without a known_daemons file: refused */
  tls?: TlsClientOptions;
  /** Seconds a daemon may show no progress before the check gives up (0: never). @default 60 */
  timeout?: number;
  /** A blit:// side is read again after a dropped connection or a restarted daemon, up to this many times. @default 3 */
  retries?: number;
  /** Told before each such retry (the CLI prints it on stderr). */
  onRetry?: (r: RetryNotice) => void;
  /**
   * `-X`: compare extended attributes (user.*; trusted.* and security.* too between two local
   * trees when this process may read them). @default false
   */
  xattrs?: boolean;
  /** `-A`: compare POSIX ACLs (the system.posix_acl_* attributes). @default false */
  acls?: boolean;
}

export interface CheckJob {
  /** A local directory or blit://HOST:PORT/MODULE[/PATH], as the user typed it. */
  source: string;
  destination: string;
  options?: Partial<CheckOptions>;
}

export interface CheckResult {
  /** Absolute path or normalized blit:// URL. */
  source: string;
  destination: string;
  /** `filter`: every selection rule both walks applied, in order (engine/select). */
  options: { checksum: boolean; exclude: string[]; filter: string[] };
  status: CheckStatus;
  /** Every difference, in tree order (comparePaths: each directory's contents right after it). */
  entries: CheckEntry[];
  counts: CheckCounts;
  /** The first 1000 errors: unreadable entries on either side, a refusal ("run"). */
  errors: RunError[];
  errorCount: number;
  durationMs: number;
}

const MAX_ERRORS = 1000;

/** A content hash of the file at `rel` on one side, or null when it cannot be read. */
export interface ContentHasher {
  source(rel: string): Uint8Array | null;
  destination(rel: string): Uint8Array | null;
}

export interface Comparison {
  entries: CheckEntry[];
  counts: CheckCounts;
  errors: RunError[];
}

function entryType(t: number): EntryType {
  return typeName(t) as EntryType;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

/**
 * Compares two walked trees (roots excluded). With a hasher, files of equal size are compared
 * by content and their mtimes are not (as --checksum does in a copy); without one, by size and
 * mtime. What could not be read is an error (the tree's, or a hash's), never a difference.
 */
export function compareTrees(src: Tree, dst: Tree, hasher?: ContentHasher): Comparison {
  const entries: CheckEntry[] = [];
  const counts: CheckCounts = { missing: 0, extra: 0, differs: 0, equal: 0, hashed: 0 };
  const errors: RunError[] = [];
  const rule = { mirror: false, checksum: hasher !== undefined, sizeOnly: false, ignoreTimes: false };
  // What one side could not read (an entry, or a directory's listing) is unknown there, so the
  // other side's entries at or below it are neither missing nor extra: the error says so.
  const srcUnknown = unknownUnder(src);
  const dstUnknown = unknownUnder(dst);
  // Owners are compared where both trees carry them (a walk does; a daemon's manifest may not).
  const owners = !!(src.uid && dst.uid && src.gid && dst.gid);
  const links = hardLinkMatcher(src, dst);
  const attrs = xattrDiffer(src, dst);
  marchTrees(src, dst, {
    srcOnly(i) {
      if (dstUnknown(src.paths[i]!)) return;
      counts.missing++;
      entries.push({ path: src.paths[i]!, kind: "missing", type: entryType(src.types[i]!), reasons: [] });
    },
    dstOnly(j) {
      if (srcUnknown(dst.paths[j]!)) return;
      counts.extra++;
      entries.push({ path: dst.paths[j]!, kind: "extra", type: entryType(dst.types[j]!), reasons: [] });
    },
    match(i, j) {
      const rel = src.paths[i]!;
      const t = src.types[i]!;
      const reasons: CheckReason[] = [];
      let unreadable = false;
      if (t !== dst.types[j]) reasons.push("type");
      else if (t === T_FILE) {
        const same = fileUnchanged(src, i, dst, j, rule);
        if (same === "check") {
          const a = hasher!.source(rel);
          const b = hasher!.destination(dst.paths[j]!);
          for (const [h, side] of [[a, "source"], [b, "destination"]] as const) {
            if (h === null) errors.push({ path: rel, side, code: "EIO", message: "cannot be read to compare its content" });
          }
          if (a && b) {
            counts.hashed++;
            if (!sameBytes(a, b)) reasons.push("content");
          } else unreadable = true;
        } else if (!same) {
          if (src.sizes[i] !== dst.sizes[j]) reasons.push("content", "size");
          if (!rule.checksum && !sameMtime(src, i, dst, j)) reasons.push("mtime");
        }
        if ((src.modes[i]! & 0o7777) !== (dst.modes[j]! & 0o7777)) reasons.push("mode");
      } else if (t === T_DIR) {
        if (!sameMtime(src, i, dst, j)) reasons.push("mtime");
        if ((src.modes[i]! & 0o7777) !== (dst.modes[j]! & 0o7777)) reasons.push("mode");
      } else if (t === T_LINK) {
        // an unreadable link has no target; its error is reported instead
        if (src.links[i] === undefined || dst.links[j] === undefined) unreadable = true;
        else if (src.links[i] !== dst.links[j]) reasons.push("target");
      }
      if (t === dst.types[j] && owners && (src.uid![i] !== dst.uid![j] || src.gid![i] !== dst.gid![j])) reasons.push("owner");
      if (t === T_FILE && dst.types[j] === T_FILE && !links(i, j)) reasons.push("links");
      if (t === dst.types[j] && attrs) reasons.push(...attrs(i, j));
      if (reasons.length > 0) {
        counts.differs++;
        const e: CheckEntry = { path: rel, kind: "differs", type: entryType(t), reasons };
        if (reasons[0] === "type") e.dstType = entryType(dst.types[j]!);
        entries.push(e);
      } else if (!unreadable) counts.equal++;
    },
  });
  // The march follows walkTree's order (a directory's entries together); a listing reads
  // better as a tree, each directory's contents right after it.
  entries.sort((x, y) => comparePaths(x.path, y.path));
  return { entries, counts, errors };
}

const ACL_PREFIX = "system.posix_acl_";

/**
 * Where both trees carry extended attributes (check -X/-A read them), the reasons matched
 * entries i and j differ in them: "acls" for the system.posix_acl_* attributes, "xattrs" for the
 * others. Undefined when a tree has none to compare.
 */
function xattrDiffer(src: Tree, dst: Tree): ((i: number, j: number) => CheckReason[]) | undefined {
  if (!src.xattrs || !dst.xattrs) return undefined;
  const key = (list: readonly Xattr[] | undefined, acl: boolean) =>
    (list ?? []).filter((a) => a.name.startsWith(ACL_PREFIX) === acl).map((a) => `${a.name}=${Buffer.from(a.value).toString("hex")}`).sort().join("\n");
  return (i, j) => {
    const a = src.xattrs![i];
    const b = dst.xattrs![j];
    const out: CheckReason[] = [];
    if (key(a, false) !== key(b, false)) out.push("xattrs");
    if (key(a, true) !== key(b, true)) out.push("acls");
    return out;
  };
}

/**
 * Whether matched files i (source) and j (destination) keep the hard-link structure so far:
 * files that are one inode on one side must be one inode on the other, and only those. True
 * when a tree lacks inode numbers (a peer's manifest).
 */
function hardLinkMatcher(src: Tree, dst: Tree): (i: number, j: number) => boolean {
  if (!src.ino || !dst.ino || !src.nlink || !dst.nlink) return () => true;
  const key = (t: Tree, k: number) => (t.nlink![k]! > 1 ? `${t.dev?.[k] ?? 0}:${t.ino![k]}` : undefined);
  const dstOf = new Map<string, string | undefined>();
  const srcOf = new Map<string, string | undefined>();
  return (i, j) => {
    const a = key(src, i);
    const b = key(dst, j);
    let ok = true;
    if (a !== undefined) {
      if (!dstOf.has(a)) dstOf.set(a, b);
      else ok = dstOf.get(a) === b && b !== undefined;
    }
    if (b !== undefined) {
      if (!srcOf.has(b)) srcOf.set(b, a);
      else ok &&= srcOf.get(b) === a && a !== undefined;
    }
    return ok;
  };
}

/** Whether a path is at or below one the tree's walk could not read ("." covers everything). */
function unknownUnder(t: Tree): (rel: string) => boolean {
  const failed = new Set(t.errors.map((e) => e.path));
  if (failed.size === 0) return () => false;
  if (failed.has(".")) return () => true;
  return (rel) => {
    for (let k = rel.indexOf("/"); k > 0; k = rel.indexOf("/", k + 1)) if (failed.has(rel.slice(0, k))) return true;
    return failed.has(rel);
  };
}

/** The one constructor of a CheckResult, for a finished comparison or a refusal before it. */
function checkResult(job: CheckJob, parts: { source?: string; destination?: string; comparison?: Comparison; errors: RunError[]; errorCount: number; t0: number }): CheckResult {
  const c = parts.comparison;
  const entries = c?.entries ?? [];
  const status: CheckStatus = parts.errorCount > 0 ? "error" : entries.length > 0 ? "different" : "equal";
  return {
    source: parts.source ?? job.source,
    destination: parts.destination ?? job.destination,
    options: {
      checksum: job.options?.checksum ?? false, exclude: [...(job.options?.exclude ?? [])],
      filter: selectionRules({ exclude: job.options?.exclude ?? [], filter: job.options?.filter }),
    },
    status,
    entries,
    counts: c?.counts ?? { missing: 0, extra: 0, differs: 0, equal: 0, hashed: 0 },
    errors: parts.errors.slice(0, MAX_ERRORS),
    errorCount: parts.errorCount,
    durationMs: performance.now() - parts.t0,
  };
}

/** A check refused before comparing (bad path, unreachable daemon...): status "error". */
export function refusedCheck(job: CheckJob, err: { code: string; message: string }): CheckResult {
  return checkResult(job, { errors: [{ path: ".", side: "run", code: err.code, message: err.message }], errorCount: 1, t0: performance.now() });
}

interface Side {
  /** What the result names: an absolute path or the normalized URL. */
  label: string;
  tree: Tree;
  /** Extra errors beyond tree.errors (a daemon sends the first 100). */
  moreErrors: number;
  /** Local sides: the real directory, for hashing. */
  root?: string;
}

async function readSide(arg: string, side: "source" | "destination", opts: CheckOptions): Promise<Side> {
  if (isRemote(arg)) {
    const r = await fetchRemoteTree(arg, {
      authToken: opts.authToken, exclude: opts.exclude, filter: opts.filter, connectTimeout: opts.connectTimeout, timeout: opts.timeout, tls: opts.tls,
      xattrs: opts.xattrs, acls: opts.acls, retries: opts.retries, onRetry: opts.onRetry,
    });
    if (opts.xattrs || opts.acls) r.tree.xattrs ??= {}; // asked for: an entry without any has none
    if (r.singleFile) throw new UsageError("NOT_A_DIRECTORY", `${side} '${r.url}' is a file; check compares two directories`);
    r.tree.errors = r.tree.errors.map((e) => ({ ...e, side }));
    return { label: r.url, tree: r.tree, moreErrors: r.errorCount - r.tree.errors.length };
  }
  const abs = resolve(arg);
  let real: string;
  try {
    // A symlink naming the root is followed (like `rsync SRC/`); nothing below it is.
    real = realpathSync(abs);
    if (!statSync(real).isDirectory()) throw new UsageError("NOT_A_DIRECTORY", `${side} '${arg}' is not a directory; check compares two directories`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as { code?: string }).code ?? "EIO";
    throw new UsageError(code === "ENOENT" ? (side === "source" ? "SOURCE_MISSING" : "DEST_MISSING") : "UNREADABLE",
      `${side} '${arg}' ${code === "ENOENT" ? "does not exist" : `cannot be read (${code})`}`);
  }
  try {
    const tree = walkTree(real, selectionRules(opts), side);
    if (opts.xattrs || opts.acls) readXattrsInto(tree, real, side, xattrSelectionFor(opts));
    return { label: abs, tree, moreErrors: 0, root: real };
  } finally {
    backend().closeCache();
  }
}

/**
 * What -X/-A compare. trusted.* and security.* only between two local trees, and only when this
 * process may read them: a daemon sends them only from a keep_owners module, so against a
 * blit:// side they would differ for that reason alone.
 */
function xattrSelectionFor(opts: CheckOptions & { remoteSide?: boolean }): XattrSelection {
  return { xattrs: !!opts.xattrs, acls: !!opts.acls, privileged: !opts.remoteSide && metadataPrivileges().systemXattrs };
}

/** The selected attributes of every entry of a local tree, read beneath its root (no symlink followed). */
function readXattrsInto(tree: Tree, root: string, side: "source" | "destination", sel: XattrSelection): void {
  const dir = openRooted(root);
  try {
    tree.xattrs = readTreeXattrs(dir, tree, sel, (e) => tree.errors.push({ ...e, side })).xattrs;
  } finally {
    dir.close();
  }
}

/**
 * Compares SRC and DST and returns the differences. Never throws for bad input or an
 * unreachable daemon: those come back as a result with status "error" (see refusedCheck).
 */
export async function check(job: CheckJob): Promise<CheckResult> {
  const t0 = performance.now();
  const opts: CheckOptions & { remoteSide?: boolean } = { checksum: false, exclude: [], ...job.options };
  opts.remoteSide = isRemote(job.source) || isRemote(job.destination);
  try {
    if (opts.checksum && (isRemote(job.source) || isRemote(job.destination))) {
      throw new UsageError("CHECKSUM_REMOTE", `--checksum needs both sides local: blitd sends file hashes only during a transfer (compare by size and mtime without --checksum, or pull the module first)`);
    }
    const src = await readSide(job.source, "source", opts);
    const dst = await readSide(job.destination, "destination", opts);
    const roots: RootedDir[] = [];
    let comparison: Comparison;
    try {
      let hasher: ContentHasher | undefined;
      if (opts.checksum) {
        const srcRoot = openRooted(src.root!);
        roots.push(srcRoot);
        const dstRoot = openRooted(dst.root!);
        roots.push(dstRoot);
        hasher = { source: (rel) => hashBeneath(srcRoot, rel), destination: (rel) => hashBeneath(dstRoot, rel) };
      }
      comparison = compareTrees(src.tree, dst.tree, hasher);
    } finally {
      for (const r of roots) r.close();
    }
    const errors = [...src.tree.errors, ...dst.tree.errors, ...comparison.errors];
    const errorCount = errors.length + src.moreErrors + dst.moreErrors;
    return checkResult(job, { source: src.label, destination: dst.label, comparison, errors, errorCount, t0 });
  } catch (err) {
    if (err instanceof UsageError || err instanceof RemoteError) return refusedCheck(job, err);
    throw err;
  }
}
