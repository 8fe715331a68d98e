// marchTrees: two trees walked in lock step report every path once, as src-only, dst-only or a
// match, in walkTree's order; a tree received out of order (a peer's manifest) gives the same
// answer; and planTrees and compareTrees, both built on it, agree with each other.
import { afterEach, describe, expect, test } from "bun:test";
import {
  compareTrees, compareWalkOrder, emptyTree, marchTrees, planTrees, walkTree, T_DIR, T_FILE, type Tree,
} from "../../engine/index.ts";
import { tempDirs, writeTree } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

/** A tree of these paths (a trailing "/" makes a directory), every entry of the same size and mtime. */
function tree(paths: string[]): Tree {
  const t = emptyTree();
  const n = paths.length;
  return {
    ...t, rootExists: true,
    paths: paths.map((p) => p.replace(/\/$/, "")),
    types: paths.map((p) => (p.endsWith("/") ? T_DIR : T_FILE)),
    sizes: new Array(n).fill(1), modes: new Array(n).fill(0o644), mtimeSec: new Array(n).fill(1), mtimeNsec: new Array(n).fill(0),
  };
}

function march(src: Tree, dst: Tree): string[] {
  const out: string[] = [];
  marchTrees(src, dst, {
    srcOnly: (i) => out.push(`src-only ${src.paths[i]}`),
    dstOnly: (j) => out.push(`dst-only ${dst.paths[j]}`),
    match: (i, j) => out.push(`match ${src.paths[i]}${src.paths[i] === dst.paths[j] ? "" : ` != ${dst.paths[j]}`}`),
  });
  return out;
}

describe("marchTrees", () => {
  test("walkTree's order is compareWalkOrder's: a directory's entries together, directories depth first", () => {
    const t = temps.make();
    writeTree(t.path, { "a-b": "x", "a/x": "x", "a/y/z": "z", "a/y/0": "0", "b/": { dir: true }, "Z": "z", "a.b/c": "c" });
    const w = walkTree(t.path, [], "source");
    expect(w.paths).toEqual(["Z", "a", "a-b", "a.b", "b", "a/x", "a/y", "a/y/0", "a/y/z", "a.b/c"]);
    for (let k = 1; k < w.paths.length; k++) expect(compareWalkOrder(w.paths[k - 1]!, w.paths[k]!)).toBeLessThan(0);
  });

  test("every path is reported once, in walk order: src-only, dst-only or match", () => {
    const src = tree(["a", "c/", "d", "c/x", "c/y"]);
    const dst = tree(["b", "c/", "d", "c/y", "c/z"]);
    expect(march(src, dst)).toEqual([
      "src-only a", "dst-only b", "match c", "match d", "src-only c/x", "match c/y", "dst-only c/z",
    ]);
  });

  test("a tree out of order (a peer's manifest) gives the same answer as the same tree in order", () => {
    const ordered = ["a", "c/", "d", "c/x", "c/y/", "c/y/q"];
    const dst = tree(["b", "c/", "c/y/", "c/y/q", "c/z"]);
    const shuffled = tree(["c/y/q", "d", "c/x", "a", "c/y/", "c/"]);
    const expected = march(tree(ordered), dst);
    expect(march(shuffled, dst)).toEqual(expected);
    expect(march(dst, shuffled)).toEqual(march(dst, tree(ordered)));
  });

  test("planTrees over the march: what it copies, creates and deletes is what check calls missing, extra and different", () => {
    const src = tree(["a", "c/", "d", "c/x", "c/y/", "c/y/q"]);
    const dst = tree(["b", "c/", "d", "c/y/", "c/y/q", "c/z/", "c/z/w"]);
    (dst.sizes as number[])[2] = 5; // d
    const plan = planTrees(src, dst, { mirror: true, checksum: false, sizeOnly: false, ignoreTimes: false });
    const cmp = compareTrees(src, dst);
    expect(plan.need.map((i) => src.paths[i])).toEqual(["a", "d", "c/x"]);
    expect(plan.extraneous.map((j) => dst.paths[j])).toEqual(["b", "c/z", "c/z/w"]);
    expect(plan.extraneousTop.map((j) => dst.paths[j])).toEqual(["b", "c/z"]);
    // check lists in tree order: each directory's contents right after it
    expect(cmp.entries.map((e) => `${e.kind} ${e.path}`)).toEqual([
      "missing a", "extra b", "missing c/x", "extra c/z", "extra c/z/w", "differs d",
    ]);
    expect(cmp.counts).toEqual({ missing: 2, extra: 3, differs: 1, equal: 3, hashed: 0 });
  });
});
