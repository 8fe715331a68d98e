// Per-entry records of copy and mirror through the real CLI: -i/--itemize-changes against real
// rsync's -i for the same change set, -v with the planner's reasons, --log-file (timestamps with
// their zone, start and end lines, appended, a symlink refused), --json-lines (each line an
// object, the run report last) and --stats.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, setMtime, tempDirs, writeTree, type TempDir } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const HAS_RSYNC = spawnSync("rsync", ["--version"]).status === 0;
const AS_ROOT = process.getuid?.() === 0;

function blit(t: TempDir, args: string[]) {
  return runCli(args, { home: t.home, env: { BLIT_TELEMETRY: "off" } });
}

/**
 * SRC and a DST equal to it (made by blit), then SRC changed: a new file, a size change, a
 * time-only change, a mode change, a new directory with a file, a new symlink, and DST given an
 * extraneous file and directory. Returns the paths; `twin` is a copy of DST (cp -a) for rsync.
 */
async function changeSet(t: TempDir): Promise<{ src: string; dst: string; twin: string }> {
  const src = t.join("src");
  const dst = t.join("dst");
  const twin = t.join("twin");
  writeTree(src, {
    "size.txt": "short\n", "time.txt": "same size\n", "mode.txt": "mode\n", "owner.txt": "owner\n", "same.txt": "same\n", "sub/inner.txt": "inner\n",
  });
  expect((await blit(t, ["mirror", src, dst])).exitCode).toBe(0);
  writeTree(dst, { "extra.txt": "extra\n", "olddir/old.txt": "old\n" });
  expect(spawnSync("cp", ["-a", dst, twin]).status).toBe(0);
  writeFileSync(join(src, "size.txt"), "much longer now\n");
  setMtime(join(src, "size.txt"), "2030-01-01T00:00:00Z");
  setMtime(join(src, "time.txt"), "2031-01-01T00:00:00Z");
  chmodSync(join(src, "mode.txt"), 0o600);
  // As root (where owners are kept, as by rsync -a) another owner and group.
  if (AS_ROOT) chownSync(join(src, "owner.txt"), 65534, 65534);
  writeTree(src, { "new.txt": "new\n", "newdir/f.txt": "f\n" });
  symlinkSync("same.txt", join(src, "link"));
  // A whole second apart: rsync itemizes a directory's time only then.
  setMtime(src, "2032-01-01T00:00:00Z");
  return { src, dst, twin };
}

const lines = (s: string) => s.split("\n").filter((l) => l !== "");

describe("-i/--itemize-changes", () => {
  test.skipIf(!HAS_RSYNC)("prints what rsync -i prints for the same changes: new, size, time, perms, delete, new dir, symlink (needs rsync)", async () => {
    const t = temps.make();
    const { src, dst, twin } = await changeSet(t);
    const theirs = spawnSync("rsync", ["-ai", "--delete", `${src}/`, `${twin}/`], { encoding: "utf8" });
    expect(theirs.status).toBe(0);
    const ours = await blit(t, ["mirror", "-i", src, dst]);
    expect(ours.exitCode).toBe(0);
    const itemized = lines(ours.stdout).filter((l) => /^[<>ch.*][fdLDS*]/.test(l) && !l.startsWith("mirror "));
    expect(itemized.sort()).toEqual(lines(theirs.stdout).sort());
    // The change set really held every kind of line.
    for (const want of [".d..t...... ./", ">f+++++++++ new.txt", ">f.st...... size.txt", ">f..t...... time.txt", ".f...p..... mode.txt", "*deleting   extra.txt", "cd+++++++++ newdir/", "cL+++++++++ link -> same.txt"]) {
      expect(itemized).toContain(want);
    }
    if (AS_ROOT) expect(itemized).toContain(".f....og... owner.txt");
  });

  test("a dry run itemizes what it would do and changes nothing", async () => {
    const t = temps.make();
    const { src, dst } = await changeSet(t);
    const r = await blit(t, ["mirror", "-n", "-i", src, dst]);
    expect(r.exitCode).toBe(0);
    expect(lines(r.stdout)).toContain(">f+++++++++ new.txt");
    expect(lines(r.stdout)).toContain("*deleting   extra.txt");
    expect(existsSync(join(dst, "new.txt"))).toBe(false);
    expect(existsSync(join(dst, "extra.txt"))).toBe(true);
  });
});

