// The portable directory reader: node:fs with Buffer paths, so names that are not UTF-8 survive.
// It checks with lstat before it descends, which refuses a symlink seen at that moment but is
// not race-free: a swap between the check and the listing is followed. The Linux reader is.
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, statSync, type BigIntStats } from "node:fs";
import { specialKind } from "./specials.ts";
import type { DirHandle, DirReader, EntryStat } from "./dir-reader.ts";
import { fsPath, nameFromBytes } from "./name-bytes.ts";
import { toFsError } from "./portable.ts";
import { FsError } from "./types.ts";
import { describeCode } from "./errno.ts";

function toEntry(st: BigIntStats): EntryStat {
  return {
    type: st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other",
    size: Number(st.size),
    mode: Number(st.mode) & 0o7777,
    mtimeSec: Number(st.mtimeNs / 1_000_000_000n),
    mtimeNsec: Number(st.mtimeNs % 1_000_000_000n),
    dev: Number(st.dev),
    ino: st.ino,
    nlink: Number(st.nlink),
    uid: Number(st.uid),
    gid: Number(st.gid),
    blocks: Number(st.blocks),
    ...specialOf(st),
  };
}

function specialOf(st: BigIntStats): Pick<EntryStat, "special"> {
  const kind = specialKind(Number(st.mode));
  return kind ? { special: { kind, rdev: kind === "char" || kind === "block" ? st.rdev : 0n } } : {};
}

function lstatOf(path: string, label: string): EntryStat {
  try {
    return toEntry(lstatSync(fsPath(path), { bigint: true }));
  } catch (err) {
    throw toFsError(err, "lstat", label);
  }
}

class PortableDir implements DirHandle {
  /** `path` is what node:fs opens; `label` the path relative to the walk's root, for errors. */
  constructor(private readonly path: string, private readonly label: string, private readonly follow = false) {}

  private abs(name: string): string {
    return this.path.endsWith("/") ? this.path + name : `${this.path}/${name}`;
  }
  private entry(name: string): string {
    return this.label === "" ? name : `${this.label}/${name}`;
  }

  names(): string[] {
    try {
      return readdirSync(fsPath(this.path), { encoding: "buffer" }).map((b) => nameFromBytes(b));
    } catch (err) {
      throw toFsError(err, "scandir", this.label || ".");
    }
  }

  stat(name: string): EntryStat {
    return lstatOf(this.abs(name), this.entry(name));
  }

  readlink(name: string): string {
    try {
      return nameFromBytes(readlinkSync(fsPath(this.abs(name)), { encoding: "buffer" }));
    } catch (err) {
      throw toFsError(err, "readlink", this.entry(name));
    }
  }

  openDir(name: string): DirHandle {
    const st = this.stat(name);
    if (st.type !== "dir") refuse(st, this.entry(name));
    return new PortableDir(this.abs(name), this.entry(name));
  }

  readFile(name: string, max: number): Uint8Array {
    let fd: number;
    try {
      fd = openSync(fsPath(this.abs(name)), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
    } catch (err) {
      throw toFsError(err, "open", this.entry(name));
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new FsError("NOT_REGULAR", "open", this.entry(name), "not a regular file");
      const out = Buffer.alloc(max + 1);
      let n = 0;
      for (let got = 1; got > 0 && n <= max; n += got) got = readSync(fd, out, n, out.length - n, null);
      if (n > max) throw new FsError("EFBIG", "read", this.entry(name), `larger than ${max} bytes`);
      return new Uint8Array(out.subarray(0, n));
    } catch (err) {
      throw err instanceof FsError ? err : toFsError(err, "read", this.entry(name));
    } finally {
      closeSync(fd);
    }
  }

  self(): EntryStat {
    if (!this.follow) return lstatOf(this.path, this.label || ".");
    try {
      return toEntry(statSync(fsPath(this.path), { bigint: true }));
    } catch (err) {
      throw toFsError(err, "stat", ".");
    }
  }

  close(): void {}
}

/** What Linux's open(O_DIRECTORY|O_NOFOLLOW) of a non-directory, a symlink included, fails with. */
function refuse(_st: EntryStat, label: string): never {
  throw new FsError("ENOTDIR", "open", label, describeCode("ENOTDIR"));
}

export function createPortableDirReader(): DirReader {
  return {
    name: "portable",
    open(path: string): DirHandle {
      const st = lstatOf(path, path);
      if (st.type !== "dir") refuse(st, path);
      return new PortableDir(path, "");
    },
    fromFd(fd: number): DirHandle {
      const dir = new PortableDir(process.platform === "linux" ? `/proc/self/fd/${fd}` : `/dev/fd/${fd}`, "", true);
      const st = dir.self();
      if (st.type !== "dir") refuse(st, ".");
      return dir;
    },
  };
}
