// Extended attributes and POSIX ACLs through bun:ffi, checked against getfattr and getfacl.
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, symlinkSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import {
  ACL_ACCESS, ACL_DEFAULT, listXattrs, metadataPrivileges, readXattrs, readXattrsAt,
  sameXattrs, writeXattrs, writeXattrsAt, xattrSelected, type Xattr,
} from "../../ffi/index.ts";
import { closeRootFd, isRoot, openRootFd, posixAcls, sh, skipNote, tempDirs, userXattrs } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const noXattrs = skipNote(!userXattrs(), "xattr tests", "os.tmpdir() takes no user.* attributes (or setfattr/getfattr are missing)");
const noAcls = skipNote(!posixAcls(), "ACL tests", "os.tmpdir() takes no POSIX ACLs (or setfacl/getfacl are missing)");
const enc = (s: string) => new TextEncoder().encode(s);
const bytes = (...b: number[]) => new Uint8Array(b);

/** getfattr's dump of one entry, hex values, without its "# file:" header. */
function getfattr(path: string, pattern = "-", noDeref = false): string {
  return sh("getfattr", [...(noDeref ? ["-h"] : []), "-d", "-e", "hex", "-m", pattern, "--absolute-names", path]).split("\n").filter((l) => l && !l.startsWith("#")).sort().join("\n");
}

/** getfacl's entries (access, or default with -d) without the header lines. */
function getfacl(path: string, defaults = false): string {
  return sh("getfacl", ["-c", "-p", "-n", ...(defaults ? ["-d"] : []), path]).trim();
}

/** Runs fn with a fd open on `path` (read-write for a file, read-only for a directory). */
function withFd<T>(path: string, fn: (fd: number) => T, flags = "r+"): T {
  const fd = openSync(path, flags);
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(noXattrs)("extended attributes of an open file", () => {
  test("written attributes are what getfattr shows, binary and empty values included", () => {
    const f = temps.make().join("f");
    writeFileSync(f, "data");
    const attrs: Xattr[] = [
      { name: "user.text", value: enc("héllo") },
      { name: "user.binary", value: bytes(0, 1, 255, 0) },
      { name: "user.empty", value: bytes() },
    ];
    withFd(f, (fd) => writeXattrs(fd, attrs));
    expect(getfattr(f, "^user\\.")).toBe(["user.binary=0x0001ff00", "user.empty=0x", `user.text=0x${Buffer.from("héllo").toString("hex")}`].join("\n"));
    withFd(f, (fd) => {
      expect(listXattrs(fd).sort()).toEqual(["user.binary", "user.empty", "user.text"]);
      const back = readXattrs(fd, { xattrs: true, acls: false });
      expect(sameXattrs(back, attrs)).toBe(true);
    });
  });

  test("attributes set by setfattr are read back, and the result survives structured cloning", () => {
    const f = temps.make().join("f");
    writeFileSync(f, "");
    sh("setfattr", ["-n", "user.mime_type", "-v", "text/plain", f]);
    const attrs = withFd(f, (fd) => readXattrs(fd), "r");
    expect(attrs).toEqual([{ name: "user.mime_type", value: enc("text/plain") }]);
    // Posted between threads and later encoded on a wire: plain names and byte arrays.
    expect(structuredClone(attrs)).toEqual(attrs);
  });

  test("a file without attributes reads as an empty list", () => {
    const f = temps.make().join("f");
    writeFileSync(f, "");
    withFd(f, (fd) => {
      expect(listXattrs(fd).filter((n) => n.startsWith("user."))).toEqual([]);
      expect(readXattrs(fd, { xattrs: true, acls: true })).toEqual([]);
    });
  });

  test("with a selection, writing makes the kinds it covers exact and leaves the others", () => {
    const f = temps.make().join("f");
    writeFileSync(f, "");
    sh("setfattr", ["-n", "user.stale", "-v", "old", f]);
    sh("setfattr", ["-n", "user.kept", "-v", "old", f]);
    withFd(f, (fd) => writeXattrs(fd, [{ name: "user.kept", value: enc("new") }], { xattrs: true, acls: false }));
    expect(getfattr(f, "^user\\.")).toBe(`user.kept=0x${Buffer.from("new").toString("hex")}`);
  });

  test("an attribute the filesystem refuses fails with its code", () => {
    const f = temps.make().join("f");
    writeFileSync(f, "");
    // No such namespace: the kernel answers EOPNOTSUPP.
    expect(() => withFd(f, (fd) => writeXattrs(fd, [{ name: "nonsense.x", value: enc("1") }]))).toThrow(
      expect.objectContaining({ code: "EOPNOTSUPP" }),
    );
  });
});

describe("which attributes a selection keeps", () => {
  test("-X keeps user.*, -A the two ACLs; trusted.* and security.* need privilege; other system.* never", () => {
    const x = { xattrs: true, acls: false, privileged: false };
    const a = { xattrs: false, acls: true, privileged: false };
    expect(xattrSelected("user.a", x)).toBe(true);
    expect(xattrSelected("user.a", a)).toBe(false);
    expect(xattrSelected(ACL_ACCESS, a)).toBe(true);
    expect(xattrSelected(ACL_DEFAULT, a)).toBe(true);
    expect(xattrSelected(ACL_ACCESS, x)).toBe(false);
    expect(xattrSelected("trusted.a", x)).toBe(false);
    expect(xattrSelected("trusted.a", { ...x, privileged: true })).toBe(true);
    expect(xattrSelected("security.selinux", { ...x, privileged: true })).toBe(true);
    expect(xattrSelected("system.nfs4_acl", { xattrs: true, acls: true, privileged: true })).toBe(false);
    // Left out, privilege is what this process has.
    expect(xattrSelected("trusted.a", { xattrs: true, acls: false })).toBe(metadataPrivileges().systemXattrs);
  });
});

describe.skipIf(noAcls)("POSIX ACLs as the system.posix_acl_* attributes", () => {
  test("an access ACL copied as raw attributes is the same ACL for getfacl", () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeFileSync(src, "");
    writeFileSync(dst, "");
    sh("setfacl", ["-m", "u:65534:rw,g:65534:r,m:rw", src]);
    const acl = withFd(src, (fd) => readXattrs(fd, { xattrs: false, acls: true }), "r");
    expect(acl.map((a) => a.name)).toEqual([ACL_ACCESS]);
    withFd(dst, (fd) => writeXattrs(fd, acl, { xattrs: false, acls: true }));
    expect(getfacl(dst)).toBe(getfacl(src));
    expect(getfacl(dst)).toContain("user:65534:rw-");
  });

  test("a directory's default ACL is copied through a directory fd", () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    mkdirSync(src);
    mkdirSync(dst);
    sh("setfacl", ["-m", "u:65534:rwx", "-d", "-m", "u:65534:rx,g::r", src]);
    const dirFd = (p: string) => openRootFd(p);
    const s = dirFd(src);
    const d = dirFd(dst);
    try {
      const acl = readXattrs(s, { xattrs: false, acls: true });
      expect(acl.map((a) => a.name).sort()).toEqual([ACL_ACCESS, ACL_DEFAULT]);
      writeXattrs(d, acl, { xattrs: false, acls: true });
    } finally {
      closeRootFd(s);
      closeRootFd(d);
    }
    expect(getfacl(dst)).toBe(getfacl(src));
    expect(getfacl(dst, true)).toBe(getfacl(src, true));
    expect(getfacl(dst, true)).toContain("user:65534:r-x");
  });

  test("an ACL inherited from the directory is removed when the selection keeps ACLs and the source has none", () => {
    const t = temps.make();
    const dir = t.join("dir");
    mkdirSync(dir);
    sh("setfacl", ["-d", "-m", "u:65534:rw", dir]);
    const f = `${dir}/f`;
    writeFileSync(f, "");
    expect(getfacl(f)).toContain("user:65534:rw-");
    withFd(f, (fd) => writeXattrs(fd, [], { xattrs: false, acls: true }));
    expect(getfacl(f)).not.toContain("user:65534");
  });
});