describe("-v", () => {
  test("each action with its reason from the plan: new, size and time, perms", async () => {
    const t = temps.make();
    const { src, dst } = await changeSet(t);
    const r = await blit(t, ["copy", "-v", src, dst]);
    expect(r.exitCode).toBe(0);
    const out = lines(r.stdout);
    expect(out).toContain("copy    new.txt  (4 B; new)");
    expect(out).toContain("copy    size.txt  (16 B; size, time)");
    expect(out).toContain("copy    time.txt  (10 B; time)");
    expect(out).toContain("meta    mode.txt  (perms)");
    expect(out).toContain("mkdir   newdir/  (new)");
  });

  test("-I says why an unchanged file is copied (always); -c says checksum", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "a.txt": "aaaa\n" });
    expect((await blit(t, ["copy", src, dst])).exitCode).toBe(0);
    const always = await blit(t, ["copy", "-v", "-I", src, dst]);
    expect(lines(always.stdout)).toContain("copy    a.txt  (5 B; always)");
    writeFileSync(join(dst, "a.txt"), "bbbb\n");
    setMtime(join(dst, "a.txt"), "2020-01-01T00:00:00Z");
    setMtime(join(src, "a.txt"), "2020-01-01T00:00:00Z");
    const sums = await blit(t, ["copy", "-v", "-c", src, dst]);
    expect(lines(sums.stdout)).toContain("copy    a.txt  (5 B; checksum)");
  });
});

const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d \[\d+\] /;

describe("--log-file", () => {
  test("a line per action with a timestamp and its zone, between a start and an end line with the totals; appended by the next run", async () => {
    const t = temps.make();
    const { src, dst } = await changeSet(t);
    const log = t.join("blit.log");
    const r = await blit(t, ["mirror", "--backup", "--log-file", log, src, dst]);
    expect(r.exitCode).toBe(0);
    const first = lines(readFileSync(log, "utf8"));
    for (const l of first) expect(l).toMatch(STAMP);
    const body = first.map((l) => l.replace(STAMP, ""));
    expect(body[0]).toBe(`start mirror ${src} -> ${dst} (--backup --log-file ${log})`);
    expect(body.at(-1)).toMatch(/^end ok \(exit 0\): copied 5 \(.*\), skipped 4, 1 dir created, deleted 2, backed up 4, 0 errors, in /);
    expect(body).toContain(">f.st...... size.txt (size, time)");
    expect(body).toContain("backup extra.txt -> extra.txt~ (deleted)");
    expect(body).toContain("*deleting   extra.txt (extraneous)");
    // Not on stdout: the log is asked for, -i and -v are not.
    expect(r.stdout).not.toContain("size.txt");
    writeFileSync(join(src, "new.txt"), "newer, longer\n");
    expect((await blit(t, ["copy", "--log-file", log, src, dst])).exitCode).toBe(0);
    const both = lines(readFileSync(log, "utf8")).map((l) => l.replace(STAMP, ""));
    expect(both.slice(0, first.length)).toEqual(body);
    expect(both.filter((l) => l.startsWith("start "))).toHaveLength(2);
    expect(both.at(-1)).toMatch(/^end ok \(exit 0\): copied 1 /);
  });

  test("stamps come from the one time formatter: the local zone's offset (+05:30 under TZ=Asia/Kolkata), the run's moment", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a.txt": "a\n" });
    const log = t.join("zone.log");
    const before = Date.now();
    const r = await runCli(["copy", "--log-file", log, t.join("src"), t.join("dst")], { home: t.home, env: { BLIT_TELEMETRY: "off", TZ: "Asia/Kolkata" } });
    expect(r.exitCode).toBe(0);
    const logged = lines(readFileSync(log, "utf8"));
    expect(logged.length).toBeGreaterThanOrEqual(3);
    for (const l of logged) {
      expect(l).toMatch(STAMP);
      const stamp = l.split(" ")[0]!;
      expect(stamp).toEndWith("+05:30");
      expect(Date.parse(stamp)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(stamp)).toBeLessThanOrEqual(Date.now() + 1000);
    }
    // Counts as every summary prints them: "1 file", "0 errors", never "1 errors".
    expect(logged.at(-1)).toMatch(/: copied 1 \(2 B\), skipped 0, \d+ dirs? created, 0 errors, in /);
  });

  test("a symlink or a FIFO named as the log file is refused before the run, its target untouched", async () => {
    const t = temps.make();
    const { src, dst } = await changeSet(t);
    writeFileSync(t.join("victim"), "precious\n");
    symlinkSync(t.join("victim"), t.join("link.log"));
    const r = await blit(t, ["mirror", "--log-file", t.join("link.log"), src, dst]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("link.log");
    expect(r.stderr).toContain("symlink");
    expect(r.stderr).not.toContain("    at ");
    expect(readFileSync(t.join("victim"), "utf8")).toBe("precious\n");
    expect(existsSync(join(dst, "extra.txt"))).toBe(true);
    expect(spawnSync("mkfifo", [t.join("fifo.log")]).status).toBe(0);
    const f = await blit(t, ["copy", "--log-file", t.join("fifo.log"), src, dst]);
    expect(f.exitCode).toBe(2);
    expect(f.stderr).toContain("fifo.log");
    rmSync(t.join("fifo.log"));
  });
});

