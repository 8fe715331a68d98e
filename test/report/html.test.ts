// `blit report --html`: a real store (real mirrors through the CLI, one throttled so it has a
// timeline, one from a source whose path holds `<script>` and an <img onerror>; and a month of
// realistic recorded runs on two routes with one far-slow outlier), the real CLI writing the
// page, and the page opened in headless Chromium with the network cut: no errors, no request
// but the file itself, every chart drawn with one point per run or sample, a screenshot taken.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { recordMany } from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { escapeHtml, jsonForScript } from "../../tui/report/index.ts";
import { cli, makeTree, realisticMs, seeded, syntheticReport, tempDir } from "../diagnose/helpers.ts";
import { CHART_PIXELS, CHROMIUM, launchChromium, type Browser } from "./chromium.ts";

const DAY = 86_400_000;
const tmp = tempDir();
const home = join(tmp.dir, "home");
// Two directory levels, so that the whole path reads `…/x<script>…</script><img …>/src`.
const EVIL_DIR = join(tmp.dir, "x<script>window.blitPwned=1;<", "script><img src=x onerror=window.blitPwned=2>");
const EVIL_TEXT = "<script>window.blitPwned=1;</script><img src=x onerror=window.blitPwned=2>";

let throttled: RunReport;
let unchanged: RunReport;
let outlier: RunReport;
const recorded: RunReport[] = [];

beforeAll(async () => {
  // Real runs: 2 MB at 1 MiB/s (about 2 s: several timeline samples), then again (nothing to copy).
  const src = makeTree(join(EVIL_DIR, "src"), 40, 50_000);
  const first = await cli(["mirror", src, join(tmp.dir, "dst"), "--bwlimit", "1M", "--json"], home);
  if (first.code !== 0) throw new Error(`throttled run failed: ${first.stderr}`);
  throttled = JSON.parse(first.stdout) as RunReport;
  const second = await cli(["mirror", src, join(tmp.dir, "dst"), "--json"], home);
  if (second.code !== 0) throw new Error(`second run failed: ${second.stderr}`);
  unchanged = JSON.parse(second.stdout) as RunReport;
  // A month of nightly local mirrors of a similar tree, one 4× slower, ten pushes, one run too old for the window.
  const random = seeded(16);
  const now = Date.now();
  for (let i = 0; i < 20; i++) {
    const files = 4000 + Math.round(random() * 1000);
    const bytes = 40e6 + Math.round(random() * 20e6);
    recorded.push(syntheticReport({ files, bytes, totalMs: realisticMs(files, bytes, Math.exp((random() - 0.5) * 0.2)), startedAt: new Date(now - (25 - i) * DAY) }));
  }
  outlier = syntheticReport({ files: 4500, bytes: 50e6, totalMs: realisticMs(4500, 50e6, 4), startedAt: new Date(now - 3 * DAY) });
  recorded.push(outlier);
  for (let i = 0; i < 10; i++) {
    const push = syntheticReport({ files: 800, bytes: 200e6, totalMs: realisticMs(800, 200e6, 3 + random()), startedAt: new Date(now - (20 - 2 * i) * DAY + 3_600_000) });
    const transport = { kind: "tcp" as const, negotiateMs: 5, transferMs: push.phases.transferMs, completeMs: 2 };
    recorded.push({ ...push, route: "push", transport, destination: "blit://nas-1:9031/backup" });
  }
  const old = syntheticReport({ files: 4200, bytes: 45e6, totalMs: realisticMs(4200, 45e6, 1), startedAt: new Date(now - 60 * DAY) });
  const added = await recordMany([...recorded, old], { path: tmp.store });
  if (added.added !== recorded.length + 1) throw new Error(`recordMany: ${JSON.stringify(added.rejected)}`);
}, 60_000);

afterAll(() => (process.env.BLIT_KEEP_REPORT ? console.log(`kept ${tmp.dir}`) : tmp.remove()));

/** Runs of the 30-day window: the recorded ones and the two real ones. */
const windowRuns = () => [...recorded, throttled, unchanged];
const movedData = (r: RunReport) => r.counts.copiedBytes > 0 && r.phases.transferMs > 0;

async function report(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cli(["report", ...args], home);
}

/** Opens `file` in the browser and checks what a person would notice: no errors, and no request but the file itself. */
async function openedCleanly(browser: Browser, file: string): Promise<void> {
  const events = await browser.open(file);
  expect(events.exceptions).toEqual([]);
  expect(events.consoleErrors).toEqual([]);
  expect(events.logErrors).toEqual([]);
  expect(events.requests).toEqual([Bun.pathToFileURL(file).href]);
}

