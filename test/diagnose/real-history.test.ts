// The predictor, the flags and the explainer on a store filled by real runs made here: mirrors
// of trees of different sizes through the engine, one throttled run through the real CLI, and one
// single-worker run on many small files.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  diagnoseHistory, diagnoseRun, DIAGNOSE_REPORT_SCHEMA, predictFor, schemaProblems, uncitedClaims, withStore
} from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { diagnoseCommand, predictCommand } from "../../tui/diagnose-command.ts";
import { cli, fakeIo, makeTree, realRun, tempDir } from "./helpers.ts";

const tmp = tempDir();
const home = join(tmp.dir, "home");
let throttledId = "";
let singleWorker: RunReport;

// Files × bytes per file: from a few large files to many small ones.
const SHAPES: [number, number][] = [
  [20, 1000], [50, 50_000], [100, 4000], [200, 20_000], [300, 2000], [500, 8000],
  [800, 1000], [1000, 16_000], [1500, 2000], [100, 200_000], [10, 2_000_000], [400, 30_000],
];

beforeAll(async () => {
  const trees = SHAPES.map(([files, size], i) => makeTree(join(tmp.dir, `src${i}`), files, size));
  // Two rounds, each into a fresh destination: 24 real, complete, unthrottled runs.
  for (let round = 0; round < 2; round++) {
    for (const [i, src] of trees.entries()) await realRun(src, join(tmp.dir, `dst${round}-${i}`), tmp.store);
  }
  // Many small files with a single worker.
  const small = makeTree(join(tmp.dir, "small"), 3000, 1000, 30);
  singleWorker = await realRun(small, join(tmp.dir, "small-dst"), tmp.store, { workers: 1 });
  // Slow on purpose: 1.5 MB at 1 MiB/s through the real CLI.
  const throttled = makeTree(join(tmp.dir, "throttled"), 150, 10_000);
  const r = await cli(["mirror", throttled, join(tmp.dir, "throttled-dst"), "--bwlimit", "1M", "--json"], home);
  if (r.code !== 0) throw new Error(`throttled run failed: ${r.stderr}`);
  throttledId = (JSON.parse(r.stdout) as RunReport).id;
}, 60_000);

afterAll(() => tmp.remove());

describe("the predictor fitted on real runs", () => {
  test("has non-negative per-file and per-byte costs and reports its hold-out error", async () => {
    const h = await diagnoseHistory({ path: tmp.store, sinceMs: 0, sinceLabel: "all" });
    const local = h.models.find((m) => m.key === "local");
    expect(local?.basis).toBe("fitted");
    const cost = (t: string) => local!.terms.find((x) => x.term === t)?.msEach;
    expect(cost("perFile")).toBeGreaterThanOrEqual(0);
    expect(cost("perByte")).toBeGreaterThanOrEqual(0);
    // Of the 25 complete unthrottled runs, the fit keeps the healthy ones it did not trim: on a shared machine
    // a few may have met others' CPU or I/O (recorded in their context) and are left out.
    expect(local!.samples).toBeGreaterThanOrEqual(16);
    expect(local!.samples + local!.trimmed).toBeLessThanOrEqual(25); // the 24 and the single-worker run
    expect(local!.holdout.method).toBe("leave-one-out");
    expect(local!.holdout.runs).toBeGreaterThanOrEqual(16);
    expect(local!.holdout.mdape).toBeGreaterThanOrEqual(0);
    expect(local!.holdout.ratioLow).toBeLessThanOrEqual(1.0001);
    expect(local!.holdout.ratioHigh).toBeGreaterThanOrEqual(0.9999);
    expect(local!.note).toContain("hold-out MdAPE");

    // Kept in the store (migration 3) with its sample count and error.
    const rows = await withStore(tmp.store, async ({ conn }) =>
      (await conn.runAndReadAll("SELECT model_key, samples, holdout_mdape, per_file_ms, per_byte_ms FROM predictor_models")).getRowObjects(),
    );
    const row = rows.find((r) => r.model_key === "local");
    expect(Number(row?.samples)).toBe(local!.samples);
    expect(Number(row?.holdout_mdape)).toBeCloseTo(local!.holdout.mdape!, 6);
    expect(Number(row?.per_file_ms)).toBeGreaterThanOrEqual(0);
  });

  test("predicts a workload with its band and says what the prediction rests on", async () => {
    const p = await predictFor({ workload: { files: 1000, bytes: 16_000_000, dirs: 10, symlinks: 0 } }, "local", { path: tmp.store });
    expect(p.model.basis).toBe("fitted");
    expect(p.lowMs).toBeLessThanOrEqual(p.durationMs);
    expect(p.highMs).toBeGreaterThanOrEqual(p.durationMs);
    expect(p.note).toMatch(/fitted on \d+ local/);

    const f = fakeIo({ BLIT_HOME: home });
    const code = await predictCommand([join(tmp.dir, "src7"), join(tmp.dir, "predict-dst")], f.io);
    expect(code).toBe(0);
    expect(f.stdout()).toMatch(/predicted .*, 80% band /);
    expect(f.stdout()).toContain("per file transferred   1,000 ×");
    expect(f.stdout()).toMatch(/fitted on \d+ local/);
  });
});

