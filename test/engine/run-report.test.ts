// Every RunReport comes from one constructor, and its exit code from one rule that the CLI and
// blitd's record share.
import { describe, expect, test } from "bun:test";
import { EXIT_CODES, exitCodeFor, makeEarlyReport, makeRunReport, normalizeOptions } from "../../engine/index.ts";

const base = { startedAt: new Date(Date.now() - 1000), command: "copy", route: "local", source: "/s", destination: "/d", options: normalizeOptions({}) } as const;

describe("makeRunReport", () => {
  test("derives status and exit code from what happened: interrupted beats failed beats file errors", () => {
    const err = { path: "a", side: "source" as const, code: "EACCES", message: "a: permission denied" };
    expect([makeRunReport(base).status, makeRunReport(base).exitCode]).toEqual(["ok", 0]);
    expect(makeRunReport({ ...base, errors: [err] })).toMatchObject({ status: "partial", exitCode: 1, errorCount: 1 });
    expect(makeRunReport({ ...base, errors: [err], failed: true })).toMatchObject({ status: "failed", exitCode: 2 });
    expect(makeRunReport({ ...base, failed: true, interrupted: true })).toMatchObject({ status: "interrupted", exitCode: 130 });
  });

  test("a run refused before any work has the shape of a full report, with its one run error", () => {
    const r = makeEarlyReport(base, { code: "SOURCE_MISSING", message: "source '/s' does not exist" });
    expect(r).toMatchObject({ status: "failed", exitCode: 2, errorCount: 1, counts: { copied: 0 }, plan: { workers: 0 } });
    expect(r.errors).toEqual([{ path: "/s", side: "run", code: "SOURCE_MISSING", message: "source '/s' does not exist" }]);
    expect(r.phases.totalMs).toBeGreaterThanOrEqual(1000);
    expect(r.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("exitCodeFor is the table the CLI documents", () => {
    expect(Object.fromEntries(Object.keys(EXIT_CODES).map((s) => [s, exitCodeFor(s as keyof typeof EXIT_CODES)]))).toEqual({ ok: 0, partial: 1, failed: 2, interrupted: 130 });
  });
});
