// The run's timeline in `blit diagnose RUN`: a real mirror slowed by --bwlimit through the real
// CLI (about 2 s, so the recorder takes several samples), then its text, Markdown and JSON reports.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DIAGNOSE_REPORT_SCHEMA, resample, schemaProblems, sparkline, timelineLines, type RunDiagnosis } from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { cli, makeTree, tempDir } from "./helpers.ts";

const tmp = tempDir();
const home = join(tmp.dir, "home");
let run: RunReport;

beforeAll(async () => {
  // 2 MB at 1 MiB/s: about two seconds, eight samples or so.
  const src = makeTree(join(tmp.dir, "src"), 40, 50_000);
  const r = await cli(["mirror", src, join(tmp.dir, "dst"), "--bwlimit", "1M", "--json"], home);
  if (r.code !== 0) throw new Error(`throttled run failed: ${r.stderr}`);
  run = JSON.parse(r.stdout) as RunReport;
}, 60_000);

afterAll(() => tmp.remove());

const SPARK = /[▁▂▃▄▅▆▇█]{60}/;

describe("a throttled run's report draws its timeline", () => {
  test("text: throughput, then pressure, 60 columns wide, on the same axis, with the span", async () => {
    expect(run.timeline?.length ?? 0).toBeGreaterThanOrEqual(4);
    const r = await cli(["diagnose", run.id], home);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    const at = lines.indexOf("Timeline:");
    expect(at).toBeGreaterThan(lines.findIndex((l) => l === "Evidence:"));
    expect(lines[at + 1]).toMatch(new RegExp(`^  throughput\\s+${SPARK.source} peak \\d+(\\.\\d)? (B|KiB|MiB|GiB)/s$`));
    // Throttled to 1 MiB/s: a 250 ms sample may hold a burst (a file is counted when it is done),
    // but nothing near the unthrottled rate of hundreds of MiB/s.
    const [, value, unit] = lines[at + 1]!.match(/peak ([\d.]+) (B|KiB|MiB|GiB)\/s/)!;
    const peak = Number(value) * { B: 1 / 1024 ** 2, KiB: 1 / 1024, MiB: 1, GiB: 1024 }[unit as "B" | "KiB" | "MiB" | "GiB"];
    expect(peak).toBeGreaterThan(0.2);
    expect(peak).toBeLessThan(20);
    const rest = lines.slice(at + 2).filter((l) => l.startsWith("  ") && SPARK.test(l));
    for (const l of rest) expect(l).toMatch(/^  (CPU pressure|others' CPU|I\/O pressure)\s+[▁▂▃▄▅▆▇█]{60} peak \d+%$/);
    expect(r.stdout).toMatch(new RegExp(`0 to [\\d.]+ (ms|s|min), ${run.timeline!.length} samples`));
  });

  test("Markdown: the chart in a code block; JSON: the samples as `timeline`, valid against the schema", async () => {
    const md = await cli(["diagnose", run.id, "--format", "md"], home);
    expect(md.stdout).toMatch(new RegExp("### Timeline\\n```\\nthroughput\\s+" + SPARK.source));
    const json = await cli(["diagnose", run.id, "--format", "json"], home);
    const d = JSON.parse(json.stdout) as RunDiagnosis;
    expect(schemaProblems(DIAGNOSE_REPORT_SCHEMA, d)).toEqual([]);
    expect(d.timeline).toEqual(run.timeline!);
    expect(json.stdout).not.toContain("▁");
  });
});

describe("resample and sparkline", () => {
  test("more values than columns: each column the mean of its slice; fewer: each value stretched over its share", () => {
    expect(resample([1, 3, 5, 7], 2)).toEqual([2, 6]);
    expect(resample([1, 9], 4)).toEqual([1, 1, 9, 9]);
    expect(resample([], 10)).toEqual([]);
    expect(resample([1, 2], 0)).toEqual([]);
  });

  test("scaled to the highest point (or a given top); a flat zero line is the floor, never NaN", () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8)).toBe("▁▂▃▄▅▆▇█");
    expect(sparkline([0.1, 0.5, 1], 3, 1)).toBe("▂▅█");
    expect(sparkline([0, 0, 0], 5)).toBe("▁▁▁▁▁");
    expect(sparkline([5], 3)).toBe("███");
  });

  test("a run without samples says why there is no chart", () => {
    expect(timelineLines([], 60)).toEqual(["no timeline recorded (run shorter than 250 ms or recorded before blit captured one)"]);
  });
});
