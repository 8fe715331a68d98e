#!/usr/bin/env bun
// Benchmark of `blit diagnose --ai` on a large history: fills a temp store with 10,000 realistic
// runs (recordMany), then renders the UI into a fake terminal and times, from the call to the
// first frame that shows the run list (target < 1 s), and to the frame with predictions and
// flags. "cold" is the first open after the runs were added (the predictor is fitted and saved);
// "warm" reopens with the saved fit. The store is removed at the end, whatever happens.
//
//   bun test/bench/ai-bench.ts [--runs 10000] [--repeat 5]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createElement } from "react";
import { render } from "ink";
import { aiSettings, recordMany } from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { DiagnoseApp, storeSource } from "../../tui/index.ts";
import { seeded, syntheticReport } from "../diagnose/helpers.ts";
import { FakeStdin, FakeStdout, stripAnsi } from "../ai/helpers.ts";

const { values } = parseArgs({ options: { runs: { type: "string" }, repeat: { type: "string" } } });
const RUNS = Number(values.runs ?? 10_000);
const REPEAT = Number(values.repeat ?? 5);
const DAY = 86_400_000;

function makeRuns(n: number, now: number): RunReport[] {
  const random = seeded(42);
  const out: RunReport[] = [];
  for (let i = 0; i < n; i++) {
    const files = Math.round(Math.exp(Math.log(10) + random() * Math.log(20_000)));
    const bytes = Math.round(files * Math.exp(Math.log(30_000) + (random() - 0.5) * 3));
    const totalMs = (45 + 0.035 * files + 2.2e-6 * bytes) * Math.exp((random() - 0.5) * 0.3) * (random() < 0.02 ? 4 : 1);
    out.push(syntheticReport({
      files, bytes, totalMs,
      startedAt: new Date(now - 30 * DAY + (i / n) * 30 * DAY),
      workers: [2, 4, 8, 16][Math.floor(random() * 4)]!,
      bwlimit: random() < 0.03 ? 10 * 1024 * 1024 : 0,
      copied: random() < 0.25 ? 0 : files,
      destinationFs: random() < 0.3 ? "xfs" : "ext4",
    }));
  }
  return out;
}

/** Renders the UI into a fake 160×48 terminal; resolves the times to the list and to the scored list. */
async function open(path: string): Promise<{ listMs: number; scoredMs: number }> {
  const stdout = new FakeStdout(160, 48);
  const stdin = new FakeStdin();
  let listMs = 0;
  let scoredMs = 0;
  const t0 = performance.now();
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const write = stdout.write.bind(stdout);
  stdout.write = (text: string, cb?: () => void) => {
    const frame = stripAnsi(text);
    // The list is up when a run row shows (its duration column); scored when flag marks replace "…".
    if (!listMs && /^> \d{4}-\d\d-\d\d /m.test(frame)) listMs = performance.now() - t0;
    if (!scoredMs && listMs && /^> .*\d{4}-\d\d-\d\d .*\)\s+[ !i]\s+\w{8}/m.test(frame)) {
      scoredMs = performance.now() - t0;
      done();
    }
    return write(text, cb);
  };
  const source = storeSource({ path, settings: aiSettings({}) });
  const instance = render(createElement(DiagnoseApp, { source }), {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    interactive: true,
    patchConsole: false,
    exitOnCtrlC: false,
  });
  const timeout = setTimeout(done, 30_000);
  await finished;
  clearTimeout(timeout);
  instance.unmount();
  await instance.waitUntilExit();
  return { listMs, scoredMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(tmpdir(), "blit-bench-ai-"));
try {
  const path = join(dir, "telemetry.duckdb");
  let t = performance.now();
  const filled = await recordMany(makeRuns(RUNS, Date.now()), { path });
  process.stderr.write(`filled ${filled.added} runs in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);

  const cold = await open(path);
  const warm: { listMs: number; scoredMs: number }[] = [];
  for (let i = 0; i < REPEAT; i++) warm.push(await open(path));
  const warmList = median(warm.map((w) => w.listMs));
  const warmScored = median(warm.map((w) => w.scoredMs));
  console.log(`diagnose --ai benchmark: ${RUNS.toLocaleString("en-US")} runs, 160×48 fake terminal, first screen = the run list`);
  console.log(`  cold (predictor fitted on open): first screen ${cold.listMs.toFixed(0)} ms, predictions and flags ${cold.scoredMs.toFixed(0)} ms`);
  console.log(`  warm (saved fit, median of ${REPEAT}):  first screen ${warmList.toFixed(0)} ms, predictions and flags ${warmScored.toFixed(0)} ms`);
  console.log(`  target first screen < 1000 ms: ${cold.listMs < 1000 && warmList < 1000 ? "PASS" : "MISS"}`);
  console.log(JSON.stringify({ runs: RUNS, coldFirstScreenMs: Math.round(cold.listMs), coldScoredMs: Math.round(cold.scoredMs), warmFirstScreenMs: Math.round(warmList), warmScoredMs: Math.round(warmScored) }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
