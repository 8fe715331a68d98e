// What a copy and a mirror produce, checked the way a user would: `diff -r`, then the mode and
// nanosecond mtime of every entry, then the --json report of a second run.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readdirSync, readlinkSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  blitTemps, diffR, metaDiff, MiB, mtimeNs, runCli, setMtime, setMtimeNs, tempDirs, writeTree, type TreeSpec,
} from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

/** Everything a copy must carry over, with odd nanosecond mtimes on files, links and dirs. */
function richTree(absTarget: string): TreeSpec {
  return {
    "top.txt": { content: "top\n", mtime: "2020-01-02 03:04:05.123456789" },
    "nested/a/b/c/deep.txt": { content: "deep\n", mtime: "2019-05-06 07:08:09.987654321" },
    "nested/a/sibling.bin": { size: 70_000, mtime: "2018-01-01 00:00:00.000000001" },
    "empty-dir/": { dir: true, mtime: "2017-03-04 05:06:07.111111111" },
    "nested/empty-inner/": { dir: true, mode: 0o700, mtime: "2016-02-03 04:05:06.222222222" },
    "empty-file": { content: "", mtime: "2021-06-07 08:09:10.333333333" },
    "big/twenty-mib.bin": { size: 20 * MiB, mtime: "2022-07-08 09:10:11.444444444" },
    "with spaces/a file with spaces.txt": { content: "spaces\n", mtime: "2015-01-01 01:01:01.555555555" },
    "ünïcödé/日本語-ファイル.txt": { content: "unicode ✓\n", mtime: "2014-12-31 23:59:59.999999999" },
    "odd/line\nbreak.txt": { content: "newline in the name\n", mtime: "2013-01-01 00:00:00.666666666" },
    "links/relative": { symlink: "../top.txt", mtime: "2012-01-01 00:00:00.777777777" },
    "links/absolute": { symlink: absTarget, mtime: "2012-01-02 00:00:00.888888888" },
    "links/dangling": { symlink: "does/not/exist", mtime: "2012-01-03 00:00:00.999999999" },
    "links/to-dir": { symlink: "../nested", mtime: "2012-01-04 00:00:00.123123123" },
    "modes/private-0600": { content: "secret\n", mode: 0o600, mtime: "2011-01-01 00:00:00.000000007" },
    "modes/exec-0755": { content: "#!/bin/sh\necho hi\n", mode: 0o755, mtime: "2011-01-02 00:00:00.000000008" },
    "modes/readonly-0444": { content: "read only\n", mode: 0o444, mtime: "2011-01-03 00:00:00.000000009" },
    "modes/dir-0750/": { dir: true, mode: 0o750, mtime: "2011-01-04 00:00:00.000000010" },
    // Directory mtimes, set after their contents are written.
    "nested/a/b/c/": { dir: true, mtime: "2010-01-01 00:00:00.101010101" },
    "nested/a/b/": { dir: true, mtime: "2010-01-02 00:00:00.202020202" },
    "nested/a/": { dir: true, mtime: "2010-01-03 00:00:00.303030303" },
    "nested/": { dir: true, mtime: "2010-01-04 00:00:00.404040404" },
    "links/": { dir: true, mtime: "2010-01-05 00:00:00.505050505" },
    "modes/": { dir: true, mtime: "2010-01-06 00:00:00.606060606" },
    "odd/": { dir: true, mtime: "2010-01-07 00:00:00.707070707" },
  };
}
const RICH_FILES = 11; // regular files in richTree
const RICH_LINKS = 4;

function makeRich() {
  const t = temps.make();
  const src = t.join("src");
  writeTree(src, richTree(t.join("elsewhere", "target.txt")));
  writeTree(t.join("elsewhere"), { "target.txt": "absolute target\n" });
  setMtime(src, "2009-09-09 09:09:09.090909090");
  return { t, src, dst: t.join("dst") };
}

function expectSameTree(src: string, dst: string) {
  expect(diffR(src, dst)).toEqual({ exitCode: 0, output: "" });
  expect(metaDiff(src, dst)).toEqual([]);
  expect(blitTemps(dst)).toEqual([]);
}

