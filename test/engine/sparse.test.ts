// Sparse files stay sparse in a local copy: a 50 MiB file with a few small data extents arrives
// with the same content and about as few blocks as the source, with the Linux backend
// (SEEK_DATA/SEEK_HOLE, data segments only) and BLIT_BACKEND=portable (zero blocks skipped),
// and the report says how many bytes were holes. An ordinary file copies as before.
import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { createLinuxBackend, createPortableBackend } from "../../ffi/index.ts";
import { holesUnsupported, MiB, runCli, tempDirs, writeSparse, writeTree, type Extent } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const SIZE = 50 * MiB;
const EXTENTS: Extent[] = [
  { offset: 0, bytes: 4096 },
  { offset: 10 * MiB, bytes: 64 << 10 },
  { offset: 30 * MiB + 512, bytes: 1000 },
];
const DATA = EXTENTS.reduce((n, e) => n + e.bytes, 0);
const noHoles = holesUnsupported(tmpdir());
if (noHoles) console.warn(`skipping the sparse-file tests: ${noHoles}`);

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

describe.skipIf(noHoles !== undefined)("sparse files, local copy", () => {
  for (const backend of ["linux", "portable"] as const) {
    test(`with the ${backend} backend, a 50 MiB file with 3 small extents keeps its holes`, async () => {
      const t = temps.make();
      const src = t.join("src");
      writeSparse(t.join("src/disk.img"), SIZE, EXTENTS);
      writeTree(src, { "small.txt": "not sparse\n" });
      const r = await runCli(["copy", src, t.join("dst"), "--json"], { home: t.home, env: { BLIT_BACKEND: backend === "portable" ? "portable" : undefined } });
      expect(r.exitCode).toBe(0);
      const a = statSync(t.join("src/disk.img"));
      const b = statSync(t.join("dst/disk.img"));
      expect(b.size).toBe(SIZE);
      expect(sha(t.join("dst/disk.img"))).toBe(sha(t.join("src/disk.img")));
      // 102,400 blocks if the holes were filled; the source has a few dozen
      expect(b.blocks).toBeLessThanOrEqual(a.blocks * 2 + 16);
      expect(r.json.counts.copiedBytes).toBe(SIZE + "not sparse\n".length);
      expect(r.json.counts.holeBytes).toBeGreaterThanOrEqual(SIZE - DATA - 3 * 4096);
      expect(r.json.counts.holeBytes).toBeLessThanOrEqual(SIZE - DATA);
    });
  }

  test("the summary says how much of the copy was holes", async () => {
    const t = temps.make();
    writeSparse(t.join("src/disk.img"), SIZE, EXTENTS);
    const r = await runCli(["copy", t.join("src"), t.join("dst")], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.stderr + r.stdout).toMatch(/copied 1 \(50\.0 MiB, 49\.9 MiB of it holes\)/);
  });

  test("a file that is all hole arrives as a file of that size with no data blocks", async () => {
    const t = temps.make();
    writeSparse(t.join("src/empty.img"), 8 * MiB, []);
    const r = await runCli(["copy", t.join("src"), t.join("dst"), "--json"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(statSync(t.join("dst/empty.img")).size).toBe(8 * MiB);
    expect(statSync(t.join("dst/empty.img")).blocks).toBeLessThanOrEqual(8);
    expect(r.json.counts.holeBytes).toBe(8 * MiB);
  });

  for (const make of [createLinuxBackend, createPortableBackend]) {
    test(`with the ${make().name} backend, a sparse source that shrank since it was stat'ed copies as it is now`, () => {
      const t = temps.make();
      // the caller saw 16 MiB; the file now ends in a hole at 8 MiB
      writeSparse(t.join("shrunk.img"), 8 * MiB, [{ offset: 0, bytes: 4096 }]);
      const out = make().copyFile(t.join("shrunk.img"), t.join("copy.img"), { size: 16 * MiB, blocks: 8, mode: 0o644, mtimeSec: 1_700_000_000, mtimeNsec: 0 });
      expect(statSync(t.join("copy.img")).size).toBe(8 * MiB);
      expect(sha(t.join("copy.img"))).toBe(sha(t.join("shrunk.img")));
      expect(out.bytes).toBe(8 * MiB);
      expect(out.holeBytes).toBe(8 * MiB - 4096);
    });
  }

  for (const backend of ["linux", "portable"] as const) {
    test(`with the ${backend} backend, an ordinary file copies as before and reports no holes`, async () => {
      const t = temps.make();
      writeTree(t.join("src"), { "data.bin": { size: 3 * MiB } });
      const r = await runCli(["copy", t.join("src"), t.join("dst"), "--json"], { home: t.home, env: { BLIT_BACKEND: backend === "portable" ? "portable" : undefined } });
      expect(r.exitCode).toBe(0);
      expect(sha(t.join("dst/data.bin"))).toBe(sha(t.join("src/data.bin")));
      expect(r.json.counts.holeBytes ?? 0).toBe(0);
      expect(r.json.bytesByPath).toEqual(backend === "portable" ? { stream: 3 * MiB } : { copy_file_range: 3 * MiB });
    });
  }
});
