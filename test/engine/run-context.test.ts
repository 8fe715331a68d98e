// Every run records the machine around it (engine/run-context.ts, issue 13): blit's own CPU, the
// CPU count, both ends' devices as the kernel sees them, a timeline, the tracer and the other
// processes reading the destination; and the store keeps it (run_context, run_timeline).
import { afterEach, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { loadHistory, runTimeline, withStore } from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { REPO_ROOT, runCli, sh, sleep, tempDirs, writeTree } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const linux = process.platform === "linux";

/** `count` files of `size` random bytes under `dir`. */
function files(dir: string, count: number, size: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) writeFileSync(join(dir, `f${i}.bin`), crypto.getRandomValues(new Uint8Array(size)));
}

/** The filesystem type of the mount holding `path`, as df reports it. */
function dfType(path: string): string {
  return sh("df", ["--output=fstype", path]).trim().split("\n").at(-1)!.trim();
}

describe("a local run's context", () => {
  test.skipIf(!linux)("a mirror slowed by --bwlimit records its CPU, devices and a timeline, and the store gives them back", async () => {
    const t = temps.make();
    const src = t.join("src");
    files(src, 8, 192 << 10); // 1.5 MiB at 1 MiB/s: about 1.5 s, several 250 ms samples
    const r = await runCli(["mirror", src, t.join("dst"), "--bwlimit", "1M", "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    const report = r.json as RunReport;
    const ctx = report.context!;
    expect(ctx.cpuCount).toBe(availableParallelism());
    expect(ctx.self.userMs + ctx.self.systemMs).toBeGreaterThan(0);
    expect(ctx.self.voluntaryCtxSwitches).toBeGreaterThan(0);
    expect(ctx.load.start).toBeGreaterThanOrEqual(0);
    const dst = ctx.devices.find((d) => d.role === "destination")!;
    const source = ctx.devices.find((d) => d.role === "source")!;
    expect(dst.path).toBe(t.join("dst"));
    expect(dst.fsType).toBe(dfType(t.path));
    expect(source.fsType).toBe(dfType(src));
    expect(dst.mountPoint).toBe(sh("df", ["--output=target", t.path]).trim().split("\n").at(-1)!.trim());
    expect(dst.mountOptions.length).toBeGreaterThan(0);
    if (ctx.othersCpuShare !== undefined) expect(ctx.othersCpuShare).toBeGreaterThanOrEqual(0);
    expect(ctx.tracer).toBeUndefined();

    const timeline = report.timeline!;
    expect(timeline.length).toBeGreaterThanOrEqual(3);
    // Deltas: they add up to what the run copied, and time only moves forward.
    expect(timeline.reduce((a, s) => a + s.bytes, 0)).toBe(report.counts.copiedBytes);
    expect(timeline.reduce((a, s) => a + s.files, 0)).toBe(8);
    for (let k = 1; k < timeline.length; k++) expect(timeline[k]!.tMs).toBeGreaterThan(timeline[k - 1]!.tMs);
    expect(timeline.some((s) => (s.selfCpuMs ?? 0) > 0)).toBe(true);

    // The store: the run's context through loadHistory, its timeline through runTimeline.
    const [history, stored] = await withStore(join(t.home, "telemetry.duckdb"), async ({ conn }) => [await loadHistory(conn), await runTimeline(conn, report.id)] as const);
    expect(history.length).toBe(1);
    expect(history[0]!.context).toEqual(ctx);
    expect(stored).toEqual(timeline);
  });

  test("a small run has its context, and its timeline (none when it ended within 250 ms) is stored as reported", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a.txt": "a" });
    const r = await runCli(["copy", t.join("src"), t.join("dst"), "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.json.context.cpuCount).toBe(availableParallelism());
    if (r.json.phases.totalMs < 200) expect(r.json.timeline).toBeUndefined();
    const [history, stored] = await withStore(join(t.home, "telemetry.duckdb"), async ({ conn }) => [await loadHistory(conn), await runTimeline(conn, r.json.id)] as const);
    expect(history[0]!.context).toEqual(r.json.context);
    expect(stored).toEqual(r.json.timeline ?? []);
  });

  test.skipIf(!linux)("the page cache state of the files about to be copied: cold after they are dropped, warm once read", async () => {
    const t = temps.make();
    const src = t.join("src");
    files(src, 8, 256 << 10);
    sh("sync", []);
    // Drops these files' clean pages only (posix_fadvise DONTNEED), nothing else on the machine.
    for (let i = 0; i < 8; i++) sh("dd", [`if=${join(src, `f${i}.bin`)}`, "iflag=nocache", "count=0", "status=none"]);
    const cold = await runCli(["copy", src, t.join("dst1"), "--json", "--no-telemetry"], { home: t.home });
    expect(cold.exitCode).toBe(0);
    if (cold.json.context.sourceCached === undefined) {
      console.log("skipped: no cachestat(2) on this kernel (Linux 6.5+)");
      return;
    }
    expect(cold.json.context.sourceCached).toBeLessThan(0.3);
    for (let i = 0; i < 8; i++) sh("cat", [join(src, `f${i}.bin`)]);
    const warm = await runCli(["copy", src, t.join("dst2"), "--json", "--no-telemetry"], { home: t.home });
    expect(warm.json.context.sourceCached).toBeGreaterThan(0.9);
    // A run that copies nothing samples nothing.
    const none = await runCli(["copy", src, t.join("dst2"), "--json", "--no-telemetry"], { home: t.home });
    expect(none.json.context.sourceCached).toBeUndefined();
  });

  test.skipIf(!linux || !has("strace"))("a run under `strace -f` names strace as its tracer", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a.txt": "aaa", "sub/b.txt": "bb" });
    const out = spawnSync("strace", ["-f", "-o", "/dev/null", process.execPath, "tui/blit.ts", "mirror", t.join("src"), t.join("dst"), "--json", "--no-telemetry"], {
      cwd: REPO_ROOT, encoding: "utf8", timeout: 60_000, env: { ...process.env, BLIT_HOME: t.home },
    });
    expect(out.status).toBe(0);
    const report = JSON.parse(out.stdout) as RunReport;
    expect(report.context!.tracer?.name).toBe("strace");
    expect(report.context!.tracer!.pid).toBeGreaterThan(0);
  });

  test.skipIf(!linux || !has("tail"))("a process holding a file under DST open during the run is named among its openers", async () => {
    const t = temps.make();
    const src = t.join("src");
    files(src, 6, 256 << 10); // 1.5 MiB at 512 KiB/s: about 3 s, past the first scan at 1 s
    mkdirSync(t.join("dst"));
    writeFileSync(t.join("dst", "watched.log"), "held open by tail\n");
    const reader = spawn("tail", ["-f", t.join("dst", "watched.log")], { stdio: "ignore" });
    try {
      await sleep(100);
      const r = await runCli(["copy", src, t.join("dst"), "--bwlimit", "512K", "--json", "--no-telemetry"], { home: t.home });
      expect(r.exitCode).toBe(0);
      const openers = (r.json as RunReport).context!.openers!;
      expect(openers).toContainEqual({ pid: reader.pid!, name: "tail", files: 1 });
      expect(openers.some((o) => o.name === "bun" || o.pid === r.json.pid)).toBe(false);
    } finally {
      reader.kill("SIGKILL");
    }
  });

  test.skipIf(!linux || process.getuid?.() !== 0 || !has("mkfs.ext4"))("a destination on a loop device mounted -o sync reads as loop and sync, not plain ext4", async () => {
    const t = temps.make();
    writeFileSync(t.join("img"), "");
    sh("truncate", ["-s", "32M", t.join("img")]);
    sh("mkfs.ext4", ["-q", t.join("img")]);
    mkdirSync(t.join("mnt"));
    const mounted = spawnSync("mount", ["-o", "loop,sync", t.join("img"), t.join("mnt")]);
    if (mounted.status !== 0) {
      console.log(`skipped: cannot mount a loop device here (${String(mounted.stderr).trim()})`);
      return;
    }
    try {
      writeTree(t.join("src"), { "a.txt": "aaa" });
      const r = await runCli(["mirror", t.join("src"), t.join("mnt", "dst"), "--json", "--no-telemetry"], { home: t.home });
      expect(r.exitCode).toBe(0);
      const dst = (r.json as RunReport).context!.devices.find((d) => d.role === "destination")!;
      expect(dst).toMatchObject({ mountPoint: t.join("mnt"), fsType: "ext4", deviceClass: "loop", sync: true });
      expect(dst.device).toMatch(/^loop\d+$/);
      expect(dst.mountOptions).toContain("sync");
      // The loop device's own /proc/diskstats line was diffed: the mirror wrote to it.
      expect(dst.disk!.writeIos).toBeGreaterThan(0);
    } finally {
      spawnSync("umount", [t.join("mnt")]);
    }
  });

  test.skipIf(!linux)("a destination on tmpfs is a memory device, and one not made yet is described by its nearest parent", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a.txt": "aaa" });
    mkdirSync(t.join("shm"));
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", t.join("shm")]);
    if (mounted.status !== 0) {
      console.log("skipped: cannot mount a tmpfs here");
      return;
    }
    try {
      const r = await runCli(["copy", t.join("src"), t.join("shm", "new", "dst"), "--json", "--no-telemetry", "--dry-run"], { home: t.home });
      expect(r.exitCode).toBe(0);
      const dst = (r.json as RunReport).context!.devices.find((d) => d.role === "destination")!;
      expect(dst).toMatchObject({ path: t.join("shm", "new", "dst"), mountPoint: t.join("shm"), fsType: "tmpfs", deviceClass: "memory", sync: false });
      expect(dst.disk).toBeUndefined();
    } finally {
      spawnSync("umount", [t.join("shm")]);
    }
  });
});
