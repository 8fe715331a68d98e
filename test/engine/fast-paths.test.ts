// Which kernel path carried the bytes, as the --json report tells it: copy_file_range on ext4
// (reflink refused), reflink on XFS with reflink=1, plain read/write with BLIT_BACKEND=portable.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, ftruncateSync, rmSync } from "node:fs";
import { join } from "node:path";
import { diffR, hasTool, metaDiff, MiB, runCli, tempDirs, writeTree } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

function fsType(path: string): string {
  return spawnSync("stat", ["-f", "-c", "%T", path], { encoding: "utf8" }).stdout.trim();
}

describe("fast paths", () => {
  test("on ext4, copy_file_range carries the bytes and the notes say reflink was refused", async () => {
    const t = temps.make();
    const kind = fsType(t.path);
    if (kind !== "ext2/ext3") throw new Error(`this test expects the temp dir on ext4; ${t.path} is on '${kind}'`);
    const src = t.join("src");
    const dst = t.join("dst");
    writeTree(src, { "one.bin": { size: 3 * MiB }, "two.txt": "hello", "sub/three.bin": { size: 100_000 } });
    const total = 3 * MiB + 5 + 100_000;
    const r = await runCli(["copy", src, dst, "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.json.destinationFs).toBe("ext4");
    expect(r.json.bytesByPath).toEqual({ copy_file_range: total });
    expect(r.json.filesByPath).toEqual({ copy_file_range: 3 });
    const notes = Object.entries(r.json.fastPathNotes as Record<string, string>).map(([k, v]) => `${k}: ${v}`).join("\n");
    expect(notes).toContain("reflink");
    expect(notes).toContain("refused");
    expect(diffR(src, dst).exitCode).toBe(0);
  });

  const xfs = hasTool("mkfs.xfs", "the XFS reflink test", "apt-get install xfsprogs");
  test.skipIf(!xfs)("on XFS with reflink=1, a copy within the filesystem is a reflink of the whole file", async () => {
    const t = temps.make();
    const img = t.join("xfs.img");
    const mnt = t.join("xfs");
    mkdirSync(mnt);
    const fd = openSync(img, "w");
    ftruncateSync(fd, 300 * MiB); // sparse
    closeSync(fd);
    const mkfs = spawnSync("mkfs.xfs", ["-q", "-m", "reflink=1", img], { encoding: "utf8" });
    if (mkfs.error || mkfs.status !== 0) {
      throw new Error(`cannot test the reflink path: mkfs.xfs -q -m reflink=1 failed (${mkfs.error?.message ?? mkfs.stderr}); install xfsprogs`);
    }
    const mount = spawnSync("mount", ["-o", "loop", img, mnt], { encoding: "utf8" });
    if (mount.error || mount.status !== 0) {
      throw new Error(`cannot test the reflink path: loop mount of an XFS image failed (${mount.error?.message ?? mount.stderr})`);
    }
    try {
      const src = join(mnt, "src");
      const dst = join(mnt, "dst");
      const size = 8 * MiB + 12_345;
      writeTree(src, { "big.bin": { size } });
      const r = await runCli(["copy", src, dst, "--json"], { home: t.home });
      expect(r.exitCode).toBe(0);
      expect(r.json.destinationFs).toBe("xfs");
      expect(r.json.bytesByPath.reflink).toBe(size);
      expect(r.json.filesByPath.reflink).toBe(1);
      expect(diffR(src, dst)).toEqual({ exitCode: 0, output: "" });
      expect(metaDiff(src, dst)).toEqual([]);
    } finally {
      const u = spawnSync("umount", [mnt], { encoding: "utf8" });
      if (u.status !== 0) spawnSync("umount", ["-l", mnt]);
      rmSync(img, { force: true });
    }
  });

  test("BLIT_BACKEND=portable takes the stream path and produces an identical tree", async () => {
    const t = temps.make();
    const src = t.join("src");
    writeTree(src, {
      "one.bin": { size: 2 * MiB, mode: 0o600, mtime: "2020-01-01 00:00:00.123456789" },
      "sub/two.txt": { content: "two", mtime: "2020-02-02 00:00:00.987654321" },
      "sub/link": { symlink: "two.txt" },
      "empty/": { dir: true, mtime: "2019-01-01 00:00:00.5" },
    });
    const total = 2 * MiB + 3;
    const portable = await runCli(["mirror", src, t.join("portable"), "--json"], { home: t.home, env: { BLIT_BACKEND: "portable" } });
    expect(portable.exitCode).toBe(0);
    expect(portable.json.bytesByPath).toEqual({ stream: total });
    expect(portable.json.filesByPath).toEqual({ stream: 2 });
    const native = await runCli(["mirror", src, t.join("native"), "--json"], { home: t.home });
    expect(native.exitCode).toBe(0);
    expect(native.json.bytesByPath.stream).toBeUndefined();
    // Content and links first, then mode and nanosecond mtimes of every entry.
    for (const dst of [t.join("portable"), t.join("native")]) expect(diffR(src, dst)).toEqual({ exitCode: 0, output: "" });
    expect(diffR(t.join("portable"), t.join("native")).exitCode).toBe(0);
    expect(metaDiff(src, t.join("native"))).toEqual([]);
    // node:fs sets times as a double of seconds: the portable fallback keeps mtimes to about a
    // microsecond (documented), and blit compares mtimes to the microsecond, so the copy it
    // made counts as unchanged on the next run.
    expect(metaDiff(src, t.join("portable"), { mtimeToleranceNs: 1000n })).toEqual([]);
    const again = await runCli(["mirror", src, t.join("portable"), "--json"], { home: t.home, env: { BLIT_BACKEND: "portable" } });
    expect(again.exitCode).toBe(0);
    expect(again.json.counts.copied).toBe(0);
  });
});
