// --backup, --backup-dir, --suffix through the real CLI on real trees: what a mirror replaces or
// deletes and what a copy overwrites is kept, with its content, where rsync would keep it; an
// older backup of the same name is replaced; a backup that cannot be made leaves the entry as it
// was; a backup directory on another filesystem is refused before anything is written.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blitTemps, filesUnder, runCli, setMtime, sleep, startCli, tempDirs, writeTree, type TempDir } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

function blit(t: TempDir, args: string[]) {
  return runCli(args, { home: t.home, env: { BLIT_TELEMETRY: "off" } });
}

const read = (p: string) => readFileSync(p, "utf8");

/** SRC and DST made equal by a first mirror, then SRC changed: keep.txt kept, a.txt changed, gone.txt and olddir/ removed. */
async function changedPair(t: TempDir): Promise<{ src: string; dst: string }> {
  const src = t.join("src");
  const dst = t.join("dst");
  writeTree(src, { "a.txt": "old a\n", "keep.txt": "keep\n", "gone.txt": "gone\n", "olddir/inner.txt": "inner\n", "sub/b.txt": "old b\n" });
  expect((await blit(t, ["mirror", src, dst])).exitCode).toBe(0);
  writeFileSync(join(src, "a.txt"), "new a, longer\n");
  writeFileSync(join(src, "sub/b.txt"), "new b, longer\n");
  setMtime(join(src, "a.txt"), "2030-01-01T00:00:00Z");
  setMtime(join(src, "sub/b.txt"), "2030-01-01T00:00:00Z");
  rmSync(join(src, "gone.txt"));
  rmSync(join(src, "olddir"), { recursive: true });
  return { src, dst };
}

describe("mirror --backup (suffix ~ beside each entry)", () => {
  test("a replaced and a deleted file are kept as NAME~ with their old content; a deleted directory keeps its files' backups", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    const r = await blit(t, ["mirror", "--backup", src, dst]);
    expect(r.exitCode).toBe(0);
    expect(read(join(dst, "a.txt"))).toBe("new a, longer\n");
    expect(read(join(dst, "a.txt~"))).toBe("old a\n");
    expect(read(join(dst, "sub/b.txt~"))).toBe("old b\n");
    expect(read(join(dst, "gone.txt~"))).toBe("gone\n");
    expect(existsSync(join(dst, "gone.txt"))).toBe(false);
    expect(read(join(dst, "olddir/inner.txt~"))).toBe("inner\n");
    expect(existsSync(join(dst, "olddir/inner.txt"))).toBe(false);
    expect(existsSync(join(dst, "keep.txt~"))).toBe(false);
  });

  test("a later mirror keeps the earlier backups (names ending in the suffix are not deleted) and replaces a backup of the same name", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    expect((await blit(t, ["mirror", "-b", src, dst])).exitCode).toBe(0);
    writeFileSync(join(src, "a.txt"), "third a, longest\n");
    const r = await blit(t, ["mirror", "-b", "--json", src, dst]);
    expect(r.exitCode).toBe(0);
    expect(read(join(dst, "a.txt~"))).toBe("new a, longer\n");
    expect(read(join(dst, "gone.txt~"))).toBe("gone\n");
    expect(r.json.counts.deleted).toBe(0);
    expect(r.json.counts.backedUp).toBe(1);
  });

  test("--suffix .bak names the backups; an empty suffix without --backup-dir is refused before anything is written", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    const bad = await blit(t, ["mirror", "--suffix", "", src, dst]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("--suffix");
    expect(read(join(dst, "a.txt"))).toBe("old a\n");
    const r = await blit(t, ["mirror", "--suffix", ".bak", src, dst]);
    expect(r.exitCode).toBe(0);
    expect(read(join(dst, "a.txt.bak"))).toBe("old a\n");
    expect(read(join(dst, "gone.txt.bak"))).toBe("gone\n");
  });

  test("an entry replaced by one of another type is kept: a file where the source now has a directory", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "x/inside.txt": "inside\n" });
    writeTree(dst, { x: "the old file x\n" });
    const r = await blit(t, ["mirror", "-b", src, dst]);
    expect(r.exitCode).toBe(0);
    expect(read(join(dst, "x/inside.txt"))).toBe("inside\n");
    expect(read(join(dst, "x~"))).toBe("the old file x\n");
  });
});

