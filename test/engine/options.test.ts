// The flags that change what counts as changed, what is left out, what is deleted, and how fast.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  diffR, filesUnder, listing, metaDiff, MiB, mtimeNs, runCli, setMtime, setMtimeNs, tempDirs, writeTree,
} from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

/** src with a few files, mirrored to dst. */
async function mirroredPair() {
  const t = temps.make();
  const src = t.join("src");
  const dst = t.join("dst");
  writeTree(src, {
    "same-size.txt": { content: "AAAA-content\n", mtime: "2020-01-01 00:00:00.123456789" },
    "sub/other.txt": "other\n",
    "sub/third.txt": "third\n",
  });
  const r = await runCli(["mirror", src, dst], { home: t.home });
  expect(r.exitCode).toBe(0);
  return { t, src, dst };
}

describe("what counts as changed", () => {
  test("--checksum finds a same-size, same-mtime content change that the default comparison misses", async () => {
    const { t, src, dst } = await mirroredPair();
    const f = join(src, "same-size.txt");
    const before = mtimeNs(f);
    writeFileSync(f, "BBBB-content\n");
    setMtimeNs(f, before);
    const byTime = await runCli(["mirror", src, dst, "--json"], { home: t.home });
    expect(byTime.exitCode).toBe(0);
    expect(byTime.json.counts.copied).toBe(0);
    expect(readFileSync(join(dst, "same-size.txt"), "utf8")).toBe("AAAA-content\n");
    const bySum = await runCli(["mirror", src, dst, "--checksum", "--json"], { home: t.home });
    expect(bySum.exitCode).toBe(0);
    expect(bySum.json.counts).toMatchObject({ copied: 1, skipped: 2 });
    expect(diffR(src, dst).exitCode).toBe(0);
    expect(metaDiff(src, dst)).toEqual([]);
  });

  test("--size-only skips a same-size file whose mtime changed; the default copies it", async () => {
    const { t, src, dst } = await mirroredPair();
    setMtime(join(src, "same-size.txt"), "2024-04-04 04:04:04.444444444");
    const sizeOnly = await runCli(["mirror", src, dst, "--size-only", "--json"], { home: t.home });
    expect(sizeOnly.exitCode).toBe(0);
    expect(sizeOnly.json.counts).toMatchObject({ copied: 0, skipped: 3 });
    const byTime = await runCli(["mirror", src, dst, "--json"], { home: t.home });
    expect(byTime.json.counts).toMatchObject({ copied: 1, skipped: 2 });
    expect(metaDiff(src, dst)).toEqual([]);
  });

  test("--ignore-times copies every file even though nothing changed", async () => {
    const { t, src, dst } = await mirroredPair();
    const r = await runCli(["mirror", src, dst, "--ignore-times", "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.json.counts).toMatchObject({ copied: 3, skipped: 0 });
    expect(diffR(src, dst).exitCode).toBe(0);
    expect(metaDiff(src, dst)).toEqual([]);
  });
});

describe("--exclude", () => {
  test("a pattern without '/' matches a name at any depth", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "a.tmp": "x", "keep.txt": "k", "sub/deep/b.tmp": "x", "sub/deep/c.txt": "c", "node_modules/m.js": "m", "sub/node_modules/n.js": "n" });
    const r = await runCli(["copy", src, dst, "--exclude", "*.tmp", "--exclude", "node_modules", "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(filesUnder(dst).sort()).toEqual(["keep.txt", "sub/deep/c.txt"]);
    expect(existsSync(join(dst, "node_modules"))).toBe(false);
    expect(existsSync(join(dst, "sub/node_modules"))).toBe(false);
  });

  test("a pattern with '/' matches the path from SRC; a leading '/' anchors it at SRC", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "logs/a.gz": "x", "logs/a.txt": "t", "b.gz": "top-level gz", "top.txt": "x", "sub/top.txt": "kept" });
    const r = await runCli(["copy", src, dst, "--exclude", "logs/*.gz", "--exclude", "/top.txt"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(filesUnder(dst).sort()).toEqual(["b.gz", "logs/a.txt", "sub/top.txt"]);
  });

  test("a trailing '/' matches directories only", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "cache/x": "x", "deep/cache/y": "y", "other/cache": "a file named cache", "keep.txt": "k" });
    const r = await runCli(["copy", src, dst, "--exclude", "cache/"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(filesUnder(dst).sort()).toEqual(["keep.txt", "other/cache"]);
    expect(existsSync(join(dst, "cache"))).toBe(false);
    expect(existsSync(join(dst, "deep/cache"))).toBe(false);
  });

  test("excluded destination entries survive a mirror; other extraneous entries are deleted", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "a.txt": "a", "sub/b.txt": "b" });
    writeTree(dst, { "keep.tmp": "excluded, must survive", "sub/also.tmp": "excluded", "cache/z": "excluded dir", "gone.txt": "extraneous" });
    const r = await runCli(["mirror", src, dst, "--exclude", "*.tmp", "--exclude", "cache/", "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(filesUnder(dst).sort()).toEqual(["a.txt", "cache/z", "keep.tmp", "sub/also.tmp", "sub/b.txt"]);
    expect(existsSync(join(dst, "gone.txt"))).toBe(false);
  });

  test("an excluded entry inside an extraneous destination directory survives a mirror too", async () => {
    // "Excluded destination entries are never deleted" (blit mirror --help): the extraneous
    // directory may go only if that does not take an excluded entry with it.
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "a.txt": "a" });
    writeTree(dst, { "olddir/also.tmp": "excluded", "olddir/gone.txt": "extraneous" });
    const r = await runCli(["mirror", src, dst, "--exclude", "*.tmp"], { home: t.home });
    expect(r.exitCode).toBeLessThanOrEqual(1);
    expect(existsSync(join(dst, "olddir/also.tmp"))).toBe(true);
  });
});

