// Thirty real, ordinary mirrors of trees of similar shape, made by the engine in this test and
// recorded in a real store: diagnose must raise no flag on any of them.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { diagnoseHistory, diagnoseRun } from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { makeTree, realRun, tempDir } from "./helpers.ts";

const tmp = tempDir();
const runs: RunReport[] = [];

beforeAll(async () => {
  // Three source trees of 300-400 files of 8 KiB; each run mirrors one into a fresh destination.
  const sources = [300, 350, 400].map((n, k) => makeTree(join(tmp.dir, `src${k}`), n, 8192));
  for (let i = 0; i < 30; i++) runs.push(await realRun(sources[i % 3]!, join(tmp.dir, `dst${i}`), tmp.store));
}, 120_000);

afterAll(() => tmp.remove());

describe("30 real ordinary runs of similar shape", () => {
  test("all succeeded and were recorded", async () => {
    expect(runs.map((r) => r.status)).toEqual(Array(30).fill("ok"));
    const h = await diagnoseHistory({ path: tmp.store, sinceMs: 0, sinceLabel: "all" });
    expect(h.window.runs).toBe(30);
  });

  test("raise no slow-run flag, and the newest explains as nothing unusual or names no outside cause", async () => {
    const h = await diagnoseHistory({ path: tmp.store, sinceMs: 0, sinceLabel: "all" });
    const slow = h.flagged.filter((f) => JSON.stringify(f).includes("slow-vs-prediction"));
    expect(slow).toEqual([]);
    const d = await diagnoseRun({ path: tmp.store, id: runs.at(-1)!.id });
    expect(d.flags.filter((f) => f.kind === "slow-vs-prediction")).toEqual([]);
  });
});
