// Which optional terms the predictor may fit: a per-directory (or per-entry) cost only when the
// history tells it apart from the per-file cost, so a tree with far more directories per file
// than any run before is not predicted as if each directory cost what the fit guessed.
import { describe, expect, test } from "bun:test";
import { fitPredictor, modelFor, predictShape, runRecordFromReport } from "../../analytics/index.ts";
import { seeded, syntheticReport } from "../diagnose/helpers.ts";

const day = (i: number) => new Date(Date.UTC(2026, 10, 1 + i));

/** `n` runs whose duration is 20 ms + 0.05 ms per file + 0.5 ms per directory (noise ±5%). */
function history(n: number, dirsPerFile: (i: number) => number) {
  const random = seeded(7);
  return Array.from({ length: n }, (_, i) => {
    const files = 2000 + Math.round(random() * 8000);
    const dirs = Math.max(1, Math.round(files * dirsPerFile(i)));
    const totalMs = (20 + 0.05 * files + 0.5 * dirs) * (0.95 + random() * 0.1);
    return runRecordFromReport(syntheticReport({ files, bytes: files * 4096, dirs, totalMs, startedAt: day(i) }));
  });
}

describe("optional terms", () => {
  test("not fitted when every run has the same directories per file; a deep tree is then not predicted from a guessed per-directory cost", () => {
    const model = modelFor(fitPredictor(history(40, () => 0.01)), "local", "ext4", "ext4");
    expect(model.basis).toBe("fitted");
    expect(model.terms).not.toContain("perDir");
    // 4,000 files in 1,600 directories (the benchmark's nested tree): within 2x of its true cost
    const deep = { files: 4000, bytes: 4000 * 8192, entries: 5600, dirs: 1600 };
    const truth = 20 + 0.05 * 4000 + 0.5 * 1600;
    const predicted = predictShape(model, deep).durationMs;
    expect(predicted).toBeLessThan(truth * 2);
    expect(predicted).toBeGreaterThan(truth / 4);
  });

  test("fitted when the history varies the directories per file, and then it predicts the deep tree well", () => {
    const model = modelFor(fitPredictor(history(40, (i) => (i % 2 === 0 ? 0.01 : 0.2))), "local", "ext4", "ext4");
    expect(model.terms).toContain("perDir");
    const deep = { files: 4000, bytes: 4000 * 8192, entries: 5600, dirs: 1600 };
    const truth = 20 + 0.05 * 4000 + 0.5 * 1600;
    expect(Math.abs(predictShape(model, deep).durationMs / truth - 1)).toBeLessThan(0.25);
  });
});
