// Manifests (trees in columns) on the wire, and the checks every path from a peer must pass.
// A decoded manifest is safe to use as relative paths beneath a root: no `..`, no absolute path,
// no NUL, no backslash, no drive letter or UNC prefix, bounded lengths and counts, and every
// entry's parent appears earlier as a directory (so a symlink entry can never be a parent).
// Names travel as their exact bytes (UTF-8 or not) and decode with ffi's name codec, so a name
// that is not valid UTF-8 arrives as the same bytes; lengths are limited in bytes.
//
// The optional metadata (owners and their names, extended attributes, special files) is bounded
// like the paths: a peer that sends more than the limits below gets a PathError (a protocol
// error), never an allocation it chose.
import type { Tree } from "../engine/index.ts";
import {
  byteLengthOfName, bytesOfName, displayName, groupName, hasEscapedBytes, makeDev, nameFromBytes, splitDev, userName,
  type SpecialKind, type Xattr,
} from "../ffi/index.ts";

/**
 * Entries in one manifest. Together with the gRPC message cap (MAX_MESSAGE_BYTES, 256 MiB, which
 * bounds a manifest's bytes) this bounds what a peer can make the receiver allocate: a manifest
 * of 5,000,000 entries takes about 1.5 GB of the receiver's memory while it is planned.
 */
export const MAX_ENTRIES = 5_000_000;
export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;
export const MAX_LINK_BYTES = 4096;
/** Extended attributes in one manifest, all entries together. */
export const MAX_XATTRS = 1_000_000;
/** An attribute's name (the kernel's XATTR_NAME_MAX). */
export const MAX_XATTR_NAME_BYTES = 255;
/** An attribute's value (the kernel's XATTR_SIZE_MAX). */
export const MAX_XATTR_VALUE_BYTES = 65536;
/** The names of one entry's attributes, NUL-terminated (the kernel's XATTR_LIST_MAX). */
export const MAX_XATTR_LIST_BYTES = 65536;
/** Names and values of all attributes in one manifest. */
export const MAX_XATTR_TOTAL_BYTES = 64 << 20;
/** Entries of each id -> name table, and a name's length. */
export const MAX_ID_NAMES = 65536;
export const MAX_ID_NAME_BYTES = 255;
const SPECIAL_KINDS: readonly SpecialKind[] = ["fifo", "socket", "char", "block"];
const TEMP_PREFIX = ".blit-tmp-";
const T_FILE = 1;
const T_DIR = 2;
const T_LINK = 3;
const T_OTHER = 4;

/** The protobuf Manifest message as @grpc/proto-loader gives it (bytes as Buffer/Uint8Array). */
export interface ManifestMsg {
  count: number;
  paths: Uint8Array;
  types: Uint8Array;
  sizes: Uint8Array;
  modes: Uint8Array;
  mtime_sec: Uint8Array;
  mtime_nsec: Uint8Array;
  /** target_bytes, when not empty, is the target (one that is not valid UTF-8); else target. */
  links: { index: number; target: string; target_bytes?: Uint8Array }[];
  single_file: boolean;
  root_mode: number;
  root_mtime_sec: number;
  root_mtime_nsec: number;
  /** -H: u32 LE per entry, equal non-zero values for the files of one inode (absent or empty: none). */
  link_group?: Uint8Array;
  /** u32 LE per entry (absent or empty: owners not sent). */
  uids?: Uint8Array;
  gids?: Uint8Array;
  root_uid?: number;
  root_gid?: number;
  user_names?: IdNameMsg[];
  group_names?: IdNameMsg[];
  /** index === count: the root. */
  xattrs?: { index: number; name: string; value: Uint8Array }[];
  specials?: { index: number; kind: string; major: number; minor: number }[];
}

export interface IdNameMsg {
  id: number;
  name: string;
}

/** What a manifest carries beyond names, types, sizes, modes, mtimes and symlink targets. */
export interface ManifestExtras {
  /** -H: the link_group column (from the tree's dev and ino). @default false */
  hardLinks?: boolean;
  /** The uids column (the tree's uid), with the names of its ids unless numericIds. @default false */
  owner?: boolean;
  /** The gids column (the tree's gid), with the names of its ids unless numericIds. @default false */
  group?: boolean;
  /** Owners travel as numbers only (--numeric-ids). @default false */
  numericIds?: boolean;
  /** The attributes to send, as the sender read and selected them (-X, -A). @default none */
  xattrs?: Record<number, Xattr[]>;
  rootXattrs?: Xattr[];
}

