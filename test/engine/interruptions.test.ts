// Runs that cannot finish: a full destination, Ctrl-C, kill -9. Whatever happens, no file appears
// under its final name with partial content and no temporary is left behind.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  blitTemps, diffR, metaDiff, MiB, recordedRuns, runCli, sh, sleep, startCli, tempDirs, unequalFiles, writeTree,
  type TreeSpec,
} from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

describe("no space left on the destination", () => {
  test("exit 2, 'no space left' on stderr, no temporaries, every file present is complete", async () => {
    const t = temps.make();
    const src = t.join("src");
    const spec: TreeSpec = {};
    for (let i = 0; i < 10; i++) spec[`part-${i}.bin`] = { size: MiB / 2 }; // 5 MiB in all
    writeTree(src, spec);
    const mnt = t.join("small");
    mkdirSync(mnt);
    sh("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt]);
    try {
      const dst = join(mnt, "dst");
      const r = await runCli(["copy", src, dst], { home: t.home });
      expect(r.exitCode).toBe(2);
      expect(r.stderr.toLowerCase()).toContain("no space left");
      expect(blitTemps(mnt)).toEqual([]);
      expect(unequalFiles(src, dst)).toEqual([]);
    } finally {
      sh("umount", [mnt]);
    }
  });
});

/** A 16 MiB file and a few small ones; at --bwlimit 2M the copy takes about 8 s. */
function slowJob() {
  const t = temps.make();
  const src = t.join("src");
  writeTree(src, { "large.bin": { size: 16 * MiB }, "small-1.txt": "one", "dir/small-2.txt": "two" });
  return { t, src, dst: t.join("dst") };
}

describe("interrupted runs", () => {
  test("Ctrl-C: exit 130, no partial file under its final name, no temporaries, recorded as interrupted", async () => {
    const { t, src, dst } = slowJob();
    const run = startCli(["copy", src, dst, "--bwlimit", "2M"], { home: t.home, timeoutMs: 30_000 });
    try {
      await sleep(1000);
      expect(run.proc.exitCode).toBeNull(); // still copying
      run.kill("SIGINT");
      const r = await run.done;
      expect(r.exitCode).toBe(130);
      expect(r.stderr).toContain("interrupted");
      expect(unequalFiles(src, dst)).toEqual([]);
      expect(blitTemps(dst)).toEqual([]);
      const runs = await recordedRuns(t.home);
      const mine = runs.filter((x) => x.destination === dst);
      expect(mine.length).toBe(1);
      expect(mine[0]).toMatchObject({ command: "copy", status: "interrupted", exitCode: 130, source: src });
    } finally {
      run.kill("SIGKILL");
    }
  });

  test("kill -9 mid-run: no partial file under its final name; the next run completes the job", async () => {
    const { t, src, dst } = slowJob();
    const run = startCli(["mirror", src, dst, "--bwlimit", "2M"], { home: t.home, timeoutMs: 30_000 });
    try {
      await sleep(1000);
      expect(run.proc.exitCode).toBeNull();
      run.kill("SIGKILL");
      const r = await run.done;
      expect(r.signalCode).toBe("SIGKILL");
      expect(unequalFiles(src, dst)).toEqual([]);
    } finally {
      run.kill("SIGKILL");
    }
    const next = await runCli(["mirror", src, dst], { home: t.home });
    expect(next.exitCode).toBe(0);
    expect(diffR(src, dst)).toEqual({ exitCode: 0, output: "" });
    expect(metaDiff(src, dst)).toEqual([]);
    expect(blitTemps(dst)).toEqual([]);
  });
});
