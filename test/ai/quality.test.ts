// The quality bar of the offline explainer, on the runs of the analytics suites: a throttled run
// and a few-workers small-file run made for real here, an enumeration-bound run and ordinary runs
// in a realistic synthetic history. The real cause must come first; an ordinary run is "nothing
// unusual".
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { diagnoseRun, uncitedClaims, type RunDiagnosis } from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { cli, join, makeTree, realRun, syntheticStore, tempDir } from "./helpers.ts";

const real = tempDir();
const synthetic = tempDir();
let throttledId = "";
let fewWorkers: RunReport;
let ordinaryReal: RunReport;
let runs: Awaited<ReturnType<typeof syntheticStore>>;

beforeAll(async () => {
  runs = await syntheticStore(synthetic.store);
  // A few ordinary real mirrors, then the two runs with a known cause.
  const trees = [[200, 4000], [500, 8000], [100, 50_000], [1000, 2000]].map(([files, size], i) => makeTree(join(real.dir, `src${i}`), files!, size!));
  for (const [i, src] of trees.entries()) {
    Bun.spawnSync(["sync"]); // the trees' own writes reach the disk before each run, not during it
    ordinaryReal = await realRun(src, join(real.dir, `dst${i}`), real.store);
  }
  Bun.spawnSync(["sync"]);
  fewWorkers = await realRun(makeTree(join(real.dir, "small"), 3000, 1000, 30), join(real.dir, "small-dst"), real.store, { workers: 1 });
  const throttled = makeTree(join(real.dir, "throttled"), 150, 10_000);
  const r = await cli(["mirror", throttled, join(real.dir, "throttled-dst"), "--bwlimit", "1M", "--json"], join(real.dir, "home"));
  if (r.code !== 0) throw new Error(`throttled run failed: ${r.stderr}`);
  throttledId = (JSON.parse(r.stdout) as RunReport).id;
}, 60_000);

afterAll(() => {
  real.remove();
  synthetic.remove();
});

function first(d: RunDiagnosis) {
  expect(uncitedClaims(d.explanation, d.evidence)).toEqual([]);
  return { cause: d.explanation.causes[0], suggestion: d.explanation.suggestions[0] };
}

describe("the offline explainer names the real cause first", () => {
  test("a throttled run: --bwlimit, then lift it", async () => {
    const d = await diagnoseRun({ path: real.store, id: throttledId });
    const { cause, suggestion } = first(d);
    expect(cause?.text).toStartWith("The transfer was throttled by --bwlimit");
    expect(suggestion?.flag).toBe("--bwlimit 0");
    expect(d.explanation.summary).toContain("Causes: throttled by --bwlimit");
  });

  test("an enumeration-bound run: enumeration, then --exclude", async () => {
    const d = await diagnoseRun({ path: synthetic.store, id: runs.enumeration.id });
    const { cause, suggestion } = first(d);
    expect(cause?.text).toStartWith("Enumeration took 90% of the run");
    expect(suggestion?.text).toContain("du --inodes -d 1 /data/src");
  });

  test("a few-workers small-file run: small files with 1 worker, then more workers", async () => {
    const d = await diagnoseRun({ path: real.store, id: fewWorkers.id });
    const { cause, suggestion } = first(d);
    expect(cause?.text).toMatch(/^Small files dominate .* only 1 worker copied them/);
    expect(suggestion?.flag).toMatch(/^--workers ([2-9]|1\d)$/);
  });

  test("ordinary runs: nothing unusual", async () => {
    const synth = await diagnoseRun({ path: synthetic.store, id: runs.ordinary.at(-1)!.id });
    expect(synth.explanation.causes).toEqual([]);
    expect(synth.explanation.suggestions).toEqual([]);
    expect(synth.explanation.summary).toStartWith("Nothing unusual");
    // A real run shares the machine with whatever else runs (the suite's own earlier writes still
    // reaching the disk): it is nothing unusual, or slowed by others it names from its context,
    // never given advice about its own settings.
    const live = await diagnoseRun({ path: real.store, id: ordinaryReal.id });
    if (live.explanation.causes.length === 0) expect(live.explanation.summary).toStartWith("Nothing unusual");
    for (const c of live.explanation.causes) expect(["cpu-contention", "io-contention"], c.text).toContain(c.kind!);
  });
});
