// The planner's per-entry reasons (Plan.why): recorded only when asked (a run with no per-entry
// output gets no array and no per-entry work), and then the bits the itemized letters come from.
import { describe, expect, test } from "bun:test";
import { emptyTree, planTrees, T_DIR, T_FILE, WHY, type PlanOptions, type Tree } from "../../engine/index.ts";

/** Entries [path, size, mtime seconds, mode]; a trailing "/" makes a directory. */
function tree(entries: [string, number, number, number][]): Tree {
  return {
    ...emptyTree(), rootExists: true,
    paths: entries.map(([p]) => p.replace(/\/$/, "")),
    types: entries.map(([p]) => (p.endsWith("/") ? T_DIR : T_FILE)),
    sizes: entries.map(([, s]) => s), mtimeSec: entries.map(([, , m]) => m), mtimeNsec: entries.map(() => 0), modes: entries.map(([, , , mode]) => mode),
  };
}

const opts: PlanOptions = { mirror: true, checksum: false, sizeOnly: false, ignoreTimes: false };

describe("Plan.why", () => {
  const src = tree([["d/", 0, 5, 0o755], ["new", 1, 1, 0o644], ["size", 2, 1, 0o644], ["time", 1, 2, 0o644], ["mode", 1, 1, 0o600], ["same", 1, 1, 0o644]]);
  const dst = tree([["d/", 0, 4, 0o755], ["size", 1, 1, 0o644], ["time", 1, 1, 0o644], ["mode", 1, 1, 0o644], ["same", 1, 1, 0o644]]);

  test("is not kept unless asked for (explain)", () => {
    expect(planTrees(src, dst, opts).why).toBeUndefined();
  });

  test("names what differs for each entry written or touched", () => {
    const p = planTrees(src, dst, { ...opts, explain: true });
    const why = (path: string) => p.why![src.paths.indexOf(path)]!;
    expect(why("new")).toBe(WHY.NEW);
    expect(why("size")).toBe(WHY.SIZE);
    expect(why("time")).toBe(WHY.TIME);
    expect(why("mode")).toBe(WHY.PERMS);
    expect(why("same")).toBe(0);
    expect(why("d")).toBe(WHY.TIME);
    // The same decisions as without it.
    expect(p.need).toEqual(planTrees(src, dst, opts).need);
  });

  test("--ignore-times: a file written though nothing differs says always", () => {
    const p = planTrees(src, dst, { ...opts, ignoreTimes: true, explain: true });
    expect(p.why![src.paths.indexOf("same")]).toBe(WHY.ALWAYS);
  });
});
