// Every run is recorded in BLIT_HOME/telemetry.duckdb and listed by `blit diagnostics perf`;
// telemetry can be turned off, and a broken store never fails a copy.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { diffR, recordedRuns, runCli, startCli, tempDirs, writeTree } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

function job() {
  const t = temps.make();
  const src = t.join("src");
  writeTree(src, { "a.txt": "aaa", "b.txt": "bbbb", "sub/c.txt": "ccccc" });
  return { t, src, dst: t.join("dst") };
}

describe("telemetry", () => {
  test("a run is listed by `blit diagnostics perf --json` with its command, status and counts", async () => {
    const { t, src, dst } = job();
    const r = await runCli(["mirror", src, dst, "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.json.telemetry).toBe(join(t.home, "telemetry.duckdb"));
    const runs = await recordedRuns(t.home);
    expect(runs.length).toBe(1);
    expect(runs[0]).toMatchObject({
      id: r.json.id, command: "mirror", status: "ok", exitCode: 0, source: src, destination: dst,
      files: 3, bytes: 12, copied: 3, copiedBytes: 12, errorCount: 0,
    });

    const again = await runCli(["copy", src, dst, "--json"], { home: t.home });
    const runs2 = await recordedRuns(t.home);
    expect(runs2.length).toBe(2);
    expect(runs2[0]).toMatchObject({ id: again.json.id, command: "copy", status: "ok", copied: 0, files: 3 });
  });

  test("a refused run (missing source) is recorded as failed with exit code 2", async () => {
    const t = temps.make();
    const r = await runCli(["copy", t.join("missing"), t.join("dst")], { home: t.home });
    expect(r.exitCode).toBe(2);
    const runs = await recordedRuns(t.home);
    expect(runs.length).toBe(1);
    expect(runs[0]).toMatchObject({ command: "copy", status: "failed", exitCode: 2 });
  });

  test("--no-telemetry records nothing", async () => {
    const { t, src, dst } = job();
    const r = await runCli(["copy", src, dst, "--no-telemetry", "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.json.telemetry).toBeNull();
    expect(await recordedRuns(t.home)).toEqual([]);
  });

  test("BLIT_TELEMETRY=off records nothing", async () => {
    const { t, src, dst } = job();
    const r = await runCli(["mirror", src, dst, "--json"], { home: t.home, env: { BLIT_TELEMETRY: "off" } });
    expect(r.exitCode).toBe(0);
    expect(r.json.telemetry).toBeNull();
    expect(await recordedRuns(t.home)).toEqual([]);
  });

  test("an unwritable BLIT_HOME (below a regular file) does not fail the run: exit 0 and one warning line", async () => {
    const { t, src, dst } = job();
    writeFileSync(t.join("not-a-dir"), "a regular file");
    const home = t.join("not-a-dir", "home");
    const r = await runCli(["mirror", src, dst], { home });
    expect(r.exitCode).toBe(0);
    const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
    expect(lines.length).toBe(1);
    expect(lines[0]!.toLowerCase()).toContain("warning");
    expect(diffR(src, dst).exitCode).toBe(0);
  });

  test("two runs started at the same time are both recorded", async () => {
    const { t, src } = job();
    const a = startCli(["mirror", src, t.join("dst-a"), "--json"], { home: t.home });
    const b = startCli(["copy", src, t.join("dst-b"), "--json"], { home: t.home });
    try {
      const [ra, rb] = await Promise.all([a.done, b.done]);
      expect(ra.exitCode).toBe(0);
      expect(rb.exitCode).toBe(0);
      expect(ra.stderr + rb.stderr).toBe("");
      const runs = await recordedRuns(t.home);
      expect(runs.map((x) => x.id).sort()).toEqual([ra.json.id, rb.json.id].sort());
      expect(runs.map((x) => x.command).sort()).toEqual(["copy", "mirror"]);
    } finally {
      a.kill();
      b.kill();
    }
  });
});