describe("the command", () => {
  test("a history page is written; stdout names the file and sums it up in one line", async () => {
    const file = join(tmp.dir, "history.html");
    const r = await report(["--html", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(`wrote ${file}`);
    expect(r.stdout).toContain(`history since 30d: ${windowRuns().length} runs of ${windowRuns().length + 1}`);
    const html = readFileSync(file, "utf8");
    // Self-contained: no external script, stylesheet, font or image.
    expect(html).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=/i);
    expect(html).not.toMatch(/@import|url\(\s*['"]?https?:/i);
    expect(html).toContain("var uPlot=");
  });

  test("a path holding <script> and <img onerror> is text in the page, never markup", async () => {
    const file = join(tmp.dir, "evil.html");
    const r = await report(["--html", file, throttled.id.slice(0, 8)]);
    expect(r.code).toBe(0);
    const html = readFileSync(file, "utf8");
    // As text only: the markup never appears raw (checked as booleans: a failure would print the whole page).
    expect({ rawScript: html.includes("<script>window.blitPwned"), rawImg: html.includes("<img") }).toEqual({ rawScript: false, rawImg: false });
    expect(html.includes(escapeHtml(EVIL_TEXT))).toBe(true);
    expect(html.match(/<script/g)?.length).toBe(3); // the data block, uPlot, the chart script
  });

  test("a run id that matches nothing: a clear error, exit 2, and no file (not even a temporary one)", async () => {
    const dir = join(tmp.dir, "out-bad-id");
    mkdirSync(dir);
    const file = join(dir, "r.html");
    const r = await report(["--html", file, "feedbeef"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("blit: no run 'feedbeef' in the store (see 'blit diagnostics perf' for recent run ids)\n");
    expect(readdirSync(dir)).toEqual([]);
  });

  test("FILE that cannot be written: the error names it and the cause, exit 2; an old FILE is left whole", async () => {
    const missing = join(tmp.dir, "no-such-dir", "r.html");
    const r = await report(["--html", missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot write the report to ${missing}: ENOENT`);
    // A directory in FILE's place: the rename fails after the page was made; the temp file goes.
    const dir = join(tmp.dir, "out-is-dir");
    mkdirSync(join(dir, "r.html"), { recursive: true });
    const r2 = await report(["--html", join(dir, "r.html")]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain(`cannot write the report to ${join(dir, "r.html")}`);
    expect(readdirSync(dir)).toEqual(["r.html"]);
    expect(statSync(join(dir, "r.html")).isDirectory()).toBe(true);
  });

  test("usage: --html is required; a run and --since, or a run and --last, do not go together", async () => {
    const noHtml = await report([]);
    expect(noHtml.code).toBe(2);
    expect(noHtml.stderr).toContain("--html FILE is required");
    const both = await report(["--html", join(tmp.dir, "x.html"), throttled.id, "--since", "7d"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--since is for the history report");
    const help = await cli(["help", "report"], home);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("blit report --html FILE");
    expect(existsSync(join(tmp.dir, "x.html"))).toBe(false);
  });
});

describe("--store", () => {
  test("reads the store it names, whatever BLIT_HOME says; a path with no store is refused and not created", async () => {
    const file = join(tmp.dir, "from-store.html");
    const elsewhere = join(tmp.dir, "other-home");
    const r = await cli(["report", "--html", file, "--store", tmp.store], elsewhere);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`history since 30d: ${windowRuns().length} runs`);
    const missing = join(tmp.dir, "no-store", "telemetry.duckdb");
    const bad = await cli(["report", "--html", join(tmp.dir, "none.html"), "--store", missing], elsewhere);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`--store ${missing}: no such store file or folder`);
    expect(existsSync(missing)).toBe(false);
    expect(existsSync(join(tmp.dir, "none.html"))).toBe(false);
  });

  test("--last on a store with no runs: says so, exit 2, no file", async () => {
    const empty = join(tmp.dir, "empty-home");
    const r = await cli(["report", "--html", join(tmp.dir, "empty.html"), "--last"], empty);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no runs recorded yet in");
    expect(existsSync(join(tmp.dir, "empty.html"))).toBe(false);
  });
});

describe("the JSON data block", () => {
  test("'</script>' and '<!--' in a value cannot end or open anything; JSON.parse gives the value back", () => {
    const value = { path: "a</script><!--b-->\u2028", n: 1 };
    const text = jsonForScript(value);
    expect(text).not.toContain("</");
    expect(text).not.toContain("<!--");
    expect(JSON.parse(text)).toEqual(value);
  });
});

const CHROMIUM_SUITE = `opened in headless Chromium with the network off${CHROMIUM ? "" : " (skipped: no chromium on PATH; apt-get install -y chromium)"}`;

describe.skipIf(CHROMIUM === undefined)(CHROMIUM_SUITE, () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  test("the network is really off: a page that fetches shows the request, and the request fails", async () => {
    const file = join(tmp.dir, "control.html");
    writeFileSync(file, `<!DOCTYPE html><img src="http://example.com/x.png"><script>window.blitReady = true;</script>`);
    const events = await browser.open(file);
    expect(events.requests).toContain("http://example.com/x.png");
    expect(await browser.evaluate<string>(`fetch("http://example.com/").then(() => "answered", () => "failed")`)).toBe("failed");
  }, 60_000);

  test("a window with no runs: the page says so, draws no chart, and logs no error", async () => {
    const file = join(tmp.dir, "empty-window.html");
    const r = await report(["--html", file, "--since", "2099-01-01"]);
    expect(r.code).toBe(0);
    const events = await browser.open(file);
    expect([...events.exceptions, ...events.consoleErrors, ...events.logErrors]).toEqual([]);
    expect(await browser.evaluate<unknown[]>("window.blitCharts")).toEqual([]);
    expect(await browser.evaluate<string>("document.body.innerText")).toContain("no runs since 2099-01-01");
  }, 60_000);

  test("the history page: no errors, no request but the file, both charts drawn with one point per run, a screenshot", async () => {
    const file = join(tmp.dir, "history.html");
    if (!existsSync(file)) expect((await report(["--html", file])).code).toBe(0);
    await openedCleanly(browser, file);
    const charts = await browser.evaluate<{ id: string; points: number; series: { label: string; points: number }[] }[]>("window.blitCharts");
    const runs = windowRuns();
    expect(charts.map((c) => c.id)).toEqual(["duration", "rate"]);
    expect(charts[0]!.points).toBe(runs.length);
    expect(charts[0]!.series.find((s) => s.label === "actual")!.points).toBe(runs.length);
    expect(charts[0]!.series.find((s) => s.label === "predicted")!.points).toBe(runs.length);
    // The flagged runs ringed: the outlier and the throttled run at least, as many as the page's count says.
    const flagged = charts[0]!.series.find((s) => s.label === "flagged")!.points;
    expect(flagged).toBeGreaterThanOrEqual(2);
    expect(await browser.evaluate<string>("document.querySelector('.lead').textContent")).toContain(`; ${flagged} flagged.`);
    expect(charts[1]!.series).toEqual([
      { label: "local", points: runs.filter((r) => r.route === "local" && movedData(r)).length },
      { label: "push", points: runs.filter((r) => r.route === "push" && movedData(r)).length },
    ]);
    const pixels = await browser.evaluate<{ id: string; colored: number }[]>(CHART_PIXELS);
    expect(pixels.map((p) => p.id)).toEqual(["chart-duration", "chart-rate"]);
    for (const p of pixels) expect({ id: p.id, drawn: p.colored > 500 }).toEqual({ id: p.id, drawn: true });
    // The outlier is in the flagged table, with its flag.
    const text = await browser.evaluate<string>("document.body.innerText");
    expect(text).toContain(outlier.id);
    expect(text).toContain("slow-vs-prediction");
    const png = await browser.screenshot();
    const shot = join(tmp.dir, "history.png");
    writeFileSync(shot, png);
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    expect(png.length).toBeGreaterThan(30_000);
    console.log(`screenshot: ${shot} (${png.length} bytes)`);
  }, 60_000);

  test("a run's page: its timeline drawn with one point per sample, phases, evidence; the planted markup inert", async () => {
    const file = join(tmp.dir, "evil.html");
    if (!existsSync(file)) expect((await report(["--html", file, throttled.id])).code).toBe(0);
    await openedCleanly(browser, file);
    const charts = await browser.evaluate<{ id: string; points: number; series: { label: string; points: number }[] }[]>("window.blitCharts");
    expect(throttled.timeline!.length).toBeGreaterThanOrEqual(4);
    expect(charts.map((c) => ({ id: c.id, points: c.points }))).toEqual([{ id: "timeline", points: throttled.timeline!.length }]);
    expect(charts[0]!.series[0]).toEqual({ label: "throughput", points: throttled.timeline!.length });
    if (throttled.timeline!.some((s) => s.selfCpuMs !== undefined)) expect(charts[0]!.series.map((s) => s.label)).toContain("blit CPU (of all cores)");
    const pixels = await browser.evaluate<{ id: string; colored: number }[]>(CHART_PIXELS);
    expect(pixels.length).toBe(1);
    expect(pixels[0]!.colored).toBeGreaterThan(500);
    const page = await browser.evaluate<{ pwned: unknown; imgs: number; scripts: number; text: string }>(
      `({ pwned: window.blitPwned ?? null, imgs: document.images.length, scripts: document.scripts.length, text: document.body.innerText })`,
    );
    expect(page.pwned).toBeNull();
    expect(page.imgs).toBe(0);
    expect(page.scripts).toBe(3);
    expect(page.text).toContain(EVIL_TEXT);
    expect(page.text).toContain("throttled");
    for (const phase of ["enumerate", "plan", "transfer", "delete"]) expect(page.text).toContain(phase);
    expect(page.text).toMatch(/\bE1\b/);
    const png = await browser.screenshot();
    writeFileSync(join(tmp.dir, "run.png"), png);
    expect(png.length).toBeGreaterThan(30_000);
  }, 60_000);
});