describe("--backup-dir", () => {
  test("relative: inside the destination, keeping relative paths; neither walked nor deleted by later mirrors", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    const r = await blit(t, ["mirror", "--backup-dir", "bk", src, dst]);
    expect(r.exitCode).toBe(0);
    expect(read(join(dst, "bk/a.txt"))).toBe("old a\n");
    expect(read(join(dst, "bk/sub/b.txt"))).toBe("old b\n");
    expect(read(join(dst, "bk/gone.txt"))).toBe("gone\n");
    expect(read(join(dst, "bk/olddir/inner.txt"))).toBe("inner\n");
    expect(existsSync(join(dst, "olddir"))).toBe(false);
    // Backup directories are private: they may hold copies of anyone's files.
    expect(statSync(join(dst, "bk")).mode & 0o777).toBe(0o700);
    const again = await blit(t, ["mirror", "--backup-dir", "bk", "--json", src, dst]);
    expect(again.exitCode).toBe(0);
    expect(again.json.counts.deleted).toBe(0);
    expect(again.json.counts.copied).toBe(0);
    expect(filesUnder(join(dst, "bk")).sort()).toEqual(["a.txt", "gone.txt", "olddir/inner.txt", "sub/b.txt"]);
  });

  test("with selection rules: no --include brings the backups into the walk, and --delete-excluded never deletes them", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    expect((await blit(t, ["mirror", "--backup-dir", "bk[1]", src, dst])).exitCode).toBe(0);
    expect(read(join(dst, "bk[1]/a.txt"))).toBe("old a\n");
    writeFileSync(join(dst, "stray.tmp"), "stray\n");
    const r = await blit(t, ["mirror", "--backup-dir", "bk[1]", "--include", "*", "--exclude", "*.tmp", "--delete-excluded", "--json", src, dst]);
    expect(r.exitCode).toBe(0);
    // the excluded stray file went (into the backups, as every delete); the backups (a name with
    // a wildcard in it) stayed
    expect(existsSync(join(dst, "stray.tmp"))).toBe(false);
    expect(filesUnder(join(dst, "bk[1]")).sort()).toEqual(["a.txt", "gone.txt", "olddir/inner.txt", "stray.tmp", "sub/b.txt"]);
    expect(r.json.counts.copied).toBe(0);
  });

  test("absolute, outside the destination, with --suffix: DIR/REL+SUFFIX", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    const bk = t.join("backups", "run1");
    const r = await blit(t, ["mirror", "--backup-dir", bk, "--suffix", ".old", src, dst]);
    expect(r.exitCode).toBe(0);
    expect(read(join(bk, "a.txt.old"))).toBe("old a\n");
    expect(read(join(bk, "sub/b.txt.old"))).toBe("old b\n");
    expect(read(join(bk, "gone.txt.old"))).toBe("gone\n");
    expect(filesUnder(dst).sort()).toEqual(["a.txt", "keep.txt", "sub/b.txt"]);
  });

  test("copy --backup-dir keeps what a copy overwrites (and deletes nothing)", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    const r = await blit(t, ["copy", "--backup-dir", "bk", src, dst]);
    expect(r.exitCode).toBe(0);
    expect(read(join(dst, "a.txt"))).toBe("new a, longer\n");
    expect(read(join(dst, "bk/a.txt"))).toBe("old a\n");
    expect(read(join(dst, "gone.txt"))).toBe("gone\n");
    expect(existsSync(join(dst, "bk/gone.txt"))).toBe(false);
  });

  test("copy of a single file over an existing one keeps the old one as NAME~", async () => {
    const t = temps.make();
    writeFileSync(t.join("new.txt"), "new, longer content\n");
    writeFileSync(t.join("target.txt"), "old content\n");
    const r = await blit(t, ["copy", "-b", t.join("new.txt"), t.join("target.txt")]);
    expect(r.exitCode).toBe(0);
    expect(read(t.join("target.txt"))).toBe("new, longer content\n");
    expect(read(t.join("target.txt~"))).toBe("old content\n");
  });

  test("inside the source: refused before the run, nothing changed", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    const r = await blit(t, ["mirror", "--backup-dir", join(src, "bk"), src, dst]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("inside the source");
    expect(read(join(dst, "a.txt"))).toBe("old a\n");
    expect(existsSync(join(src, "bk"))).toBe(false);
  });

  const otherFs = existsSync("/dev/shm") && statSync("/dev/shm").dev !== statSync(tmpdir()).dev;
  test.skipIf(!otherFs)("on another filesystem: refused before the run with a clear error, nothing changed (needs /dev/shm on its own filesystem)", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    const elsewhere = join("/dev/shm", `blit-test-bk-${process.pid}`);
    const r = await blit(t, ["mirror", "--backup-dir", elsewhere, src, dst]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("another filesystem");
    expect(r.stderr).toContain(elsewhere);
    expect(r.stderr).not.toContain("    at ");
    expect(read(join(dst, "a.txt"))).toBe("old a\n");
    expect(read(join(dst, "gone.txt"))).toBe("gone\n");
    expect(existsSync(elsewhere)).toBe(false);
  });
});

