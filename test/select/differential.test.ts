// blit's selection against real rsync: the same tree (awkward names included), the same rules,
// and what lands on disk must be the same set of paths. Skipped (and says so) without rsync.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, runCli, walk, writeTree, type TempDir } from "../helpers/index.ts";

const hasRsync = spawnSync("rsync", ["--version"]).status === 0;
if (!hasRsync) console.warn("test/select/differential.test.ts: rsync is not installed; the differential tests are skipped");

// Names that trip naive matchers: spaces, glob characters in names, a newline, non-ASCII,
// leading dash and hash, dot files, the same name at several depths.
const TREE = {
  "top.txt": "t",
  "keep.log": "k",
  "drop.log": "d",
  "main.c": "c",
  "main.o": "o",
  "sp ace.txt": "s",
  "star*name": "s",
  "brack[1].txt": "b",
  "q?.txt": "q",
  "1.txt": "1",
  "a.txt": "a",
  "ünï.c": "u",
  "-dash": "-",
  "#hash": "#",
  ".hidden": "h",
  "new\nline.c": "n",
  "a/b/x.c": "x",
  "a/b/deep/y.c": "y",
  "a/b/deep/z.h": "z",
  "a/sub/s.c": "s",
  "a/y.h": "y",
  "a/build/out.o": "o",
  "build/gen.c": "g",
  "sub/k.c": "k",
  "sub/inner/sub/k2.c": "k",
  "c/deep/q.c": "q",
  "c/x.c": "x",
  "empty/": null,
  "cache/": null,
} as const;

/** Rule sets given to both tools as the same arguments. */
const CASES: { name: string; args: string[] }[] = [
  { name: "an unanchored name pattern", args: ["--exclude=*.o"] },
  { name: "a directory-only pattern", args: ["--exclude=build/"] },
  { name: "an anchored pattern", args: ["--exclude=/top.txt", "--exclude=/a/y.h"] },
  { name: "only .c files through included directories", args: ["--include=*/", "--include=*.c", "--exclude=*"] },
  { name: "an unanchored pattern with a slash matches at any depth", args: ["--exclude=sub/*.c"] },
  { name: "'**' in the middle of an anchored pattern", args: ["--exclude=/a/**/y.c"] },
  { name: "'dir/**' excludes the contents, keeps the directory", args: ["--exclude=a/**"] },
  { name: "a leading '**/'", args: ["--exclude=**/x.c"] },
  { name: "'dir/***' with a catch-all exclude", args: ["--include=a/***", "--exclude=*"] },
  { name: "character classes and '?'", args: ["--exclude=[a-c]*", "--exclude=?.txt"] },
  { name: "a negated class and a named class", args: ["--exclude=[!a-z#.-]*", "--exclude=*[[:digit:]]*"] },
  { name: "first match wins (exclude before include)", args: ["--filter=- *.log", "--filter=+ keep.log"] },
  { name: "first match wins (include before exclude)", args: ["--filter=+ keep.log", "--filter=- *.log"] },
  { name: "escaped wildcards match themselves", args: ["--exclude=star\\*name", "--exclude=brack\\[1].txt"] },
  { name: "names with spaces and non-ASCII", args: ["--exclude=sp ace.txt", "--exclude=ünï.c"] },
  { name: "an include of a deep file needs its directories", args: ["--include=a/b/x.c", "--exclude=*"] },
  { name: "a pattern with two slashes, unanchored", args: ["--exclude=b/deep/*"] },
  { name: "long rule names and '+ '/'- ' prefixes in --exclude", args: ["--filter=exclude *.h", "--exclude=+ a/", "--exclude=a*"] },
  { name: "a merge file", args: ["--filter=merge RULES"] },
  { name: "per-directory rules files", args: ["--filter=dir-merge .rules"] },
];

let t: TempDir;
let src: string;

beforeAll(() => {
  t = makeTempDir();
  src = t.join("src");
  writeTree(src, TREE as never);
  // A per-directory rules file at the root and one deeper: the deeper one's rules come first.
  writeFileSync(t.join("src/.rules"), "- *.o\n# comment\n- z.h\n- /top.txt\n+ keep.log\n- *.log\n");
  writeFileSync(t.join("src/a/.rules"), "+ z.h\n- *.h\n- /sub/\n");
  writeFileSync(t.join("RULES"), "; a comment\n+ /a/\n+ /a/b/\n+ /a/b/x.c\n- /a/*\n- /a/b/*\n+ *.c\n- *\n");
});
afterAll(() => t?.remove());

