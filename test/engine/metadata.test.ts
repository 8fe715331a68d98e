// What `blit copy` and `blit mirror` keep beyond content, mode and mtime: owners and groups (as
// root, by default), extended attributes (-X) and POSIX ACLs (-A), checked with getfattr/getfacl.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { diffR, filesUnder, isRoot, metaDiff, posixAcls, runCli, sh, skipNote, tempDirs, userXattrs, writeTree } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);
const noXattrs = skipNote(!userXattrs() || !posixAcls(), "blit -X -A tests", "os.tmpdir() takes no user.* attributes or POSIX ACLs (or the attr/acl tools are missing)");
const notRoot = skipNote(!isRoot, "owner tests", "keeping another user's owner needs root");
const NOBODY = Number(sh("id", ["-u", "nobody"]).trim());
const NOGROUP = Number(sh("getent", ["group", "nogroup"]).split(":")[2]);

const getfattr = (p: string) => sh("getfattr", ["-d", "-e", "hex", "-m", "^user\\.", "--absolute-names", p]).split("\n").filter((l) => l && !l.startsWith("#")).join("\n");
const getfacl = (p: string) => sh("getfacl", ["-c", "-p", "-n", p]).trim();
const ids = (p: string) => { const st = statSync(p); return [st.uid, st.gid]; };

/** A source tree of small and larger files in nested directories (several worker batches). */
function sourceTree(root: string) {
  writeTree(root, {
    "a.txt": "alpha\n",
    "big.bin": { size: 3 << 20 },
    "sub/b.txt": "beta\n",
    "sub/deeper/c.txt": "gamma\n",
    "plain.txt": "no metadata\n",
  });
}

describe.skipIf(noXattrs)("blit copy -X -A", () => {
  test("keeps user.* attributes and POSIX ACLs of every file; without the flags none arrive", async () => {
    const t = temps.make();
    const src = t.join("src");
    sourceTree(src);
    for (const f of ["a.txt", "big.bin", "sub/b.txt", "sub/deeper/c.txt"]) {
      sh("setfattr", ["-n", "user.origin", "-v", `from ${f}`, join(src, f)]);
      sh("setfattr", ["-n", "user.binary", "-v", "0x00ff", join(src, f)]);
    }
    chmodSync(join(src, "a.txt"), 0o640);
    sh("setfacl", ["-m", `u:${NOBODY}:rw,g:${NOGROUP}:r`, join(src, "a.txt")]);
    sh("setfacl", ["-m", `u:${NOBODY}:r`, join(src, "sub/deeper/c.txt")]);

    const kept = await runCli(["copy", "-X", "-A", src, t.join("dst"), "--json"], { home: t.home });
    expect(kept.exitCode).toBe(0);
    expect(kept.json.options).toMatchObject({ xattrs: true, acls: true });
    expect(diffR(src, t.join("dst")).exitCode).toBe(0);
    expect(metaDiff(src, t.join("dst"))).toEqual([]);
    for (const f of filesUnder(src)) {
      expect(`${f}: ${getfattr(t.join("dst", f))}`).toBe(`${f}: ${getfattr(join(src, f))}`);
      expect(`${f}: ${getfacl(t.join("dst", f))}`).toBe(`${f}: ${getfacl(join(src, f))}`);
    }
    expect(getfacl(t.join("dst", "a.txt"))).toContain(`user:${NOBODY}:rw-`);

    const plain = await runCli(["copy", src, t.join("plain"), "--json"], { home: t.home });
    expect(plain.exitCode).toBe(0);
    expect(plain.json.options).toMatchObject({ xattrs: false, acls: false });
    for (const f of filesUnder(src)) {
      expect(getfattr(t.join("plain", f))).toBe("");
      expect(getfacl(t.join("plain", f))).not.toContain(`user:${NOBODY}`);
    }
  });

  test("mirror --xattrs --acls keeps them too, and -X alone leaves ACLs out", async () => {
    const t = temps.make();
    const src = t.join("src");
    writeTree(src, { "f.txt": "x\n" });
    sh("setfattr", ["-n", "user.k", "-v", "v", join(src, "f.txt")]);
    sh("setfacl", ["-m", `u:${NOBODY}:rw`, join(src, "f.txt")]);
    const both = await runCli(["mirror", "--xattrs", "--acls", src, t.join("both")], { home: t.home });
    expect(both.exitCode).toBe(0);
    expect(getfattr(t.join("both", "f.txt"))).toBe(getfattr(join(src, "f.txt")));
    expect(getfacl(t.join("both", "f.txt"))).toBe(getfacl(join(src, "f.txt")));
    const xOnly = await runCli(["copy", "-X", src, t.join("x")], { home: t.home });
    expect(xOnly.exitCode).toBe(0);
    expect(getfattr(t.join("x", "f.txt"))).toBe(getfattr(join(src, "f.txt")));
    expect(getfacl(t.join("x", "f.txt"))).not.toContain(`user:${NOBODY}`);
  });

  test("a file whose content is unchanged gets the source's new, changed and removed attributes and ACLs on the next mirror", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "f.txt": "x\n", "sub/g.txt": "y\n", "same.txt": "z\n" });
    sh("setfattr", ["-n", "user.keep", "-v", "1", join(src, "f.txt")]);
    sh("setfattr", ["-n", "user.gone", "-v", "1", join(src, "sub/g.txt")]);
    sh("setfattr", ["-n", "user.same", "-v", "1", join(src, "same.txt")]);
    expect((await runCli(["mirror", "-X", "-A", src, dst], { home: t.home })).exitCode).toBe(0);
    // Attributes change without touching content or mtime (setfattr and setfacl move only ctime).
    sh("setfattr", ["-n", "user.keep", "-v", "2", join(src, "f.txt")]);
    sh("setfattr", ["-n", "user.new", "-v", "n", join(src, "f.txt")]);
    sh("setfattr", ["-x", "user.gone", join(src, "sub/g.txt")]);
    sh("setfacl", ["-m", `u:${NOBODY}:r`, join(src, "sub/g.txt")]);
    const r = await runCli(["mirror", "-X", "-A", "--json", src, dst], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout).counts.copied).toBe(0);
    for (const f of ["f.txt", "sub/g.txt", "same.txt"]) {
      expect(getfattr(join(dst, f))).toBe(getfattr(join(src, f)));
      expect(getfacl(join(dst, f))).toBe(getfacl(join(src, f)));
    }
    const check = await runCli(["check", "-X", "-A", src, dst], { home: t.home });
    expect(check.stdout).toContain("0 differ");
    expect(check.exitCode).toBe(0);
  });
});

