// `blit diagnose --ai` in real terminals of several sizes (tmux): the title, the run list, a run's
// page and the Explain panel stay readable and on screen, with one key line; columns are left
// out whole rather than cut; a resize is followed; Ctrl-C ends the command with 130.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import type { RunReport } from "../../engine/index.ts";
import { hasTool } from "../helpers/index.ts";
import { cli, join, makeTree, PROJECT_ROOT, tempDir } from "./helpers.ts";

const HAS_TMUX = hasTool("tmux", "the diagnose UI terminal-size tests", "apt-get install tmux");

const tmp = tempDir();
const home = join(tmp.dir, "home");
let throttled: RunReport;

beforeAll(async () => {
  if (!HAS_TMUX) return;
  const src = makeTree(join(tmp.dir, "src"), 60, 4000);
  for (let i = 0; i < 2; i++) {
    const r = await cli(["mirror", src, join(tmp.dir, `dst${i}`), "--json"], home);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  const r = await cli(["mirror", src, join(tmp.dir, "slow-dst"), "--bwlimit", "400K", "--json"], home);
  if (r.code !== 0) throw new Error(r.stderr);
  throttled = JSON.parse(r.stdout) as RunReport;
}, 60_000);

afterAll(() => tmp.remove());

const TITLE = "blit diagnose --ai";
const LIST_KEYS = "↑↓ move · Enter open";
const PAGE_KEYS = "e explain · Esc back";
const PANEL_KEYS = "↑↓ claim · n numbers";

/** A tmux server of its own, one session running the UI at cols×rows; `stop` ends it all. */
function terminal(cols: number, rows: number) {
  const socket = `blit-fit-${process.pid}-${cols}x${rows}`;
  const tmux = (...args: string[]) => spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
  const command = `cd ${PROJECT_ROOT} && env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u BLIT_AI_MODEL BLIT_HOME=${home} ${process.execPath} tui/blit.ts diagnose --ai; echo "EXIT=$?"; sleep 60`;
  if (tmux("new-session", "-d", "-s", "ai", "-x", String(cols), "-y", String(rows), command).status !== 0) throw new Error("tmux new-session failed");
  const pane = () => tmux("capture-pane", "-p", "-t", "ai").stdout.replace(/\n$/, "").split("\n");
  return {
    pane,
    keys: (...k: string[]) => tmux("send-keys", "-t", "ai", ...k),
    resize: (x: number, y: number) => tmux("resize-window", "-t", "ai", "-x", String(x), "-y", String(y)),
    async waitFor(what: string | RegExp, timeoutMs = 15_000): Promise<string[]> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const lines = pane();
        const text = lines.join("\n");
        // A frame is read once drawn whole (a redraw after a resize can be caught half way).
        const drawn = lines[0]?.includes("explainer:") || text.includes("EXIT=");
        if (drawn && (typeof what === "string" ? text.includes(what) : what.test(text))) return lines;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(what)}; the pane shows:\n${text}`);
        await Bun.sleep(100);
      }
    },
    stop: () => {
      tmux("kill-server");
      rmSync(tmuxSocket(socket), { force: true });
    },
  };
}

/** Where tmux keeps the socket of `-L name` (it stays behind after kill-server). */
const tmuxSocket = (name: string) => `${process.env.TMUX_TMPDIR ?? "/tmp"}/tmux-${process.getuid?.() ?? 0}/${name}`;

const count = (lines: string[], text: string) => lines.filter((l) => l.includes(text)).length;

/** The screen's frame: the title on the first row, exactly one key line, nothing taller than the terminal. */
function expectFrame(lines: string[], rows: number, keys: string): void {
  expect(lines.length).toBeLessThanOrEqual(rows);
  expect(lines[0]).toStartWith(TITLE);
  expect(lines[0]).toContain("explainer: offline rules");
  expect(count(lines, TITLE)).toBe(1);
  expect(count(lines, keys)).toBe(1);
  expect(count(lines, " q quit")).toBe(1);
}

describe.skipIf(!HAS_TMUX)("the diagnose UI fits its terminal", () => {
  for (const [cols, rows] of [[80, 24], [200, 50]] as const) {
    test(`${cols}×${rows}: list, run page, Explain panel; Ctrl-C exits 130`, async () => {
      const t = terminal(cols, rows);
      try {
        // The list, scored (the throttled run carries its "i" mark).
        let lines = await t.waitFor(/^> .*\si(\s|$)/m);
        expectFrame(lines, rows, LIST_KEYS);
        const header = lines.find((l) => l.includes("STARTED"))!;
        expect(header).toMatch(/^ {2}STARTED +ROUTE +(FILES +)?SIZE +TOOK +PREDICTED( +80% BAND)? +F( +ID)?$/);
        if (cols === 200) expect(header).toMatch(/80% BAND +F +ID$/);
        expect(count(lines, "3 of 3 recent runs shown")).toBe(1);

        // The help: its title under the app's, the app's title still on the first row.
        t.keys("?");
        lines = await t.waitFor("any key closes the help");
        expect(lines.length).toBeLessThanOrEqual(rows);
        expect(lines[0]).toStartWith(TITLE);
        expect(count(lines, "│ Keys")).toBe(1);
        expect(count(lines, "any key closes the help")).toBe(1);
        t.keys("x");
        await t.waitFor(LIST_KEYS);

        // The run's page: its title under the app's, one key line.
        t.keys("Enter");
        lines = await t.waitFor("Actual ");
        expectFrame(lines, rows, PAGE_KEYS);
        expect(lines[2]).toBe(`Run ${throttled.id}`);
        expect(count(lines, "e explain this run")).toBe(0);

        // The Explain panel: the run's title and the panel's title both on screen.
        t.keys("e");
        lines = await t.waitFor("answered by: offline rules");
        expectFrame(lines, rows, PANEL_KEYS);
        expect(lines[2]).toContain(`Run ${throttled.id}`);
        expect(count(lines, "Explain · answered by: offline rules")).toBe(1);
        expect(lines.join("\n")).toMatch(/> Cause 1 \[E\d+/);
        expect(lines.join("\n")).toContain("Try: blit mirror");
        t.keys("n");
        lines = await t.waitFor("Numbers behind Cause 1:");
        expectFrame(lines, rows, PANEL_KEYS);

        t.keys("C-c");
        await t.waitFor("EXIT=130", 5000);
      } finally {
        t.stop();
      }
    }, 60_000);
  }

  test("90×20: no column is cut; a resize to 200×50 and back is followed", async () => {
    const t = terminal(90, 20);
    try {
      let lines = await t.waitFor(/^> .*\si(\s|$)/m);
      expectFrame(lines, 20, LIST_KEYS);
      const header = lines.find((l) => l.includes("STARTED"))!;
      // Every column shown is whole: the header ends on a full title, each row on a whole cell.
      expect(header).toMatch(/ (F|ID)$/);
      expect(header.length).toBeLessThan(90);
      for (const row of lines.filter((l) => /^[> ] \d\d-\d\d \d\d:\d\d /.test(l))) expect(row.length).toBeLessThan(90);

      t.resize(200, 50);
      lines = await t.waitFor(/STARTED .* ID$/m);
      expectFrame(lines, 50, LIST_KEYS);
      t.resize(80, 24);
      lines = await t.waitFor(/STARTED .* F$/m);
      expectFrame(lines, 24, LIST_KEYS);
      t.keys("q");
      await t.waitFor("EXIT=0", 5000);
    } finally {
      t.stop();
    }
  }, 60_000);
});