describe("a run slowed on purpose with --bwlimit", () => {
  test("is flagged, and the explanation names the throttle citing evidence that exists", async () => {
    const d = await diagnoseRun({ path: tmp.store, id: throttledId });
    const kinds = d.flags.map((f) => f.kind);
    expect(kinds).toContain("slow-vs-prediction");
    expect(kinds).toContain("throttled");
    expect(d.score.score!).toBeGreaterThanOrEqual(3.5);
    const cause = d.explanation.causes[0]!;
    expect(cause.text).toContain("--bwlimit");
    expect(cause.confidence).toBe("high");
    const bw = d.evidence.find((e) => e.key === "options.bwlimit")!;
    expect(bw.value).toBe(1024 * 1024);
    expect(cause.evidence).toContain(bw.id);
    expect(d.explanation.suggestions[0]?.flag).toBe("--bwlimit 0");
    expect(d.explanation.suggestions[0]?.expectedEffect).toMatch(/instead of/);
    expect(uncitedClaims(d.explanation, d.evidence)).toEqual([]);
    // Not mistaken for outside load.
    expect(d.explanation.causes.some((c) => /outside load/.test(c.text))).toBe(false);
  });

  test("the history report names its cause beside its flags (and in the slowest table), schema and all", async () => {
    const h = await diagnoseHistory({ path: tmp.store, sinceMs: 0, sinceLabel: "all" });
    const line = h.flagged.find((l) => l.id === throttledId)!;
    expect(line.flags.map((f) => f.kind)).toContain("throttled");
    expect(line.cause?.kind).toBe("bwlimit");
    expect(line.cause?.text).toContain("--bwlimit");
    expect(schemaProblems(DIAGNOSE_REPORT_SCHEMA, JSON.parse(JSON.stringify(h)))).toEqual([]);
    const f = fakeIo({ BLIT_HOME: home });
    expect(await diagnoseCommand(["--since", "1d"], f.io)).toBe(0);
    expect(f.stdout()).toMatch(/cause bwlimit: .*--bwlimit/);
  });

  test("its JSON report (through the diagnose command) matches the schema", async () => {
    const f = fakeIo({ BLIT_HOME: home });
    expect(await diagnoseCommand([throttledId.slice(0, 8), "--format", "json"], f.io)).toBe(0);
    const json = JSON.parse(f.stdout());
    expect(schemaProblems(DIAGNOSE_REPORT_SCHEMA, json)).toEqual([]);
    expect(json.kind).toBe("run");
    expect(json.run.id).toBe(throttledId);
  });

  test("shows up in the history report, with the error band stated", async () => {
    const f = fakeIo({ BLIT_HOME: home });
    expect(await diagnoseCommand(["--since", "1d"], f.io)).toBe(0);
    const text = f.stdout();
    expect(text).toContain(throttledId);
    expect(text).toContain("throttled");
    expect(text).toContain("80% band");
    const md = fakeIo({ BLIT_HOME: home });
    expect(await diagnoseCommand(["--format", "md"], md.io)).toBe(0);
    expect(md.stdout()).toContain("### Flagged runs");
    expect(md.stdout()).toContain("| STARTED | ROUTE |");
  });
});

describe("a --workers 1 run on many small files", () => {
  test("gets a --workers suggestion that cites the small-file evidence", async () => {
    const d = await diagnoseRun({ path: tmp.store, id: singleWorker.id });
    const s = d.explanation.suggestions.find((x) => x.flag?.startsWith("--workers"));
    expect(s).toBeDefined();
    expect(Number(s!.flag!.split(" ")[1])).toBeGreaterThan(1);
    const small = d.evidence.find((e) => e.key === "workload.small-files")!;
    const cause = d.explanation.causes.find((c) => c.evidence.includes(small.id));
    expect(cause?.text).toMatch(/Small files dominate .* only 1 worker/);
    expect(uncitedClaims(d.explanation, d.evidence)).toEqual([]);
  });
});
