// The selection flags and several sources through the real CLI: what lands on disk, what a
// mirror deletes, and the errors (one line naming the value or file, exit 2, nothing written).
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { filesUnder, REPO_ROOT, runCli, tempDirs, walk, writeTree, type TempDir } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const QUIET = ["--no-telemetry", "--no-progress"];

/** blit with `stdin` as its standard input (runCli gives none). */
async function blitWithStdin(t: TempDir, args: string[], stdin: string) {
  const proc = Bun.spawn([process.execPath, "tui/blit.ts", ...args], {
    cwd: REPO_ROOT, stdin: new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe",
    env: { ...process.env, BLIT_HOME: t.home },
  });
  try {
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    return { exitCode: await proc.exited, stdout, stderr };
  } finally {
    proc.kill("SIGKILL");
  }
}

/** Paths of every entry (directories with a trailing '/'), root left out. */
function entries(root: string): string[] {
  return walk(root).filter((e) => e.rel !== "").map((e) => (e.type === "dir" ? `${e.rel}/` : e.rel));
}

function project(t: TempDir): string {
  const src = t.join("src");
  writeTree(src, { "main.c": "c", "main.o": "o", "lib/util.c": "u", "lib/util.h": "h", "docs/readme.txt": "r", "build/out.o": "o" });
  return src;
}