describe.skipIf(noXattrs)("attributes of an entry named in a directory fd", () => {
  test("a symlink is never followed: reading and writing act on the link itself", () => {
    const t = temps.make();
    const dir = t.join("d");
    mkdirSync(dir);
    writeFileSync(`${dir}/target`, "");
    symlinkSync("target", `${dir}/link`);
    sh("setfattr", ["-n", "user.on-target", "-v", "1", `${dir}/target`]);
    const fd = openRootFd(dir);
    try {
      expect(readXattrsAt(fd, "link", { xattrs: true, acls: true }).map((a) => a.name)).not.toContain("user.on-target");
      expect(readXattrsAt(fd, "target", { xattrs: true, acls: true }).map((a) => a.name)).toEqual(["user.on-target"]);
      // user.* is refused on a symlink (EPERM): the call reached the link, not its target.
      expect(() => writeXattrsAt(fd, "link", [{ name: "user.x", value: enc("1") }])).toThrow(expect.objectContaining({ code: "EPERM" }));
      if (isRoot) {
        writeXattrsAt(fd, "link", [{ name: "trusted.blit", value: enc("on-link") }]);
        expect(getfattr(`${dir}/link`, "^trusted\\.", true)).toBe(`trusted.blit=0x${Buffer.from("on-link").toString("hex")}`);
        expect(getfattr(`${dir}/target`, "^trusted\\.")).toBe("");
        expect(readXattrsAt(fd, "link", { xattrs: true, acls: false, privileged: true })).toEqual([{ name: "trusted.blit", value: enc("on-link") }]);
      }
    } finally {
      closeRootFd(fd);
    }
  });

  test("a FIFO is read without being opened for reading (no block) and a directory's attributes are written by name", () => {
    const t = temps.make();
    const dir = t.join("d");
    mkdirSync(`${dir}/sub`, { recursive: true });
    expect(spawnSync("mkfifo", [`${dir}/fifo`]).status).toBe(0);
    const fd = openRootFd(dir);
    try {
      expect(readXattrsAt(fd, "fifo", { xattrs: true, acls: true })).toEqual([]);
      writeXattrsAt(fd, "sub", [{ name: "user.dir", value: enc("yes") }]);
    } finally {
      closeRootFd(fd);
    }
    expect(getfattr(`${dir}/sub`, "^user\\.")).toBe(`user.dir=0x${Buffer.from("yes").toString("hex")}`);
  });

  test("a missing entry fails with ENOENT", () => {
    const fd = openRootFd(temps.make().path);
    try {
      expect(() => readXattrsAt(fd, "nope")).toThrow(expect.objectContaining({ code: "ENOENT" }));
    } finally {
      closeRootFd(fd);
    }
  });
});
