// The progress display: one line that fits the terminal's width (never wraps), names the file in
// flight, and off a terminal (--progress into a pipe or a log) prints a line at least every second.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { progressLine } from "../../tui/progress.ts";
import { hasTool, REPO_ROOT, tempDirs } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const HAS_TMUX = hasTool("tmux", "the terminal-width progress tests", "apt-get install tmux");

const LONG_NAME = "photos/2024/holiday-in-the-mountains/very-long-directory-name/IMG_20240817_123456_final_edit.jpg";
const midTransfer = {
  phase: "transfer" as const, filesDone: 1234, filesTotal: 5000, bytesDone: 1_288_490_189, bytesTotal: 5_368_709_120, current: LONG_NAME,
};

describe("progressLine", () => {
  test.each([40, 80, 200])("fits %p columns and keeps the most telling parts", (width) => {
    const line = progressLine(midTransfer, { elapsedMs: 12_000, transferMs: 10_000 }, width);
    expect(line.length).toBeLessThanOrEqual(width);
    expect(line).toStartWith(width >= 40 ? "transfer 24%  1.2 GiB/5.0 GiB  123 MiB/s" : "transfer 24%");
    if (width >= 80) expect(line).toContain("ETA 0:32  1,234/5,000 files");
    // The file in flight: whole when there is room, its end (the name) kept when there is not.
    if (width === 200) expect(line).toEndWith(`  ${LONG_NAME}`);
    if (width === 80) expect(line).toMatch(/files  …[^ ]*edit\.jpg$/);
  });

  test("a very narrow terminal still gets one line, not a wrapped one", () => {
    const line = progressLine(midTransfer, { elapsedMs: 1, transferMs: 1 }, 10);
    expect(line.length).toBeLessThanOrEqual(10);
  });

  test("a control character in the name cannot break the line", () => {
    const line = progressLine({ ...midTransfer, current: "a\nb\rc" }, { elapsedMs: 1000, transferMs: 1000 }, 200);
    expect(line).not.toMatch(/[\n\r]/);
    expect(line).toEndWith("a\\x0ab\\x0dc");
  });
});

/** A source of `files` files of `size` bytes each; with --bwlimit it takes a while to copy. */
function slowSource(root: string, files: number, size: number): void {
  mkdirSync(`${root}/deep/er`, { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(`${root}/deep/er/file-${i}.bin`, Buffer.alloc(size, i + 1));
}

describe.skipIf(!HAS_TMUX)("on a terminal (tmux) the line fits and never wraps", () => {
  test.each([40, 80, 200])("at %p columns", async (cols) => {
    const t = temps.make();
    slowSource(t.join("src"), 8, 512 * 1024);
    const socket = `blit-progress-${process.pid}-${cols}`;
    const tmux = (...args: string[]) => spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
    const command = `cd ${REPO_ROOT} && BLIT_HOME=${t.home} ${process.execPath} tui/blit.ts copy ${t.join("src")} ${t.join("dst")} --bwlimit 1M --no-telemetry; sleep 30`;
    try {
      expect(tmux("new-session", "-d", "-s", "p", "-x", String(cols), "-y", "12", command).status).toBe(0);
      const deadline = Date.now() + 20_000;
      let rows: string[] = [];
      // Wait for a transfer redraw (naming a file where there is room for one), then look at the whole screen.
      const ready = cols >= 80 ? /^transfer \d+%.*file-\d\.bin/ : /^transfer \d+%.*\/s/;
      for (;;) {
        rows = tmux("capture-pane", "-p", "-t", "p").stdout.split("\n").filter((l) => l.trim() !== "");
        if (rows.some((r) => ready.test(r))) break;
        if (Date.now() > deadline) throw new Error(`no transfer line naming a file; the pane shows:\n${rows.join("\n")}`);
        await Bun.sleep(100);
      }
      // One row: a line that wrapped would leave its tail (or earlier redraws) on other rows.
      expect(rows).toHaveLength(1);
      expect(rows[0]!.length).toBeLessThan(cols);
      expect(rows[0]).toMatch(/ B|KiB|MiB/);
      if (cols >= 80) expect(rows[0]).toContain("/s  ETA ");
      if (cols === 200) expect(rows[0]).toMatch(/files  deep\/er\/file-\d\.bin$/);
    } finally {
      tmux("kill-server");
      rmSync(`${process.env.TMUX_TMPDIR ?? "/tmp"}/tmux-${process.getuid?.() ?? 0}/${socket}`, { force: true });
    }
  }, 40_000);
});

describe("off a terminal, --progress", () => {
  test("prints a line at least every second", async () => {
    const t = temps.make();
    slowSource(t.join("src"), 4, 1024 * 1024);
    const proc = Bun.spawn([process.execPath, "tui/blit.ts", "copy", t.join("src"), t.join("dst"), "--progress", "--bwlimit", "1M", "--no-telemetry"], {
      cwd: REPO_ROOT, env: { ...process.env, BLIT_HOME: t.home }, stdin: "ignore", stdout: "pipe", stderr: "pipe",
    });
    try {
      const arrivals: number[] = [];
      const lines: string[] = [];
      const decoder = new TextDecoder();
      let partial = "";
      for await (const chunk of proc.stderr) {
        const now = performance.now();
        partial += decoder.decode(chunk, { stream: true });
        const parts = partial.split("\n");
        partial = parts.pop()!;
        for (const l of parts) {
          lines.push(l);
          arrivals.push(now);
        }
      }
      expect(await proc.exited).toBe(0);
      // 4 MiB at 1 MiB/s: about 4 s of transfer, so at least 3 lines, none more than ~1 s apart.
      expect(lines.length).toBeGreaterThanOrEqual(3);
      const gaps = arrivals.slice(1).map((a, i) => a - arrivals[i]!);
      expect(Math.max(...gaps)).toBeLessThan(1600);
      expect(lines.some((l) => /^transfer \d+% .* deep\/er\/file-\d\.bin$/.test(l))).toBe(true);
    } finally {
      proc.kill("SIGKILL");
    }
  }, 30_000);
});