describe.skipIf(notRoot)("owners and groups as root", () => {
  test("blit copy keeps a file owned by nobody:nogroup by default; --no-owner and --no-group opt out", async () => {
    const t = temps.make();
    const src = t.join("src");
    sourceTree(src);
    sh("chown", ["-R", `${NOBODY}:${NOGROUP}`, src]);
    sh("chown", ["0:0", join(src, "plain.txt")]);
    chmodSync(join(src, "a.txt"), 0o4755);

    const kept = await runCli(["copy", src, t.join("dst"), "--json"], { home: t.home });
    expect(kept.exitCode).toBe(0);
    expect(kept.json.options).toMatchObject({ owner: true, group: true });
    for (const f of filesUnder(src)) expect(`${f} ${ids(t.join("dst", f))}`).toBe(`${f} ${ids(join(src, f))}`);
    // The owner is set before the mode, so the setuid bit survives.
    expect(statSync(t.join("dst", "a.txt")).mode & 0o7777).toBe(0o4755);
    expect(metaDiff(src, t.join("dst"))).toEqual([]);

    const noOwner = await runCli(["copy", "--no-owner", src, t.join("no-owner"), "--json"], { home: t.home });
    expect(noOwner.exitCode).toBe(0);
    expect(noOwner.json.options).toMatchObject({ owner: false, group: true });
    expect(ids(t.join("no-owner", "sub/b.txt"))).toEqual([0, NOGROUP]);

    const neither = await runCli(["copy", "--no-owner", "--no-group", src, t.join("neither")], { home: t.home });
    expect(neither.exitCode).toBe(0);
    for (const f of filesUnder(src)) expect(`${f} ${ids(t.join("neither", f))}`).toBe(`${f} 0,0`);
  });

  test("a single file copied to a path keeps its owner; so does the portable backend", async () => {
    const t = temps.make();
    writeTree(t.path, { "one.txt": "1\n" });
    sh("chown", [`${NOBODY}:${NOGROUP}`, t.join("one.txt")]);
    const single = await runCli(["copy", t.join("one.txt"), t.join("copy.txt")], { home: t.home });
    expect(single.exitCode).toBe(0);
    expect(ids(t.join("copy.txt"))).toEqual([NOBODY, NOGROUP]);
    const portable = await runCli(["copy", t.join("one.txt"), t.join("portable.txt")], { home: t.home, env: { BLIT_BACKEND: "portable" } });
    expect(portable.exitCode).toBe(0);
    expect(ids(t.join("portable.txt"))).toEqual([NOBODY, NOGROUP]);
  });
});

describe.skipIf(notRoot)("as another user", () => {
  test("owners are not kept, and the summary says why", async () => {
    const t = temps.make();
    chmodSync(t.path, 0o755); // mkdtemp makes 0700; nobody must reach the subtree
    const world = t.join("world");
    mkdirSync(world);
    chmodSync(world, 0o777); // nobody creates dst and BLIT_HOME here
    writeTree(join(world, "src"), { "f.txt": "x\n" });
    sh("chown", ["0:0", join(world, "src", "f.txt")]);
    const asNobody = { home: join(world, "home"), asUser: { user: "nobody", group: "nogroup" } };
    const r = await runCli(["copy", join(world, "src"), join(world, "dst")], asNobody);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("owners and groups not kept: not running as root");
    expect(ids(join(world, "dst", "f.txt"))).toEqual([NOBODY, NOGROUP]);
    const json = await runCli(["copy", join(world, "src"), join(world, "dst2"), "--json"], asNobody);
    expect(json.json.options).toMatchObject({ owner: false, group: false });
  });

  test("as root with --no-owner --no-group the summary has no such line", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "f.txt": "x\n" });
    const r = await runCli(["copy", "--no-owner", "--no-group", t.join("src"), t.join("dst")], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).not.toContain("not kept");
  });
});

describe("the flags", () => {
  test("are listed by copy --help", async () => {
    const t = temps.make();
    const help = await runCli(["copy", "--help"], { home: t.home });
    for (const flag of ["-X, --xattrs", "-A, --acls", "--no-owner", "--no-group"]) expect(help.stdout).toContain(flag);
  });
});
