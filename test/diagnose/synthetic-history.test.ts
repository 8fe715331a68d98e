// Flags and explanations on histories inserted through record(): realistic reports with seeded
// noise, for the volume and the situations a test machine cannot produce on demand
// (a cross-device copy, a 200,000-entry tree, outside load).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  diagnoseHistory, diagnoseRun, EXPLANATION_SCHEMA, HISTORY_DIAGNOSIS_SCHEMA, record, schemaProblems, uncitedClaims
} from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { realisticMs, seeded, syntheticReport, tempDir } from "./helpers.ts";

const tmp = tempDir();
const start = Date.parse("2025-03-01T02:00:00Z");
const ordinary: RunReport[] = [];

beforeAll(async () => {
  const random = seeded(7);
  // 30 nightly mirrors of a similar tree: 4,000–5,000 files, 40–60 MB, ±10% duration noise.
  for (let i = 0; i < 30; i++) {
    const files = 4000 + Math.round(random() * 1000);
    const bytes = 40e6 + Math.round(random() * 20e6);
    const noise = Math.exp((random() - 0.5) * 0.2);
    const r = syntheticReport({ files, bytes, totalMs: realisticMs(files, bytes, noise), startedAt: new Date(start + i * 86_400_000) });
    ordinary.push(r);
    await record(r, { path: tmp.store });
  }
}, 30_000);

afterAll(() => tmp.remove());

const day = (i: number) => new Date(start + i * 86_400_000 + 3_600_000);

describe("30 ordinary runs of similar shape", () => {
  test("raise no flag", async () => {
    const h = await diagnoseHistory({ path: tmp.store, sinceMs: 0, sinceLabel: "all", now: start + 31 * 86_400_000 });
    expect(h.window.runs).toBe(30);
    expect(h.flaggedCount).toBe(0);
    expect(h.flagged).toEqual([]);
    expect(schemaProblems(HISTORY_DIAGNOSIS_SCHEMA, JSON.parse(JSON.stringify(h)))).toEqual([]);
    expect(h.trends[0]?.direction).toBe("steady");
  });

  test("each explains as nothing unusual", async () => {
    for (const r of ordinary.slice(-5)) {
      const d = await diagnoseRun({ path: tmp.store, id: r.id });
      expect(d.flags).toEqual([]);
      expect(d.explanation.causes).toEqual([]);
      expect(d.explanation.summary).toStartWith("Nothing unusual");
      expect(d.explanation.summary).toContain("80% band");
    }
  });
});

describe("the rules explainer", () => {
  test("a run far slower than similar runs with nothing else to show: outside load", async () => {
    const slow = syntheticReport({ files: 4500, bytes: 50e6, totalMs: realisticMs(4500, 50e6, 3), startedAt: day(40) });
    await record(slow, { path: tmp.store });
    const d = await diagnoseRun({ path: tmp.store, id: slow.id });
    expect(d.flags.map((f) => f.kind)).toEqual(["slow-vs-prediction"]);
    expect(d.explanation.causes).toHaveLength(1);
    expect(d.explanation.causes[0]!.text).toContain("outside load");
    // No context was recorded, so outside load is a guess, kinded as such.
    expect(d.explanation.causes[0]!.kind).toBe("outside-load");
    expect(d.explanation.suggestions[0]!.expectedEffect).toMatch(/should take about/);
    expect(uncitedClaims(d.explanation, d.evidence)).toEqual([]);
  });

  test("a cross-device copy through userspace: names the fast path and why it was not taken", async () => {
    const bytes = 500e6;
    const r = syntheticReport({
      files: 4500, bytes, totalMs: realisticMs(4500, bytes, 1), startedAt: day(41), destinationFs: "xfs",
      bytesByPath: { stream: bytes },
      fastPathNotes: { copy_file_range: "copy_file_range refused: EXDEV (cross-device link) on xfs" },
    });
    await record(r, { path: tmp.store });
    const d = await diagnoseRun({ path: tmp.store, id: r.id });
    const cause = d.explanation.causes.find((c) => /read\/write stream/.test(c.text));
    expect(cause?.text).toContain("cross-device");
    const note = d.evidence.find((e) => e.key === "fastpath-note.copy_file_range")!;
    expect(cause!.evidence).toContain(note.id);
    expect(uncitedClaims(d.explanation, d.evidence)).toEqual([]);
  });

  test("an enumeration-bound run: suggests --exclude with the rate it saw", async () => {
    // A 0-change mirror of 200,000 entries: walking is all the work.
    const r = syntheticReport({ files: 200_000, bytes: 2e9, copied: 0, totalMs: 6000, enumerateShare: 0.9, startedAt: day(42) });
    await record(r, { path: tmp.store });
    const d = await diagnoseRun({ path: tmp.store, id: r.id });
    const cause = d.explanation.causes.find((c) => c.text.startsWith("Enumeration took 90%"));
    expect(cause).toBeDefined();
    expect(cause!.text).toContain("nothing needed copying");
    // A runnable command with the run's real source path, no placeholder.
    const s = d.explanation.suggestions.find((x) => x.text.includes("du --inodes -d 1 /data/src"));
    expect(s?.expectedEffect).toMatch(/saved per 100,000 entries/);
    expect(JSON.stringify(d.explanation)).not.toMatch(/GLOB|\bSRC\b|\bDST\b/);
    expect(cause!.kind).toBe("enumeration");
    expect(uncitedClaims(d.explanation, d.evidence)).toEqual([]);
  });

  test("long deletes are flagged and explained", async () => {
    const r = syntheticReport({ files: 4500, bytes: 50e6, totalMs: 4000, deleteShare: 0.6, deleted: 80_000, startedAt: day(43) });
    await record(r, { path: tmp.store });
    const d = await diagnoseRun({ path: tmp.store, id: r.id });
    expect(d.flags.map((f) => f.kind)).toContain("delete-heavy");
    expect(d.explanation.causes.some((c) => /Deleting extraneous destination entries took 60%/.test(c.text))).toBe(true);
  });

  test("its output satisfies the explanation schema, and the checker catches broken ones", async () => {
    const d = await diagnoseRun({ path: tmp.store, id: ordinary[0]!.id });
    expect(schemaProblems(EXPLANATION_SCHEMA, d.explanation)).toEqual([]);
    const broken = {
      summary: 3,
      causes: [{ text: "x", evidence: ["E0"], confidence: "sure" }],
      suggestions: [{ text: "y", flag: "--workers 8", evidence: [] }],
      extra: true,
    };
    const problems = schemaProblems(EXPLANATION_SCHEMA, broken);
    expect(problems).toContain("$.summary: expected string, got number");
    expect(problems).toContain('$.causes[0].evidence[0]: "E0" does not match /^E[1-9][0-9]*$/');
    expect(problems.some((p) => p.startsWith("$.causes[0].confidence: must be one of"))).toBe(true);
    expect(problems).toContain('$.suggestions[0]: missing required "expectedEffect"');
    expect(problems).toContain("$.suggestions[0].evidence: needs at least 1 items");
    expect(problems).toContain('$: unexpected property "extra"');
    // A citation of a fact that does not exist is caught too.
    expect(uncitedClaims({ summary: "", causes: [{ text: "x", evidence: ["E999"], confidence: "low" }], suggestions: [] }, d.evidence))
      .toEqual(["cause 1: E999 is not in the evidence"]);
  });
});