/** The sender's names of its ids, from a decoded manifest (empty when it sent none). */
export interface OwnerNames {
  users: Map<number, string>;
  groups: Map<number, string>;
}

export class PathError extends Error {
  readonly code = "BAD_PATH";
  constructor(message: string) {
    super(message);
    this.name = "PathError";
  }
}

/** A manifest over MAX_ENTRIES: a daemon answers RESOURCE_EXHAUSTED, naming the cap. */
export class ManifestLimitError extends Error {
  readonly code = "TOO_LARGE";
  constructor(message: string) {
    super(message);
    this.name = "ManifestLimitError";
  }
}

/**
 * Why `rel` is not a safe relative path, or undefined when it is. `allowEmpty` accepts "" (the
 * root). Refused: absolute paths, `..` and `.` components, empty components, NUL, backslashes,
 * drive letters (`C:`), UNC prefixes (`\\server`), over-long names, and blit's temporary names.
 */
export function unsafePathReason(rel: string, allowEmpty = false): string | undefined {
  if (rel === "") return allowEmpty ? undefined : "empty path";
  if (rel.includes("\0")) return "contains a NUL byte";
  if (rel.includes("\\")) return "contains a backslash";
  if (rel.startsWith("/")) return "is absolute";
  if (/^[A-Za-z]:/.test(rel)) return "starts with a drive letter";
  if (byteLengthOfName(rel) > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
  for (const part of rel.split("/")) {
    if (part === "") return "has an empty component";
    if (part === "..") return "contains '..'";
    if (part === ".") return "contains '.'";
    if (part.length > MAX_NAME_BYTES || byteLengthOfName(part) > MAX_NAME_BYTES) return `has a name longer than ${MAX_NAME_BYTES} bytes`;
    if (part.startsWith(TEMP_PREFIX)) return "names a blit temporary file";
  }
  return undefined;
}

/** Throws PathError unless `rel` is a safe relative path. */
export function checkPath(rel: string, what: string, allowEmpty = false): string {
  const why = unsafePathReason(rel, allowEmpty);
  if (why) throw new PathError(`${what} '${printable(rel)}' refused: ${why}`);
  return rel;
}

/**
 * A path or peer text as it can be shown in a message: control characters and undecodable
 * bytes escaped (ffi displayName), length capped.
 */
export function printable(s: string): string {
  const t = displayName(s);
  return t.length > 200 ? t.slice(0, 200) + "…" : t;
}

/** The manifest of tree `t`; `extras` says which optional fields it carries. */
export function encodeManifest(t: Tree, singleFile = false, extras: ManifestExtras = {}): ManifestMsg {
  const n = t.paths.length;
  const sizes = new Float64Array(n);
  const modes = new Uint16Array(n);
  const mtimeSec = new Float64Array(n);
  const mtimeNsec = new Uint32Array(n);
  const types = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    types[i] = t.types[i]!;
    sizes[i] = t.sizes[i]!;
    modes[i] = t.modes[i]!;
    mtimeSec[i] = t.mtimeSec[i]!;
    mtimeNsec[i] = t.mtimeNsec[i]!;
  }
  const links = Object.entries(t.links).map(([k, v]) =>
    hasEscapedBytes(v) ? { index: Number(k), target: displayName(v), target_bytes: bytesOfName(v) } : { index: Number(k), target: v },
  );
  return {
    count: n,
    paths: bytesOfName(t.paths.join("\0")),
    types,
    sizes: new Uint8Array(sizes.buffer),
    modes: new Uint8Array(modes.buffer),
    mtime_sec: new Uint8Array(mtimeSec.buffer),
    mtime_nsec: new Uint8Array(mtimeNsec.buffer),
    links,
    single_file: singleFile,
    root_mode: t.rootMode,
    root_mtime_sec: t.rootMtimeSec,
    root_mtime_nsec: t.rootMtimeNsec,
    ...(extras.hardLinks ? { link_group: linkGroups(t) } : {}),
    ...ownerFields(t, extras),
    ...(extras.xattrs || extras.rootXattrs ? { xattrs: xattrList(n, extras.xattrs ?? {}, extras.rootXattrs) } : {}),
    ...(t.specials ? { specials: specialList(t.specials) } : {}),
  };
}

