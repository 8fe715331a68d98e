// The command line itself: help texts, usage errors, and the --json contract.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { runCli, tempDirs, writeTree } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const COPY_FLAGS = [
  "--dry-run", "--checksum", "--size-only", "--ignore-times", "--exclude", "--workers", "--bwlimit",
  "--progress", "--no-progress", "--json", "--verbose", "--no-telemetry", "--help",
];
const SHORT_FLAGS = ["-n", "-c", "-I", "-w", "-v", "-h"];
const MIRROR_FLAGS = [...COPY_FLAGS, "--max-delete", "--force"];

describe("help", () => {
  test("`blit copy --help` lists every copy flag and exits 0", async () => {
    const t = temps.make();
    const r = await runCli(["copy", "--help"], { home: t.home });
    expect(r.exitCode).toBe(0);
    for (const flag of [...COPY_FLAGS, ...SHORT_FLAGS]) expect({ flag, listed: r.stdout.includes(flag) }).toEqual({ flag, listed: true });
  });

  test("`blit mirror --help` lists every mirror flag, including --max-delete and --force", async () => {
    const t = temps.make();
    const r = await runCli(["mirror", "--help"], { home: t.home });
    expect(r.exitCode).toBe(0);
    for (const flag of [...MIRROR_FLAGS, ...SHORT_FLAGS]) expect({ flag, listed: r.stdout.includes(flag) }).toEqual({ flag, listed: true });
  });

  test("`blit --help` lists the commands, exit codes and environment", async () => {
    const t = temps.make();
    const r = await runCli(["--help"], { home: t.home });
    expect(r.exitCode).toBe(0);
    for (const word of ["blit copy", "blit mirror", "blit diagnostics perf", "130", "BLIT_HOME", "BLIT_TELEMETRY", "BLIT_WORKERS", "BLIT_BACKEND"]) {
      expect({ word, listed: r.stdout.includes(word) }).toEqual({ word, listed: true });
    }
  });

  test("`blit --help` lists every flag of copy and mirror", async () => {
    const t = temps.make();
    const r = await runCli(["--help"], { home: t.home });
    expect(r.exitCode).toBe(0);
    const missing = MIRROR_FLAGS.filter((flag) => !r.stdout.includes(flag));
    expect(missing).toEqual([]);
  });
});

describe("usage errors exit 2 with a message", () => {
  test("an unknown flag", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a": "a" });
    for (const cmd of ["copy", "mirror"]) {
      const r = await runCli([cmd, t.join("src"), t.join("dst"), "--frobnicate"], { home: t.home });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain("--frobnicate");
      expect(existsSync(t.join("dst"))).toBe(false);
    }
  });

  test("an unknown command", async () => {
    const t = temps.make();
    const r = await runCli(["synchronize", "a", "b"], { home: t.home });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("synchronize");
  });

  test("the wrong number of paths (0 or 1), or a missing one of several sources", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a": "a" });
    for (const paths of [[], [t.join("src")]]) {
      for (const cmd of ["copy", "mirror"]) {
        const r = await runCli([cmd, ...paths], { home: t.home });
        expect(r.exitCode).toBe(2);
        expect(r.stderr).toContain(`usage: blit ${cmd} SRC... DST`);
      }
    }
    for (const cmd of ["copy", "mirror"]) {
      // Several sources are checked before any is copied: nothing is written.
      const r = await runCli([cmd, t.join("src"), t.join("d1"), t.join("d2")], { home: t.home });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(`source '${t.join("d1")}' does not exist`);
    }
    expect(existsSync(t.join("d1"))).toBe(false);
    expect(existsSync(t.join("d2"))).toBe(false);
  });

  test("mirror-only flags given to copy", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a": "a" });
    for (const flag of [["--force"], ["--max-delete", "1"]]) {
      const r = await runCli(["copy", t.join("src"), t.join("dst"), ...flag], { home: t.home });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(flag[0]!);
    }
  });

  test("bad values: --workers 0, --workers x, --max-delete -1, --checksum with --size-only", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a": "a" });
    for (const flags of [["--workers", "0"], ["--workers", "x"], ["--max-delete", "-1"], ["--checksum", "--size-only"]]) {
      const r = await runCli(["mirror", t.join("src"), t.join("dst"), ...flags], { home: t.home });
      expect({ flags, exitCode: r.exitCode }).toEqual({ flags, exitCode: 2 });
      expect(r.stderr.length).toBeGreaterThan(0);
    }
    expect(existsSync(t.join("dst"))).toBe(false);
  });
});

describe("--json", () => {
  const isOneObject = (stdout: string) => {
    const v = JSON.parse(stdout);
    return typeof v === "object" && v !== null && !Array.isArray(v);
  };

  test("stdout is exactly one parseable JSON object: a successful run", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a": "a", "d/b": "b" });
    const r = await runCli(["mirror", t.join("src"), t.join("dst"), "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(isOneObject(r.stdout)).toBe(true);
    expect(r.stdout.trim().split("\n").length).toBe(1);
    expect(r.json).toMatchObject({ command: "mirror", status: "ok", exitCode: 0 });
  });

  test("stdout is exactly one JSON object even with --verbose, --dry-run and --progress", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a": "a", "d/b": "b" });
    const r = await runCli(["copy", t.join("src"), t.join("dst"), "--json", "--verbose", "--dry-run", "--progress"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(isOneObject(r.stdout)).toBe(true);
    expect(Array.isArray(r.json.actions)).toBe(true);
  });

  test("stdout is exactly one JSON object for a refused run (missing source)", async () => {
    const t = temps.make();
    const r = await runCli(["copy", t.join("missing"), t.join("dst"), "--json"], { home: t.home });
    expect(r.exitCode).toBe(2);
    expect(isOneObject(r.stdout)).toBe(true);
    expect(r.json).toMatchObject({ status: "failed", exitCode: 2 });
  });
});
