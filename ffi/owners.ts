// Owners and groups: reading them from an open fd, giving them to an fd or to an entry of a
// directory fd without following a symlink, and mapping ids to names and back (for a transfer
// between hosts whose ids differ; `--numeric-ids` skips the mapping).
import { ptr } from "bun:ffi";
import { readFileSync } from "node:fs";
import { AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, cstr, fail, libc } from "./libc.ts";

/** -1 as the kernel's "leave unchanged" (uid_t and gid_t are 32-bit). */
const UNCHANGED = 0xffffffff;
const id = (n: number | undefined) => (n === undefined || n < 0 ? UNCHANGED : n >>> 0);

/** STATX_UID | STATX_GID */
const STATX_OWNER = 0x8 | 0x10;
let statBuf: Uint8Array | undefined;

/** The owner and group of an open fd (any kind, O_PATH included). */
export function ownerOf(fd: number, what = `fd ${fd}`): { uid: number; gid: number } {
  const buf = (statBuf ??= new Uint8Array(new ArrayBuffer(256)));
  if (libc().statx(fd, ptr(cstr("")), AT_EMPTY_PATH, STATX_OWNER, ptr(buf)) < 0) fail("statx", what);
  const v = new DataView(buf.buffer);
  return { uid: v.getUint32(20, true), gid: v.getUint32(24, true) };
}

/**
 * Gives an open file or directory this owner and group; undefined (or -1) leaves one unchanged.
 * Call it before fchmod: a change of owner clears the setuid and setgid bits.
 */
export function fchown(fd: number, uid: number | undefined, gid: number | undefined, what = `fd ${fd}`): void {
  if (libc().fchown(fd, id(uid), id(gid)) < 0) fail("fchown", what);
}

/**
 * Gives the entry `name` of dirFd this owner and group, never following a symlink (a symlink
 * itself gets them). `name` is one component: nothing on the way can be swapped for a link.
 */
export function chownAt(dirFd: number, name: string, uid: number | undefined, gid: number | undefined): void {
  if (libc().fchownat(dirFd, ptr(cstr(name)), id(uid), id(gid), AT_SYMLINK_NOFOLLOW) < 0) fail("fchownat", name);
}

/** fchown for an O_PATH fd (which fchown refuses): the entry it holds, a symlink itself included. */
export function chownPathFd(pathFd: number, uid: number | undefined, gid: number | undefined, what = `fd ${pathFd}`): void {
  if (libc().fchownat(pathFd, ptr(cstr("")), id(uid), id(gid), AT_EMPTY_PATH) < 0) fail("fchownat", what);
}

/** Ids and names of one database (/etc/passwd or /etc/group). */
export interface IdNames {
  byId: ReadonlyMap<number, string>;
  byName: ReadonlyMap<string, number>;
}

/** Parses passwd(5) or group(5) text: `name:x:id:...` per line; the first entry of an id or name wins. */
export function parseIdFile(text: string): IdNames {
  const byId = new Map<number, string>();
  const byName = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const [name, , idText] = line.split(":");
    if (!name || idText === undefined || !/^\d+$/.test(idText)) continue;
    const n = Number(idText);
    if (!byId.has(n)) byId.set(n, name);
    if (!byName.has(name)) byName.set(name, n);
  }
  return { byId, byName };
}

// Read once per thread: the files change rarely, and a run maps thousands of ids. Users only
// known to NSS (LDAP, sssd) are not in these files; they travel by number.
let users: IdNames | undefined;
let groups: IdNames | undefined;
function load(path: string): IdNames {
  try {
    return parseIdFile(readFileSync(path, "utf8"));
  } catch {
    return { byId: new Map(), byName: new Map() };
  }
}
const userDb = () => (users ??= load("/etc/passwd"));
const groupDb = () => (groups ??= load("/etc/group"));

/** The user name of `uid` in /etc/passwd, or undefined. */
export function userName(uid: number): string | undefined {
  return userDb().byId.get(uid);
}

/** The uid of the user `name` in /etc/passwd, or undefined. */
export function uidOf(name: string): number | undefined {
  return userDb().byName.get(name);
}

/** The group name of `gid` in /etc/group, or undefined. */
export function groupName(gid: number): string | undefined {
  return groupDb().byId.get(gid);
}

/** The gid of the group `name` in /etc/group, or undefined. */
export function gidOf(name: string): number | undefined {
  return groupDb().byName.get(name);
}
