// FIFOs, sockets and device nodes made beneath a directory fd with mknodat.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, readlinkSync, statSync, symlinkSync, writeFileSync, readFileSync } from "node:fs";
import { makeDev, metadataPrivileges, openRooted, specialKind, splitDev, type RootedDir } from "../../ffi/index.ts";
import { skipNote, tempDirs } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);
const noMknod = skipNote(!metadataPrivileges().devices, "device node test", "creating device nodes needs root (CAP_MKNOD)");

/** Runs fn with a fresh directory as a RootedDir (the Linux implementation); returns the directory. */
function inDir(fn: (root: RootedDir, dir: string) => void): string {
  const dir = temps.make().join("d");
  mkdirSync(dir);
  const root = openRooted(dir);
  try {
    fn(root, dir);
  } finally {
    root.close();
  }
  return dir;
}

describe("special files", () => {
  test("a FIFO gets exactly the permission bits asked for, whatever the umask", () => {
    const dir = inDir((fd) => {
      fd.mknod("fifo", "fifo", 0o666);
      fd.mknod("private", "fifo", 0o600);
    });
    expect(lstatSync(`${dir}/fifo`).isFIFO()).toBe(true);
    expect(lstatSync(`${dir}/fifo`).mode & 0o7777).toBe(0o666);
    expect(lstatSync(`${dir}/private`).mode & 0o7777).toBe(0o600);
    expect(specialKind(lstatSync(`${dir}/fifo`).mode)).toBe("fifo");
  });

  test("a socket node is made without binding anything", () => {
    const dir = inDir((fd) => fd.mknod("sock", "socket", 0o755));
    expect(lstatSync(`${dir}/sock`).isSocket()).toBe(true);
    expect(lstatSync(`${dir}/sock`).mode & 0o7777).toBe(0o755);
    expect(specialKind(lstatSync(`${dir}/sock`).mode)).toBe("socket");
  });

  test("an existing name, a symlink included, is never followed or replaced (EEXIST)", () => {
    const dir = inDir((fd, d) => {
      writeFileSync(`${d}/target`, "keep");
      symlinkSync("target", `${d}/link`);
      expect(() => fd.mknod("link", "fifo", 0o644)).toThrow(expect.objectContaining({ code: "EEXIST" }));
      expect(() => fd.mknod("target", "fifo", 0o644)).toThrow(expect.objectContaining({ code: "EEXIST" }));
    });
    expect(readlinkSync(`${dir}/link`)).toBe("target");
    expect(readFileSync(`${dir}/target`, "utf8")).toBe("keep");
  });

  test("a dot-dot, a dot or an empty name is refused, and a missing directory on the way is not made: nodes are made beneath the root only", () => {
    const dir = inDir((fd) => {
      const cases: [string, string][] = [["../escape", "EXDEV"], ["..", "EXDEV"], [".", "EINVAL"], ["", "EINVAL"], ["a/b", "ENOENT"]];
      for (const [name, code] of cases) expect(() => fd.mknod(name, "fifo", 0o644)).toThrow(expect.objectContaining({ code }));
    });
    expect(spawnSync("ls", ["-A", dir], { encoding: "utf8" }).stdout).toBe("");
  });

  test("regular files, directories and symlinks are not special", () => {
    const dir = inDir((_, d) => writeFileSync(`${d}/f`, ""));
    expect(specialKind(lstatSync(`${dir}/f`).mode)).toBeUndefined();
    expect(specialKind(lstatSync(dir).mode)).toBeUndefined();
  });

  test("device numbers encode as glibc's makedev and decode back", () => {
    expect(makeDev(1, 3)).toBe(0x103n);
    expect(makeDev(8, 17)).toBe(0x811n);
    for (const [major, minor] of [[0, 0], [1, 3], [259, 65536], [4095, 255], [0xfffff, 0xfffff]] as const) {
      expect(splitDev(makeDev(major, minor))).toEqual({ major, minor });
    }
  });

  test.skipIf(noMknod)("a character device is made as root with its device number", () => {
    const dir = inDir((fd) => {
      fd.mknod("null", "char", 0o666, makeDev(1, 3));
      fd.mknod("blk", "block", 0o600, makeDev(7, 200));
    });
    const st = statSync(`${dir}/null`, { bigint: true });
    expect(lstatSync(`${dir}/null`).isCharacterDevice()).toBe(true);
    expect(splitDev(st.rdev)).toEqual({ major: 1, minor: 3 });
    expect(Number(st.mode & 0o7777n)).toBe(0o666);
    expect(lstatSync(`${dir}/blk`).isBlockDevice()).toBe(true);
    expect(splitDev(statSync(`${dir}/blk`, { bigint: true }).rdev)).toEqual({ major: 7, minor: 200 });
  });
});