describe("include and exclude rules, from flags and files", () => {
  test("--include/--exclude in command-line order: only C files and their directories", async () => {
    const t = temps.make();
    const src = project(t);
    const r = await runCli(["copy", src, t.join("dst"), ...QUIET, "--include", "*/", "--include", "*.c", "--exclude", "*"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(filesUnder(t.join("dst")).sort()).toEqual(["lib/util.c", "main.c"]);
  });

  test("--exclude-from a file with comments, and --include-from stdin ('-')", async () => {
    const t = temps.make();
    const src = project(t);
    writeFileSync(t.join("ex.txt"), "# objects\n*.o\n\n; docs too\n/docs/\n");
    const a = await runCli(["copy", src, t.join("a"), ...QUIET, "--exclude-from", t.join("ex.txt")], { home: t.home });
    expect(a.exitCode).toBe(0);
    expect(filesUnder(t.join("a")).sort()).toEqual(["lib/util.c", "lib/util.h", "main.c"]);
    const b = await blitWithStdin(t, ["copy", src, t.join("b"), ...QUIET, "--include-from", "-", "--exclude", "*"], "*/\n*.h\n");
    expect(b.stderr).toBe("");
    expect(filesUnder(t.join("b"))).toEqual(["lib/util.h"]);
  });

  test("--filter rules given as separate arguments, long forms and a merge file", async () => {
    const t = temps.make();
    const src = project(t);
    writeFileSync(t.join("rules"), "+ /lib/\n+ *.h\n- *\n");
    const r = await runCli(["copy", src, t.join("dst"), ...QUIET, "--filter", "exclude *.c", "--filter", ". " + t.join("rules"), "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(filesUnder(t.join("dst"))).toEqual(["lib/util.h"]);
    // The report keeps the rules as they were applied, the merge file read into them.
    expect(r.json.options.filter).toEqual(["- *.c", "+ /lib/", "+ *.h", "- *"]);
  });

  test("dir-merge: each directory's rules file applies there and below", async () => {
    const t = temps.make();
    const src = project(t);
    writeFileSync(join(src, ".blit-filter"), "- *.o\n");
    writeFileSync(join(src, "lib/.blit-filter"), "- *.h\n");
    const r = await runCli(["copy", src, t.join("dst"), ...QUIET, "--filter", "dir-merge .blit-filter"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(filesUnder(t.join("dst")).sort()).toEqual([".blit-filter", "docs/readme.txt", "lib/.blit-filter", "lib/util.c", "main.c"]);
  });

  test("a dir-merge rules file that is a symlink is not read: its directory is left out with an error naming it", async () => {
    const t = temps.make();
    const src = project(t);
    // The link points at rules that would include everything: following it must not happen.
    writeFileSync(t.join("elsewhere"), "+ *\n");
    symlinkSync(t.join("elsewhere"), join(src, "lib/.rules"));
    const r = await runCli(["copy", src, t.join("dst"), ...QUIET, "--filter", ": .rules"], { home: t.home });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("lib/.rules");
    expect(r.stderr).toContain("symlink");
    expect(existsSync(t.join("dst/lib/util.c"))).toBe(false);
    expect(existsSync(t.join("dst/main.c"))).toBe(true);
  });
});

describe("a per-directory rules file its user cannot read", () => {
  const isRoot = process.getuid?.() === 0;
  test.skipIf(!isRoot)("names the file, leaves its directory out (exit 1), and a mirror then deletes nothing", async () => {
    const t = temps.make();
    chmodSync(t.path, 0o755); // mkdtemp makes 0700; nobody must reach the subtree
    const world = t.join("world");
    mkdirSync(world);
    chmodSync(world, 0o777); // nobody creates dst and BLIT_HOME here
    const src = join(world, "src");
    const dst = join(world, "dst");
    writeTree(src, { "top.txt": "t", "private/data.txt": "d", "private/.rules": "- data.txt\n" });
    chmodSync(join(src, "private/.rules"), 0o000);
    const asNobody = { home: join(world, "home"), asUser: { user: "nobody", group: "nogroup" } };
    const copy = await runCli(["copy", src, dst, ...QUIET, "--filter", ": .rules"], asNobody);
    expect(copy.exitCode).toBe(1);
    expect(copy.stderr).toContain("private/.rules");
    expect(copy.stderr).not.toContain("    at ");
    expect(filesUnder(dst)).toEqual(["top.txt"]);
    writeFileSync(join(dst, "extraneous.txt"), "must survive a mirror with an error");
    chownSync(join(dst, "extraneous.txt"), 65534, 65534);
    const mirror = await runCli(["mirror", src, dst, ...QUIET, "--filter", ": .rules"], asNobody);
    expect(mirror.exitCode).toBe(1);
    expect(existsSync(join(dst, "extraneous.txt"))).toBe(true);
  });
});

describe("bad rules stop the command before anything is written (exit 2, one line)", () => {
  const cases: [string, string[], string][] = [
    ["a bad filter rule", ["--filter", "keep *.c"], "--filter: bad filter rule 'keep *.c'"],
    ["a bad pattern", ["--exclude", "[abc"], "--exclude: bad pattern '[abc'"],
    ["a missing rules file", ["--exclude-from", "/nonexistent/rules"], "cannot read --exclude-from file '/nonexistent/rules': no such file"],
    ["a missing merge file", ["--filter", "merge /nonexistent/m"], "cannot read rules file '/nonexistent/m'"],
    ["a --files-from entry leaving SRC", ["--files-from", "LIST"], "line 2: '../outside' leaves SRC"],
    ["two flags reading stdin", ["--exclude-from", "-", "--include-from", "-"], "only one flag may read stdin"],
  ];
  for (const [name, flags, message] of cases) {
    test(name, async () => {
      const t = temps.make();
      const src = project(t);
      writeFileSync(t.join("list"), "main.c\n../outside\n");
      const r = await runCli(["copy", src, t.join("dst"), ...QUIET, ...flags.map((f) => (f === "LIST" ? t.join("list") : f))], { home: t.home });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(existsSync(t.join("dst"))).toBe(false);
    });
  }
});

describe("--files-from", () => {
  test("copies exactly the listed paths (a listed directory with its contents) and makes their parents", async () => {
    const t = temps.make();
    const src = project(t);
    writeFileSync(t.join("list"), "lib/util.h\n/docs\n./main.o\n");
    const r = await runCli(["copy", src, t.join("dst"), ...QUIET, "--files-from", t.join("list")], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(entries(t.join("dst"))).toEqual(["docs/", "docs/readme.txt", "lib/", "lib/util.h", "main.o"]);
  });

  test("a listed path that does not exist is an error naming it; the others are copied", async () => {
    const t = temps.make();
    const src = project(t);
    writeFileSync(t.join("list"), "main.c\nno/such/file\n");
    const r = await runCli(["copy", src, t.join("dst"), ...QUIET, "--files-from", t.join("list")], { home: t.home });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("no/such/file: listed in --files-from but not found");
    expect(filesUnder(t.join("dst"))).toEqual(["main.c"]);
  });

  test("a symlink on the way to a listed path is not followed", async () => {
    const t = temps.make();
    const src = project(t);
    writeTree(t.join("outside"), { secret: "s" });
    symlinkSync(t.join("outside"), join(src, "link"));
    writeFileSync(t.join("list"), "link/secret\nmain.c\n");
    const r = await runCli(["copy", src, t.join("dst"), ...QUIET, "--files-from", t.join("list")], { home: t.home });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("link/secret");
    expect(existsSync(t.join("dst/link/secret"))).toBe(false);
    expect(filesUnder(t.join("dst"))).toEqual(["main.c"]);
  });

  test("is refused by mirror (everything unlisted would be deleted)", async () => {
    const t = temps.make();
    const src = project(t);
    writeTree(t.join("dst"), { "keep": "k" });
    writeFileSync(t.join("list"), "main.c\n");
    const r = await runCli(["mirror", src, t.join("dst"), ...QUIET, "--files-from", t.join("list")], { home: t.home });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("--files-from is refused with mirror");
    expect(filesUnder(t.join("dst"))).toEqual(["keep"]);
  });
});

describe("--delete-excluded", () => {
  test("a mirror keeps excluded destination entries by default and deletes them with --delete-excluded", async () => {
    const t = temps.make();
    const src = project(t);
    const dst = t.join("dst");
    writeTree(dst, { "stale.o": "old", "lib/old.o": "old", "cache/x": "x" });
    const keep = await runCli(["mirror", src, dst, ...QUIET, "--exclude", "*.o", "--exclude", "cache/"], { home: t.home });
    expect(keep.exitCode).toBe(0);
    expect(filesUnder(dst).sort()).toEqual(["cache/x", "docs/readme.txt", "lib/old.o", "lib/util.c", "lib/util.h", "main.c", "stale.o"]);
    const del = await runCli(["mirror", src, dst, ...QUIET, "--exclude", "*.o", "--exclude", "cache/", "--delete-excluded"], { home: t.home });
    expect(del.exitCode).toBe(0);
    // build/ stays: the source has it (only its out.o is excluded), as rsync would.
    expect(entries(dst)).toEqual(["build/", "docs/", "docs/readme.txt", "lib/", "lib/util.c", "lib/util.h", "main.c"]);
  });

  test("is a mirror flag: copy refuses it", async () => {
    const t = temps.make();
    const src = project(t);
    const r = await runCli(["copy", src, t.join("dst"), ...QUIET, "--delete-excluded"], { home: t.home });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("--delete-excluded is a mirror flag: use 'blit mirror'");
    expect(existsSync(t.join("dst"))).toBe(false);
  });
});

describe("several sources", () => {
  test("copy: each source's name becomes an entry of DST (directories and files)", async () => {
    const t = temps.make();
    writeTree(t.join("one"), { "a.txt": "a", "sub/b.txt": "b" });
    writeTree(t.join("two"), { "c.txt": "c" });
    writeFileSync(t.join("file.txt"), "f");
    const r = await runCli(["copy", t.join("one"), `${t.join("two")}/`, t.join("file.txt"), t.join("dst"), ...QUIET, "--exclude", "b.txt"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(entries(t.join("dst"))).toEqual(["file.txt", "one/", "one/a.txt", "one/sub/", "two/", "two/c.txt"]);
  });

  test("a file source the rules exclude is not copied (rsync matches it by its name)", async () => {
    const t = temps.make();
    writeTree(t.join("one"), { "a.txt": "a" });
    writeFileSync(t.join("skip.tmp"), "s");
    const r = await runCli(["copy", t.join("one"), t.join("skip.tmp"), t.join("dst"), ...QUIET, "--exclude", "*.tmp"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(entries(t.join("dst"))).toEqual(["one/", "one/a.txt"]);
  });

  test("two sources with the same name are refused, naming both, before anything is written", async () => {
    const t = temps.make();
    writeTree(t.join("x/data"), { a: "a" });
    writeTree(t.join("y/data"), { b: "b" });
    const r = await runCli(["copy", t.join("x/data"), t.join("y/data"), t.join("dst"), ...QUIET], { home: t.home });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`sources '${t.join("x/data")}' and '${t.join("y/data")}' both have the name 'data'`);
    expect(existsSync(t.join("dst"))).toBe(false);
  });

  test("mirror: each source is mirrored to DST/NAME; nothing else in DST is deleted", async () => {
    const t = temps.make();
    writeTree(t.join("one"), { "a.txt": "a" });
    writeTree(t.join("two"), { "c.txt": "c" });
    writeTree(t.join("dst"), { "one/extra.txt": "gone", "unrelated/keep.txt": "k", "top.txt": "k" });
    const r = await runCli(["mirror", t.join("one"), t.join("two"), t.join("dst"), ...QUIET, "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(filesUnder(t.join("dst")).sort()).toEqual(["one/a.txt", "top.txt", "two/c.txt", "unrelated/keep.txt"]);
    // One report per source, one per line.
    const reports = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(reports.map((x) => x.destination)).toEqual([t.join("dst/one"), t.join("dst/two")]);
  });

  test("a source named '-' or starting with '-' after '--' stays a path", async () => {
    const t = temps.make();
    mkdirSync(t.join("w"));
    writeTree(t.join("w/-dash"), { a: "a" });
    writeTree(t.join("w/b"), { b: "b" });
    const proc = Bun.spawn([process.execPath, join(REPO_ROOT, "tui/blit.ts"), "copy", ...QUIET, "--", "-dash", "b", "dst"], {
      cwd: t.join("w"), stdout: "pipe", stderr: "pipe", env: { ...process.env, BLIT_HOME: t.home },
    });
    try {
      expect(await proc.exited).toBe(0);
    } finally {
      proc.kill("SIGKILL");
    }
    expect(filesUnder(t.join("w/dst")).sort()).toEqual(["-dash/a", "b/b"]);
  });
});