describe("--dry-run", () => {
  test("changes nothing (full listing identical before and after) and lists the actions", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "new.txt": "new", "changed.txt": "changed v2", "newdir/inner.txt": "i", "same.txt": "same" });
    writeTree(dst, { "changed.txt": "v1", "same.txt": "same", "extraneous.txt": "e", "olddir/x": "x" });
    setMtimeNs(join(dst, "same.txt"), mtimeNs(join(src, "same.txt")));
    const before = listing(dst);
    const srcBefore = listing(src);
    const text = await runCli(["mirror", src, dst, "--dry-run"], { home: t.home });
    expect(text.exitCode).toBe(0);
    expect(listing(dst)).toEqual(before);
    expect(listing(src)).toEqual(srcBefore);
    const lines = text.stdout.split("\n");
    const has = (kind: string, path: string) => lines.some((l) => l.startsWith(kind) && l.includes(path));
    expect(has("copy", "new.txt")).toBe(true);
    expect(has("copy", "changed.txt")).toBe(true);
    expect(has("copy", "newdir/inner.txt")).toBe(true);
    expect(has("mkdir", "newdir")).toBe(true);
    expect(has("delete", "extraneous.txt")).toBe(true);
    expect(has("delete", "olddir")).toBe(true);
    expect(lines.some((l) => l.includes("same.txt"))).toBe(false);

    const json = await runCli(["mirror", src, dst, "-n", "--json"], { home: t.home });
    expect(json.exitCode).toBe(0);
    expect(listing(dst)).toEqual(before);
    expect(json.json.counts).toMatchObject({ copied: 0, deleted: 0, planned: 3, deletePlanned: 3 });
    const actions = (json.json.actions as { kind: string; path: string }[]).map((a) => `${a.kind} ${a.path}`).sort();
    expect(actions).toEqual(["copy changed.txt", "copy new.txt", "copy newdir/inner.txt", "delete extraneous.txt", "delete olddir", "mkdir newdir"]);
  });
});

describe("mirror's delete guards", () => {
  test("--max-delete N with more than N deletions: nothing is deleted, exit 1", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "a.txt": "a" });
    writeTree(dst, { "x1": "1", "x2": "2", "x3": "3" });
    const r = await runCli(["mirror", src, dst, "--max-delete", "2", "--json"], { home: t.home });
    expect(r.exitCode).toBe(1);
    expect(r.json.counts.deleted).toBe(0);
    expect(readdirSync(dst).sort()).toEqual(["a.txt", "x1", "x2", "x3"]);
    expect(r.stderr).toContain("max-delete");
    // Within the bound, it deletes.
    const ok = await runCli(["mirror", src, dst, "--max-delete", "3"], { home: t.home });
    expect(ok.exitCode).toBe(0);
    expect(readdirSync(dst)).toEqual(["a.txt"]);
  });

  test("an empty source: mirror refuses to delete (non-zero exit, destination intact); --force empties it", async () => {
    const t = temps.make();
    const src = t.join("empty-src");
    const dst = t.join("dst");
    writeTree(src, {});
    writeTree(dst, { "precious.txt": "p", "dir/file": "f" });
    // Every entry below the root, with content, mode and mtime (the root's own metadata is synced
    // from the source like in any mirror).
    const below = () => listing(dst).slice(1);
    const before = below();
    const refused = await runCli(["mirror", src, dst], { home: t.home });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain("empty");
    expect(below()).toEqual(before);
    const forced = await runCli(["mirror", src, dst, "--force"], { home: t.home });
    expect(forced.exitCode).toBe(0);
    expect(readdirSync(dst)).toEqual([]);
  });
});

describe("workers and bandwidth", () => {
  test("--workers 1 copies a tree correctly", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    const spec: Record<string, string | { size: number }> = { "big.bin": { size: 3 * MiB } };
    for (let i = 0; i < 40; i++) spec[`d${i % 5}/f${i}`] = `content ${i}`;
    writeTree(src, spec);
    const r = await runCli(["mirror", src, dst, "--workers", "1", "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.json.options.workers).toBe(1);
    expect(r.json.plan.workers).toBeLessThanOrEqual(1);
    expect(r.json.counts.copied).toBe(41);
    expect(diffR(src, dst).exitCode).toBe(0);
    expect(metaDiff(src, dst)).toEqual([]);
  });

  test("--bwlimit 1M holds a 3 MiB copy to roughly 3 s (at least ~2 s)", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "three.bin": { size: 3 * MiB } });
    const r = await runCli(["copy", src, dst, "--bwlimit", "1M", "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.json.options.bwlimit).toBe(MiB);
    expect(r.ms).toBeGreaterThanOrEqual(2000);
    expect(diffR(src, dst).exitCode).toBe(0);
  });

  test("--bwlimit abc is a usage error: exit 2, nothing written", async () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "a.txt": "a" });
    const r = await runCli(["copy", src, dst, "--bwlimit", "abc"], { home: t.home });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("abc");
    expect(existsSync(dst)).toBe(false);
  });
});