describe("blit copy / mirror produce an exact copy", () => {
  for (const cmd of ["copy", "mirror"] as const) {
    test(`${cmd} into a new destination: same content, links, modes, file and directory mtimes to the ns`, async () => {
      const { t, src, dst } = makeRich();
      const r = await runCli([cmd, src, dst, "--json"], { home: t.home });
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(0);
      expect(r.json.status).toBe("ok");
      expectSameTree(src, dst);
      // Symlinks are copied as links with the same target, never followed.
      for (const name of ["relative", "absolute", "dangling", "to-dir"]) {
        expect(lstatSync(join(dst, "links", name)).isSymbolicLink()).toBe(true);
        expect(readlinkSync(join(dst, "links", name))).toBe(readlinkSync(join(src, "links", name)));
      }
      expect(readdirSync(join(dst, "empty-dir"))).toEqual([]);
      expect(lstatSync(join(dst, "empty-file")).size).toBe(0);
      expect(lstatSync(join(dst, "modes/readonly-0444")).mode & 0o7777).toBe(0o444);
      expect(mtimeNs(join(dst, "top.txt"))).toBe(1577934245123456789n);
      expect(r.json.workload).toMatchObject({ files: RICH_FILES, symlinks: RICH_LINKS });
      expect(r.json.counts.copied).toBe(RICH_FILES + RICH_LINKS);
    });
  }

  test("a second mirror of an unchanged tree changes nothing: copied 0, every file skipped", async () => {
    const { t, src, dst } = makeRich();
    expect((await runCli(["mirror", src, dst], { home: t.home })).exitCode).toBe(0);
    const again = await runCli(["mirror", src, dst, "--json"], { home: t.home });
    expect(again.exitCode).toBe(0);
    // Unchanged symlinks are skipped like files (counts.skipped covers files and links).
    expect(again.json.counts).toMatchObject({ copied: 0, copiedBytes: 0, deleted: 0, dirsCreated: 0, skipped: RICH_FILES + RICH_LINKS });
    expectSameTree(src, dst);
  });

  test("a re-run over a tree of plain files: copied == 0 and skipped == number of files", async () => {
    const t = temps.make();
    const src = t.join("src");
    const spec: TreeSpec = {};
    for (let i = 0; i < 30; i++) spec[`d${i % 4}/sub${i % 3}/f${i}.txt`] = `file ${i}\n`;
    writeTree(src, spec);
    const dst = t.join("dst");
    const first = await runCli(["mirror", src, dst, "--json"], { home: t.home });
    expect(first.json.counts.copied).toBe(30);
    const again = await runCli(["mirror", src, dst, "--json"], { home: t.home });
    expect(again.exitCode).toBe(0);
    expect(again.json.counts).toMatchObject({ copied: 0, skipped: 30, deleted: 0 });
    const copyAgain = await runCli(["copy", src, dst, "--json"], { home: t.home });
    expect(copyAgain.json.counts).toMatchObject({ copied: 0, skipped: 30 });
    expectSameTree(src, dst);
  });
});

describe("deleting: copy never deletes, mirror removes what the source lacks", () => {
  const extras: TreeSpec = {
    "extra.txt": "not in source\n",
    "olddir/x": "x\n",
    "olddir/sub/y": "y\n",
    "kept/extra-inside.txt": "extra in a dir the source has\n",
  };

  test("copy leaves extraneous destination files and dirs in place", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "a.txt": "a\n", "kept/b.txt": "b\n" });
    writeTree(dst, extras);
    const r = await runCli(["copy", src, dst, "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.json.counts.deleted).toBe(0);
    for (const rel of Object.keys(extras)) expect(existsSync(join(dst, rel))).toBe(true);
    expect(existsSync(join(dst, "a.txt"))).toBe(true);
    expect(existsSync(join(dst, "kept/b.txt"))).toBe(true);
  });

  test("mirror deletes extraneous files and directories (with their contents) and ends equal to the source", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "a.txt": "a\n", "kept/b.txt": "b\n" });
    writeTree(dst, extras);
    const r = await runCli(["mirror", src, dst, "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    // extra.txt, olddir, olddir/x, olddir/sub, olddir/sub/y, kept/extra-inside.txt
    expect(r.json.counts.deleted).toBe(6);
    expectSameTree(src, dst);
  });
});

describe("a change deep in the tree is found", () => {
  const rel = "a/b/c/d/file";

  async function mirrored() {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { [rel]: { content: "version 1\n", mtime: "2020-01-01 00:00:00.5" }, "other.txt": "other\n" });
    expect((await runCli(["mirror", src, dst], { home: t.home })).exitCode).toBe(0);
    return { t, src, dst };
  }

  test("same size, new mtime at depth 5: the mirror copies exactly that 1 file", async () => {
    const { t, src, dst } = await mirrored();
    writeFileSync(join(src, rel), "version 2\n"); // same size
    setMtime(join(src, rel), "2021-01-01 00:00:00.25");
    const r = await runCli(["mirror", src, dst, "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.json.counts).toMatchObject({ copied: 1, skipped: 1 });
    expectSameTree(src, dst);
  });

  test("found even when the parent directory's mtime is restored to its old value", async () => {
    const { t, src, dst } = await mirrored();
    const parent = join(src, "a/b/c/d");
    const before = mtimeNs(parent);
    // Replace the file the way editors do (write a new inode, rename over), which moves the
    // directory's mtime; then put the directory's mtime back.
    writeFileSync(join(parent, "file.new"), "version 2\n");
    renameSync(join(parent, "file.new"), join(parent, "file"));
    setMtime(join(parent, "file"), "2022-02-02 00:00:00.75");
    setMtimeNs(parent, before);
    expect(mtimeNs(parent)).toBe(before);
    const r = await runCli(["mirror", src, dst, "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.json.counts.copied).toBe(1);
    expectSameTree(src, dst);
  });
});