function ownerFields(t: Tree, x: ManifestExtras): Partial<ManifestMsg> {
  const out: Partial<ManifestMsg> = {};
  const n = t.paths.length;
  const column = (ids: ArrayLike<number> | undefined, root: number | undefined, nameOf: (id: number) => string | undefined) => {
    const col = new Uint32Array(n);
    const names = new Map<number, string>();
    const note = (id: number) => {
      if (x.numericIds || names.has(id) || names.size >= MAX_ID_NAMES) return;
      const name = nameOf(id);
      if (name !== undefined && Buffer.byteLength(name) <= MAX_ID_NAME_BYTES) names.set(id, name);
    };
    for (let i = 0; i < n; i++) {
      col[i] = (ids?.[i] ?? 0) >>> 0;
      note(col[i]!);
    }
    if (root !== undefined) note(root >>> 0);
    return { bytes: new Uint8Array(col.buffer), names: [...names].map(([id, name]) => ({ id, name })) };
  };
  if (x.owner && t.uid) {
    const c = column(t.uid, t.rootUid, userName);
    out.uids = c.bytes;
    out.user_names = c.names;
    out.root_uid = (t.rootUid ?? 0) >>> 0;
  }
  if (x.group && t.gid) {
    const c = column(t.gid, t.rootGid, groupName);
    out.gids = c.bytes;
    out.group_names = c.names;
    out.root_gid = (t.rootGid ?? 0) >>> 0;
  }
  return out;
}

function xattrList(n: number, byIndex: Record<number, Xattr[]>, root: Xattr[] | undefined): NonNullable<ManifestMsg["xattrs"]> {
  const out: NonNullable<ManifestMsg["xattrs"]> = [];
  for (const [k, list] of Object.entries(byIndex)) for (const a of list) out.push({ index: Number(k), name: a.name, value: a.value });
  for (const a of root ?? []) out.push({ index: n, name: a.name, value: a.value });
  return out;
}

function specialList(specials: NonNullable<Tree["specials"]>): NonNullable<ManifestMsg["specials"]> {
  return Object.entries(specials).map(([k, s]) => {
    const { major, minor } = splitDev(s.rdev);
    return { index: Number(k), kind: s.kind, major, minor };
  });
}

/** Per entry, 0 or the 1-based index of the first file of its inode (files with nlink > 1 only). */
function linkGroups(t: Tree): Uint8Array {
  const n = t.paths.length;
  const groups = new Uint32Array(n);
  if (t.ino && t.nlink) {
    const first = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      if (t.types[i] !== T_FILE || t.nlink[i]! < 2) continue;
      const key = `${t.dev?.[i] ?? 0}:${t.ino[i]}`;
      let g = first.get(key);
      if (g === undefined) first.set(key, (g = i + 1));
      groups[i] = g;
    }
  }
  return new Uint8Array(groups.buffer);
}

/** Copies bytes into an aligned buffer so typed-array views can be made on it. */
function aligned(b: Uint8Array | undefined, bytesPer: number, n: number, what: string): ArrayBuffer {
  const len = b?.length ?? 0;
  if (len !== n * bytesPer) throw new PathError(`manifest column ${what} has ${len} bytes, expected ${n * bytesPer}`);
  const out = new ArrayBuffer(len);
  if (b) new Uint8Array(out).set(b);
  return out;
}

/**
 * Decodes and validates a peer's manifest into a Tree. Throws PathError on any unsafe path,
 * inconsistent column, a parent that is not a directory listed before its child, or a duplicate.
 */