describe("--json-lines", () => {
  test("one JSON object per event on stdout, the run report last; -v adds no text", async () => {
    const t = temps.make();
    const { src, dst } = await changeSet(t);
    const r = await blit(t, ["mirror", "--json-lines", "-v", "--backup-dir", "bk", src, dst]);
    expect(r.exitCode).toBe(0);
    const objs = lines(r.stdout).map((l) => JSON.parse(l));
    const report = objs.at(-1);
    expect(report.status).toBe("ok");
    expect(report.counts.deleted).toBe(3);
    const events = objs.slice(0, -1);
    for (const e of events) expect(["copy", "mkdir", "link", "hardlink", "special", "meta", "delete", "backup"]).toContain(e.event);
    expect(events).toContainEqual({ event: "copy", path: "new.txt", type: "f", reason: ["new"], bytes: 4, itemize: ">f+++++++++ new.txt" });
    expect(events).toContainEqual({ event: "copy", path: "size.txt", type: "f", reason: ["size", "time"], bytes: 16, itemize: ">f.st...... size.txt" });
    expect(events).toContainEqual({ event: "mkdir", path: "newdir", type: "d", reason: ["new"], itemize: "cd+++++++++ newdir/" });
    expect(events).toContainEqual({ event: "delete", path: "extra.txt", type: "f", reason: ["extraneous"], itemize: "*deleting   extra.txt" });
    expect(events).toContainEqual({ event: "backup", path: "extra.txt", reason: ["deleted"], target: "bk/extra.txt" });
    expect(events).toContainEqual({ event: "backup", path: "size.txt", reason: ["replaced"], target: "bk/size.txt" });
  });

  test("a failed entry is an error event with its code, and the report still comes last", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "ok.txt": "ok\n", "clash": "a file in the source\n" });
    writeTree(dst, { "clash/inside.txt": "a directory in the destination\n" });
    const r = await blit(t, ["copy", "--json-lines", src, dst]);
    expect(r.exitCode).toBe(1);
    const objs = lines(r.stdout).map((l) => JSON.parse(l));
    expect(objs.at(-1).status).toBe("partial");
    const errors = objs.filter((o) => o.event === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ event: "error", path: "clash", code: "TYPE_CONFLICT" });
    expect(objs).toContainEqual({ event: "copy", path: "ok.txt", type: "f", reason: ["new"], bytes: 3, itemize: ">f+++++++++ ok.txt" });
  });
});

describe("--json", () => {
  test("stdout stays exactly one JSON object with -i and -v", async () => {
    const t = temps.make();
    const { src, dst } = await changeSet(t);
    const r = await blit(t, ["mirror", "--json", "-i", "-v", src, dst]);
    expect(r.exitCode).toBe(0);
    expect(r.json?.status).toBe("ok");
  });
});

describe("--stats", () => {
  test("prints rsync-like totals after the summary", async () => {
    const t = temps.make();
    const { src, dst } = await changeSet(t);
    const r = await blit(t, ["mirror", "--stats", src, dst]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("Number of files: ");
    expect(r.stdout).toContain("Number of deleted files: 3");
    expect(r.stdout).toContain("Total transferred file size: ");
  });
});