/** Every path of a tree (directories and files), root left out. */
function paths(root: string): string[] {
  return walk(root).map((e) => e.rel).filter((r) => r !== "");
}

describe.skipIf(!hasRsync)("blit selects what rsync selects", () => {
  CASES.forEach((c, k) => {
    test(c.name, async () => {
      const args = c.args.map((a) => a.replace("RULES", t.join("RULES")));
      const viaRsync = t.join(`rsync-${k}`);
      const viaBlit = t.join(`blit-${k}`);
      const r = spawnSync("rsync", ["-rl", ...args, `${src}/`, `${viaRsync}/`], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      const b = await runCli(["copy", src, viaBlit, "--no-telemetry", "--no-progress", ...args], { home: t.home });
      expect(b.stderr).toBe("");
      expect(b.exitCode).toBe(0);
      expect(paths(viaBlit)).toEqual(paths(viaRsync));
      // The rules did leave something out (a case that selects everything proves nothing).
      expect(paths(viaBlit).length).toBeLessThan(paths(src).length);
    });
  });
});

/** A destination holding what a mirror must judge: extraneous entries, excluded ones, both in one directory. */
const DEST_BEFORE = {
  "gone.txt": "extraneous",
  "main.o": "excluded by *.o",
  "stale.o": "excluded and extraneous",
  "olddir/x.o": "excluded inside an extraneous directory",
  "olddir/y.txt": "extraneous",
  "a/b/old.c": "extraneous .c",
  "cache/keep": "excluded directory's content",
};

const MIRROR_CASES: { name: string; args: string[] }[] = [
  { name: "excluded destination entries are kept", args: ["--exclude=*.o", "--exclude=cache/"] },
  { name: "--delete-excluded deletes them too", args: ["--exclude=*.o", "--exclude=cache/", "--delete-excluded"] },
  { name: "include/exclude lists decide what may be deleted", args: ["--include=*/", "--include=*.c", "--exclude=*"] },
  { name: "per-directory rules files, read on the destination for deletes", args: ["--filter=dir-merge .rules"] },
];

describe.skipIf(!hasRsync)("blit mirror deletes what rsync --delete deletes", () => {
  MIRROR_CASES.forEach((c, k) => {
    test(c.name, async () => {
      const viaRsync = t.join(`rsync-m${k}`);
      const viaBlit = t.join(`blit-m${k}`);
      writeTree(viaRsync, DEST_BEFORE);
      writeTree(viaBlit, DEST_BEFORE);
      const r = spawnSync("rsync", ["-rl", "--delete", ...c.args, `${src}/`, `${viaRsync}/`], { encoding: "utf8" });
      expect(r.status).toBe(0);
      const b = await runCli(["mirror", src, viaBlit, "--no-telemetry", "--no-progress", ...c.args], { home: t.home });
      expect(b.stderr).toBe("");
      expect(b.exitCode).toBe(0);
      expect(paths(viaBlit)).toEqual(paths(viaRsync));
    });
  });
});

describe.skipIf(!hasRsync)("--files-from and several sources as rsync has them", () => {
  test("--files-from (rsync -r --files-from): listed files, a listed directory whole, parents made", async () => {
    writeFileSync(t.join("list"), "top.txt\na/b/deep\n/c/x.c\n");
    const viaRsync = t.join("rsync-ff");
    const viaBlit = t.join("blit-ff");
    const r = spawnSync("rsync", ["-rl", `--files-from=${t.join("list")}`, `${src}/`, `${viaRsync}/`], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const b = await runCli(["copy", src, viaBlit, "--no-telemetry", "--no-progress", "--files-from", t.join("list")], { home: t.home });
    expect(b.exitCode).toBe(0);
    expect(paths(viaBlit)).toEqual(paths(viaRsync));
  });

  test("several sources (rsync -r a c dst/): each becomes DST/NAME", async () => {
    const viaRsync = t.join("rsync-ss");
    const viaBlit = t.join("blit-ss");
    const r = spawnSync("rsync", ["-rl", "--exclude=*.h", join(src, "a"), join(src, "c"), join(src, "top.txt"), `${viaRsync}/`], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const b = await runCli(["copy", join(src, "a"), join(src, "c"), join(src, "top.txt"), viaBlit, "--no-telemetry", "--no-progress", "--exclude=*.h"], { home: t.home });
    expect(b.exitCode).toBe(0);
    expect(paths(viaBlit)).toEqual(paths(viaRsync));
  });
});