export function decodeManifest(m: ManifestMsg | null | undefined): { tree: Tree; singleFile: boolean; names: OwnerNames } {
  if (!m) throw new PathError("manifest missing");
  const n = m.count >>> 0;
  if (n > MAX_ENTRIES) {
    throw new ManifestLimitError(`manifest has ${n.toLocaleString("en-US")} entries; at most ${MAX_ENTRIES.toLocaleString("en-US")} are accepted (MAX_ENTRIES): transfer the tree in parts`);
  }
  if (m.single_file && n !== 1) throw new PathError("single-file manifest must hold exactly one file");
  // NUL is never part of a multi-byte sequence, so decoding all paths at once equals decoding each.
  const joined = n === 0 ? "" : nameFromBytes(m.paths ?? new Uint8Array(0));
  const paths = n === 0 ? [] : joined.split("\0");
  if (paths.length !== n) throw new PathError(`manifest lists ${paths.length} paths, expected ${n}`);
  const types = new Uint8Array(aligned(m.types, 1, n, "types"));
  const sizes = new Float64Array(aligned(m.sizes, 8, n, "sizes"));
  const modes = new Uint16Array(aligned(m.modes, 2, n, "modes"));
  const mtimeSec = new Float64Array(aligned(m.mtime_sec, 8, n, "mtime_sec"));
  const mtimeNsec = new Uint32Array(aligned(m.mtime_nsec, 4, n, "mtime_nsec"));
  const singleFile = !!m.single_file;
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const p = paths[i]!;
    checkPath(p, "path");
    const t = types[i]!;
    if (t < T_FILE || t > T_OTHER) throw new PathError(`entry '${printable(p)}' has unknown type ${t}`);
    const s = sizes[i]!;
    if (!(s >= 0 && s <= Number.MAX_SAFE_INTEGER && Number.isInteger(s))) throw new PathError(`entry '${printable(p)}' has an invalid size`);
    if (!Number.isFinite(mtimeSec[i]!) || mtimeNsec[i]! > 999_999_999) throw new PathError(`entry '${printable(p)}' has an invalid mtime`);
    if (seen.has(p)) throw new PathError(`path '${printable(p)}' is listed twice`);
    const slash = p.lastIndexOf("/");
    if (slash >= 0) {
      const parent = seen.get(p.slice(0, slash));
      if (parent === undefined || types[parent] !== T_DIR) throw new PathError(`entry '${printable(p)}' comes without its parent directory`);
    }
    seen.set(p, i);
  }
  if (singleFile && (n !== 1 || types[0] !== T_FILE || paths[0]!.includes("/"))) throw new PathError("single-file manifest must hold exactly one file");
  const links: Record<number, string> = {};
  for (const l of m.links ?? []) {
    const i = l.index >>> 0;
    if (i >= n || types[i] !== T_LINK) throw new PathError(`link entry ${i} is not a symlink`);
    const raw = l.target_bytes;
    const target = raw && raw.length > 0 ? nameFromBytes(raw) : String(l.target ?? "");
    if (target === "" || target.includes("\0") || byteLengthOfName(target) > MAX_LINK_BYTES) throw new PathError(`symlink '${printable(paths[i]!)}' has an invalid target`);
    links[i] = target;
  }
  for (let i = 0; i < n; i++) if (types[i] === T_LINK && links[i] === undefined) throw new PathError(`symlink '${printable(paths[i]!)}' has no target`);
  const groups = m.link_group && m.link_group.length > 0 ? new Uint32Array(aligned(m.link_group, 4, n, "link_group")) : undefined;
  if (groups) {
    for (let i = 0; i < n; i++) {
      const g = groups[i]!;
      if (g !== 0 && (types[i] !== T_FILE || g > i + 1 || types[g - 1] !== T_FILE || sizes[g - 1] !== sizes[i])) {
        throw new PathError(`entry '${printable(paths[i]!)}' has an invalid hard-link group`);
      }
    }
  }
  const tree: Tree = {
    paths, types, sizes, modes, mtimeSec, mtimeNsec, links,
    // -H: the planner groups files by (dev, ino); a group number stands in for the inode.
    ...(groups ? { ino: BigUint64Array.from(groups, (g, i) => BigInt(g === 0 ? n + i + 1 : g)), nlink: Uint32Array.from(groups, (g) => (g === 0 ? 1 : 2)) } : {}),
    rootMode: (m.root_mode ?? 0) & 0o7777,
    rootMtimeSec: Number(m.root_mtime_sec ?? 0),
    rootMtimeNsec: Math.min(999_999_999, (m.root_mtime_nsec ?? 0) >>> 0),
    rootExists: true,
    errors: [],
    staleTemps: [],
  };
  const names = decodeOwners(m, tree, n);
  decodeXattrs(m, tree, n);
  decodeSpecials(m, tree, n, types);
  return { tree, singleFile, names };
}

