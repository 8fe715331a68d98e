// The Linux backend's copyFile keeps owner, group, extended attributes and ACLs when asked, and
// gives them to the temporary before it appears under its final name.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { createLinuxBackend, ownerOf, readXattrs, type FileMeta } from "../../ffi/index.ts";
import { isRoot, posixAcls, sh, skipNote, tempDirs, userXattrs } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);
const notLinux = skipNote(process.platform !== "linux", "Linux backend tests", "not Linux");
const noXattrs = notLinux || skipNote(!userXattrs(), "copyFile xattr tests", "os.tmpdir() takes no user.* attributes (or setfattr is missing)");
const noAcls = notLinux || skipNote(!posixAcls(), "copyFile ACL tests", "os.tmpdir() takes no POSIX ACLs (or setfacl is missing)");
const notRoot = notLinux || skipNote(!isRoot, "copyFile owner tests", "giving files another owner needs root");
const NOBODY = 65534;

function metaOf(path: string): FileMeta {
  const st = statSync(path, { bigint: true });
  return { size: Number(st.size), mode: Number(st.mode & 0o7777n), mtimeSec: Number(st.mtimeNs / 1_000_000_000n), mtimeNsec: Number(st.mtimeNs % 1_000_000_000n) };
}

/** A src/dst pair of directories with one source file `f` holding `content`. */
function pair(content = "data") {
  const t = temps.make();
  mkdirSync(t.join("src"));
  mkdirSync(t.join("dst"));
  const src = t.join("src", "f");
  writeFileSync(src, content);
  return { src, dst: t.join("dst", "f"), dstDir: t.join("dst") };
}

const getfacl = (p: string) => sh("getfacl", ["-c", "-p", "-n", p]).trim();
const getfattr = (p: string) => sh("getfattr", ["-d", "-e", "hex", "-m", "^user\\.", "--absolute-names", p]).split("\n").filter((l) => l && !l.startsWith("#")).join("\n");

describe.skipIf(noXattrs)("copyFile with keep.xattrs", () => {
  test("user.* attributes arrive; without keep none do", () => {
    const { src, dst } = pair();
    sh("setfattr", ["-n", "user.a", "-v", "1", src]);
    sh("setfattr", ["-n", "user.bin", "-v", "0x00ff00", src]);
    const fs = createLinuxBackend();
    fs.copyFile(src, dst, metaOf(src), { keep: { xattrs: true } });
    expect(getfattr(dst)).toBe(getfattr(src));
    fs.copyFile(src, `${dst}2`, metaOf(src));
    expect(getfattr(`${dst}2`)).toBe("");
    fs.closeCache();
  });

  test("attributes given in FileMeta are applied as given (e.g. from a manifest)", () => {
    const { src, dst } = pair();
    const fs = createLinuxBackend();
    fs.copyFile(src, dst, { ...metaOf(src), xattrs: [{ name: "user.from-wire", value: new TextEncoder().encode("v") }] });
    expect(sh("getfattr", ["-n", "user.from-wire", "--only-values", dst])).toBe("v");
    fs.closeCache();
  });

  test("metadata is on the temporary before it is linked in; a failure there leaves no file and no temporary", () => {
    const { src, dst, dstDir } = pair();
    sh("setfattr", ["-n", "user.a", "-v", "1", src]);
    const fs = createLinuxBackend();
    let seen: string[] = [];
    fs.copyFile(src, dst, metaOf(src), {
      keep: { xattrs: true },
      beforeLink: (fd) => {
        expect(existsSync(dst)).toBe(false);
        seen = readXattrs(fd).map((a) => a.name);
      },
    });
    expect(seen).toContain("user.a");
    expect(() =>
      fs.copyFile(src, `${dst}-failed`, metaOf(src), { beforeLink: () => { throw Object.assign(new Error("refused"), { code: "EIO" }); } }),
    ).toThrow("refused");
    expect(readdirSync(dstDir).sort()).toEqual(["f"]);
    fs.closeCache();
  });
});

describe.skipIf(notLinux)("copyFile when metadata cannot be applied", () => {
  test("an attribute the destination refuses fails the copy, naming the destination: no file, no temporary", () => {
    const { src, dst, dstDir } = pair();
    const fs = createLinuxBackend();
    let error: unknown;
    try {
      fs.copyFile(src, dst, { ...metaOf(src), xattrs: [{ name: "nonsense.x", value: new Uint8Array([1]) }] });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "EOPNOTSUPP", path: dst });
    expect(readdirSync(dstDir)).toEqual([]);
    fs.closeCache();
  });
});

describe.skipIf(noAcls)("copyFile with keep.acls", () => {
  test("a POSIX ACL arrives (getfacl shows the same ACL) and the mode stays the source's", () => {
    const { src, dst } = pair();
    chmodSync(src, 0o640);
    sh("setfacl", ["-m", "u:65534:rw,g:65534:r", src]);
    const fs = createLinuxBackend();
    fs.copyFile(src, dst, metaOf(src), { keep: { acls: true } });
    expect(getfacl(dst)).toBe(getfacl(src));
    expect(statSync(dst).mode & 0o7777).toBe(statSync(src).mode & 0o7777);
    fs.closeCache();
  });

  test("an ACL the destination directory would pass on is not left when the source has none", () => {
    const { src, dst, dstDir } = pair();
    chmodSync(src, 0o600);
    sh("setfacl", ["-d", "-m", "u:65534:rwx", dstDir]);
    const fs = createLinuxBackend();
    fs.copyFile(src, dst, metaOf(src), { keep: { acls: true } });
    expect(getfacl(dst)).toBe(getfacl(src));
    expect(statSync(dst).mode & 0o7777).toBe(0o600);
    // Not asked to keep ACLs: the inherited one stays, as for any new file there.
    fs.copyFile(src, `${dst}2`, metaOf(src));
    expect(getfacl(`${dst}2`)).toContain("user:65534:rwx");
    fs.closeCache();
  });
});

describe.skipIf(notRoot)("copyFile with keep.owner and keep.group as root", () => {
  test("another user's file keeps its owner, group and setuid bit", () => {
    const { src, dst } = pair();
    sh("chown", [`${NOBODY}:${NOBODY}`, src]);
    chmodSync(src, 0o4755);
    const fs = createLinuxBackend();
    let owner: { uid: number; gid: number } | undefined;
    fs.copyFile(src, dst, metaOf(src), { keep: { owner: true, group: true }, beforeLink: (fd) => (owner = ownerOf(fd)) });
    expect(owner).toEqual({ uid: NOBODY, gid: NOBODY });
    const st = statSync(dst);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([NOBODY, NOBODY, 0o4755]);
    fs.closeCache();
  });

  test("group only, owner only, neither", () => {
    const { src, dst } = pair();
    sh("chown", [`${NOBODY}:${NOBODY}`, src]);
    const fs = createLinuxBackend();
    const ids = (p: string) => [statSync(p).uid, statSync(p).gid];
    fs.copyFile(src, `${dst}-g`, metaOf(src), { keep: { group: true } });
    fs.copyFile(src, `${dst}-o`, metaOf(src), { keep: { owner: true } });
    fs.copyFile(src, `${dst}-none`, metaOf(src));
    fs.copyFile(src, `${dst}-given`, { ...metaOf(src), uid: 1, gid: 2 });
    expect(ids(`${dst}-g`)).toEqual([0, NOBODY]);
    expect(ids(`${dst}-o`)).toEqual([NOBODY, 0]);
    expect(ids(`${dst}-none`)).toEqual([0, 0]);
    expect(ids(`${dst}-given`)).toEqual([1, 2]);
    fs.closeCache();
  });
});