describe("a backup that cannot be made loses nothing", () => {
  test("the backup directory's name is taken by a file: nothing overwritten or deleted, each failure named, exit 1", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    writeFileSync(join(dst, "bk"), "not a directory\n");
    const r = await blit(t, ["mirror", "--backup-dir", "bk", "--json", src, dst]);
    expect(r.exitCode).toBe(1);
    const paths = (r.json.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toContain("a.txt");
    expect(paths).toContain("sub/b.txt");
    // The old contents are all still there, under their own names.
    expect(read(join(dst, "a.txt"))).toBe("old a\n");
    expect(read(join(dst, "sub/b.txt"))).toBe("old b\n");
    expect(read(join(dst, "gone.txt"))).toBe("gone\n");
    expect(read(join(dst, "olddir/inner.txt"))).toBe("inner\n");
    expect(read(join(dst, "bk"))).toBe("not a directory\n");
    expect(lstatSync(join(dst, "bk")).isFile()).toBe(true);
  });

  test("an outside backup directory that cannot be made: the run stops before writing anything, with the reason, exit 2", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    writeFileSync(t.join("plain-file"), "x\n");
    const r = await blit(t, ["mirror", "--backup-dir", t.join("plain-file", "bk"), src, dst]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("backup directory cannot be opened");
    expect(r.stderr).not.toContain("    at ");
    expect(read(join(dst, "a.txt"))).toBe("old a\n");
    expect(read(join(dst, "gone.txt"))).toBe("gone\n");
    expect(read(join(dst, "olddir/inner.txt"))).toBe("inner\n");
  });

  test("an entry of another type whose backup fails keeps its name and content; its replacement is not left behind", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "x/inside.txt": "inside\n" });
    writeTree(dst, { x: "the old file x\n", bk: "not a directory\n" });
    const r = await blit(t, ["mirror", "--backup-dir", "bk", "--json", src, dst]);
    expect(r.exitCode).toBe(1);
    expect((r.json.errors as { path: string }[]).map((e) => e.path)).toContain("x");
    expect(read(join(dst, "x"))).toBe("the old file x\n");
    expect(filesUnder(dst).sort()).toEqual(["bk", "x"]);
  });

  test("an older backup of another shape (a directory holding files) under the backup's name is replaced", async () => {
    const t = temps.make();
    const { src, dst } = await changedPair(t);
    // bk/a.txt is a directory holding a file: the backup of a.txt replaces it (an older backup of another shape).
    mkdirSync(join(dst, "bk", "a.txt"), { recursive: true });
    writeFileSync(join(dst, "bk", "a.txt", "x"), "older\n");
    const r = await blit(t, ["mirror", "--backup-dir", "bk", src, dst]);
    expect(r.exitCode).toBe(0);
    expect(read(join(dst, "bk/a.txt"))).toBe("old a\n");
    expect(read(join(dst, "a.txt"))).toBe("new a, longer\n");
  });
});

async function firstReplaced(dst: string, n: number): Promise<boolean> {
  for (let i = 0; i < n; i++) if (read(join(dst, `f${i}.dat`)).startsWith("new")) return true;
  return false;
}

describe("a run killed mid-way (kill -9) loses nothing", () => {
  test("every old file is still under its name or in the backup directory, whole", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    const n = 200;
    const spec: Record<string, string> = {};
    for (let i = 0; i < n; i++) spec[`f${i}.dat`] = `old ${i} `.repeat(4000);
    writeTree(dst, spec);
    for (let i = 0; i < n; i++) spec[`f${i}.dat`] = `new ${i}, longer `.repeat(4000);
    writeTree(src, spec);
    // Slowed down so that the kill lands in the middle of the copies.
    const cli = startCli(["mirror", "--backup-dir", "bk", "--bwlimit", "2M", "-w", "1", src, dst], { home: t.home, env: { BLIT_TELEMETRY: "off" } });
    try {
      // Killed once the first file is replaced (whatever the machine's load).
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && !(await firstReplaced(dst, n))) await sleep(20);
      cli.kill("SIGKILL");
      await cli.done;
    } finally {
      cli.kill("SIGKILL");
    }
    let replaced = 0;
    for (let i = 0; i < n; i++) {
      const old = `old ${i} `.repeat(4000);
      const here = read(join(dst, `f${i}.dat`));
      const kept = existsSync(join(dst, "bk", `f${i}.dat`)) ? read(join(dst, "bk", `f${i}.dat`)) : undefined;
      expect({ i, oldKept: here === old || kept === old }).toEqual({ i, oldKept: true });
      expect([old, `new ${i}, longer `.repeat(4000)]).toContain(here);
      if (here !== old) replaced++;
    }
    // The kill came mid-way: some files were replaced, not all.
    expect(replaced).toBeGreaterThan(0);
    expect(replaced).toBeLessThan(n);
    // A later run finishes the job and clears what the killed one left.
    expect((await blit(t, ["mirror", "--backup-dir", "bk", src, dst])).exitCode).toBe(0);
    expect(blitTemps(dst)).toEqual([]);
    for (let i = 0; i < n; i += 37) expect(read(join(dst, "bk", `f${i}.dat`))).toBe(`old ${i} `.repeat(4000));
  }, 60_000);
});