/** The uids and gids columns (into tree.uid, tree.gid, root*) and the names of their ids. */
function decodeOwners(m: ManifestMsg, tree: Tree, n: number): OwnerNames {
  const table = (list: IdNameMsg[] | undefined, what: string): Map<number, string> => {
    const out = new Map<number, string>();
    if (!list) return out;
    if (list.length > MAX_ID_NAMES) throw new PathError(`manifest names ${list.length} ${what}s, more than ${MAX_ID_NAMES}`);
    for (const e of list) {
      const name = String(e.name ?? "");
      if (name === "" || name.includes("\0") || Buffer.byteLength(name) > MAX_ID_NAME_BYTES) throw new PathError(`manifest has an invalid ${what} name '${printable(name)}'`);
      out.set(e.id >>> 0, name);
    }
    return out;
  };
  if (m.uids && m.uids.length > 0) {
    tree.uid = new Uint32Array(aligned(m.uids, 4, n, "uids"));
    tree.rootUid = (m.root_uid ?? 0) >>> 0;
  }
  if (m.gids && m.gids.length > 0) {
    tree.gid = new Uint32Array(aligned(m.gids, 4, n, "gids"));
    tree.rootGid = (m.root_gid ?? 0) >>> 0;
  }
  return { users: table(m.user_names, "user"), groups: table(m.group_names, "group") };
}

/** The attributes, bounded in count, name, value, per-entry list and total. */
function decodeXattrs(m: ManifestMsg, tree: Tree, n: number): void {
  const list = m.xattrs;
  if (!list || list.length === 0) return;
  if (list.length > MAX_XATTRS) throw new PathError(`manifest has ${list.length} extended attributes, more than ${MAX_XATTRS}`);
  const byIndex: Record<number, Xattr[]> = {};
  const listBytes = new Map<number, number>();
  let total = 0;
  for (const a of list) {
    const i = a.index >>> 0;
    if (i > n) throw new PathError(`extended attribute for entry ${i}, which the manifest does not have`);
    const where = i === n ? "the root" : `'${printable(tree.paths[i]!)}'`;
    const name = String(a.name ?? "");
    const nameBytes = Buffer.byteLength(name);
    const value = a.value ?? new Uint8Array(0);
    if (name === "" || name.includes("\0") || nameBytes > MAX_XATTR_NAME_BYTES) throw new PathError(`${where} has an extended attribute with an invalid name '${printable(name)}'`);
    if (value.length > MAX_XATTR_VALUE_BYTES) throw new PathError(`${where}: extended attribute ${printable(name)} has ${value.length} bytes, more than ${MAX_XATTR_VALUE_BYTES}`);
    const used = (listBytes.get(i) ?? 0) + nameBytes + 1;
    if (used > MAX_XATTR_LIST_BYTES) throw new PathError(`${where} has more extended attributes than one file can hold (${MAX_XATTR_LIST_BYTES} bytes of names)`);
    listBytes.set(i, used);
    total += nameBytes + value.length;
    if (total > MAX_XATTR_TOTAL_BYTES) throw new PathError(`manifest's extended attributes exceed ${MAX_XATTR_TOTAL_BYTES} bytes`);
    const attrs = (byIndex[i] ??= []);
    if (attrs.some((x) => x.name === name)) throw new PathError(`${where} lists extended attribute ${printable(name)} twice`);
    // Copied: the message's bytes may be a view of a larger buffer.
    attrs.push({ name, value: new Uint8Array(value) });
  }
  const root = byIndex[n];
  delete byIndex[n];
  tree.xattrs = byIndex;
  if (root) tree.rootXattrs = root;
}

/** Which special file each type-4 entry is (entries without one are left out by the planner). */
function decodeSpecials(m: ManifestMsg, tree: Tree, n: number, types: Uint8Array): void {
  const list = m.specials;
  if (!list || list.length === 0) return;
  if (list.length > n) throw new PathError(`manifest lists ${list.length} special files for ${n} entries`);
  const out: NonNullable<Tree["specials"]> = {};
  for (const s of list) {
    const i = s.index >>> 0;
    if (i >= n || types[i] !== T_OTHER) throw new PathError(`special-file entry ${i} is not of type 'other'`);
    if (out[i]) throw new PathError(`special file '${printable(tree.paths[i]!)}' is listed twice`);
    const kind = String(s.kind) as SpecialKind;
    if (!SPECIAL_KINDS.includes(kind)) throw new PathError(`special file '${printable(tree.paths[i]!)}' has unknown kind '${printable(String(s.kind))}'`);
    out[i] = { kind, rdev: kind === "char" || kind === "block" ? makeDev(s.major >>> 0, s.minor >>> 0) : 0n };
  }
  tree.specials = out;
}
