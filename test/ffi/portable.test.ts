import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { createPortableBackend, fsTime, tempPathFor } from "../../ffi/index.ts";
import { FsError, TEMP_PREFIX, type Backend, type FileMeta } from "../../ffi/index.ts";

let dir: string;
let backend: Backend;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "blit-test-"));
  backend = createPortableBackend();
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `content` to `name` in the test dir with the given mode and mtime; returns path and meta. */
function source(name: string, content: Uint8Array | string, mode = 0o640, mtimeSec = 1_700_000_000, mtimeNsec = 123_456_789) {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, mode);
  const meta: FileMeta = { size: Buffer.byteLength(content), mode, mtimeSec, mtimeNsec };
  return { path, meta };
}

function mtimeNs(path: string): bigint {
  return lstatSync(path, { bigint: true }).mtimeNs;
}

function temps(d = dir): string[] {
  return readdirSync(d).filter((n) => n.startsWith(TEMP_PREFIX));
}

function thrown(fn: () => unknown): FsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FsError);
    return err as FsError;
  }
  throw new Error("expected an FsError, nothing was thrown");
}

describe("portable copyFile", () => {
  test("copies the content and keeps mode and mtime (to the microsecond), by stream", () => {
    const content = randomBytes(3 * 1024 * 1024 + 17);
    const { path: src, meta } = source("a.bin", content, 0o750);
    const dst = join(dir, "b.bin");

    const outcome = backend.copyFile(src, dst, meta);

    expect(outcome.path).toBe("stream");
    expect(outcome.bytes).toBe(content.length);
    expect(readFileSync(dst).equals(content)).toBe(true);
    expect(statSync(dst).mode & 0o7777).toBe(0o750);
    const want = BigInt(meta.mtimeSec) * 1_000_000_000n + BigInt(meta.mtimeNsec);
    const diff = mtimeNs(dst) - want;
    expect(diff < 1000n && diff > -1000n).toBe(true);
    expect(temps()).toEqual([]);
  });

  test("keeps a mode the umask would strip and a mode with no permissions at all", () => {
    for (const mode of [0o777, 0o000]) {
      const { path: src, meta } = source(`m${mode}`, "x", 0o644);
      const dst = join(dir, `m${mode}.out`);
      backend.copyFile(src, dst, { ...meta, mode });
      expect(statSync(dst).mode & 0o7777).toBe(mode);
    }
  });

  test("copies an empty file", () => {
    const { path: src, meta } = source("empty", "");
    const dst = join(dir, "empty.out");
    expect(backend.copyFile(src, dst, meta)).toEqual({ path: "stream", bytes: 0 });
    expect(statSync(dst).size).toBe(0);
    expect(temps()).toEqual([]);
  });

  test("keeps a pre-1970 mtime (to the millisecond) and a far-future one", () => {
    const old = source("old", "x", 0o644, -86_400 * 365, 250_000_000);
    backend.copyFile(old.path, join(dir, "old.out"), old.meta);
    expect(mtimeNs(join(dir, "old.out"))).toBe(-86_400n * 365n * 1_000_000_000n + 250_000_000n);

    const future = source("future", "x", 0o644, 4_102_444_800, 500_000); // 2100-01-01
    backend.copyFile(future.path, join(dir, "future.out"), future.meta);
    const diff = mtimeNs(join(dir, "future.out")) - (4_102_444_800n * 1_000_000_000n + 500_000n);
    expect(diff < 1000n && diff > -1000n).toBe(true);
  });

  test("replaces an existing destination, even a read-only one, with a new file", () => {
    const { path: src, meta } = source("new", "new content");
    const dst = join(dir, "dst");
    writeFileSync(dst, "old content that is longer");
    chmodSync(dst, 0o444);
    const before = statSync(dst).ino;

    backend.copyFile(src, dst, meta);

    expect(readFileSync(dst, "utf8")).toBe("new content");
    expect(statSync(dst).ino).not.toBe(before);
    expect(temps()).toEqual([]);
  });

  test("reports every byte to onChunk in chunks no larger than chunkBytes", () => {
    const content = randomBytes(10_000);
    const { path: src, meta } = source("c", content);
    const chunks: number[] = [];

    const outcome = backend.copyFile(src, join(dir, "c.out"), meta, { chunkBytes: 1000, onChunk: (n) => chunks.push(n) });

    expect(chunks.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(chunks.every((n) => n > 0 && n <= 1000)).toBe(true);
    expect(chunks.length).toBe(10);
    expect(outcome.bytes).toBe(10_000);
  });

  test("copies a file that grew after it was listed (meta.size is only a hint)", () => {
    const content = randomBytes(200_000);
    const { path: src, meta } = source("grew", content);
    const outcome = backend.copyFile(src, join(dir, "grew.out"), { ...meta, size: 10 });
    expect(outcome.bytes).toBe(200_000);
    expect(readFileSync(join(dir, "grew.out")).equals(content)).toBe(true);
  });

  test("a missing source is ENOENT naming the source, and leaves nothing behind", () => {
    const src = join(dir, "missing");
    const dst = join(dir, "dst");
    const err = thrown(() => backend.copyFile(src, dst, { size: 1, mode: 0o644, mtimeSec: 0, mtimeNsec: 0 }));
    expect(err.code).toBe("ENOENT");
    expect(err.path).toBe(src);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("a destination directory that vanished is ENOENT naming the destination", () => {
    const { path: src, meta } = source("a", "data");
    const gone = join(dir, "gone");
    mkdirSync(gone);
    rmSync(gone, { recursive: true });
    const dst = join(gone, "a");
    const err = thrown(() => backend.copyFile(src, dst, meta));
    expect(err.code).toBe("ENOENT");
    expect(err.path).toBe(dst);
    expect(readdirSync(dir)).toEqual(["a"]);
  });

  test("a failed rename (a directory in the way) removes the temp and keeps the directory", () => {
    const { path: src, meta } = source("a", "data");
    const dst = join(dir, "taken");
    mkdirSync(dst);
    writeFileSync(join(dst, "inside"), "keep");

    const err = thrown(() => backend.copyFile(src, dst, meta));

    expect(["EISDIR", "ENOTEMPTY", "EEXIST"]).toContain(err.code);
    expect(err.path).toBe(dst);
    expect(temps()).toEqual([]);
    expect(readFileSync(join(dst, "inside"), "utf8")).toBe("keep");
  });

  test("an error thrown by onChunk propagates and removes the temp", () => {
    const { path: src, meta } = source("a", randomBytes(5000));
    const boom = new Error("rate limiter failed");
    expect(() =>
      backend.copyFile(src, join(dir, "a.out"), meta, {
        chunkBytes: 1000,
        onChunk: () => {
          throw boom;
        },
      }),
    ).toThrow(boom);
    expect(temps()).toEqual([]);
    expect(existsSync(join(dir, "a.out"))).toBe(false);
  });

  test("cancelled before the first chunk: ECANCELED, no temp, no destination", () => {
    const { path: src, meta } = source("a", randomBytes(5000));
    const dst = join(dir, "a.out");
    const err = thrown(() => backend.copyFile(src, dst, meta, { cancelled: () => true }));
    expect(err.code).toBe("ECANCELED");
    expect(err.path).toBe(src);
    expect(temps()).toEqual([]);
    expect(existsSync(dst)).toBe(false);
  });

  test("cancelled mid-copy: ECANCELED, no temp, and an existing destination left as it was", () => {
    const { path: src, meta } = source("a", randomBytes(5000));
    const dst = join(dir, "a.out");
    writeFileSync(dst, "previous");
    let chunks = 0;

    const err = thrown(() =>
      backend.copyFile(src, dst, meta, { chunkBytes: 1000, onChunk: () => chunks++, cancelled: () => chunks >= 2 }),
    );

    expect(err.code).toBe("ECANCELED");
    expect(chunks).toBe(2);
    expect(temps()).toEqual([]);
    expect(readFileSync(dst, "utf8")).toBe("previous");
  });

  test("refuses a source that is a symlink (ELOOP) instead of copying its target", () => {
    const { path: target, meta } = source("target", "data");
    const link = join(dir, "link");
    symlinkSync(target, link);
    const err = thrown(() => backend.copyFile(link, join(dir, "out"), meta));
    expect(err.code).toBe("ELOOP");
    expect(temps()).toEqual([]);
  });

  test("copies to a name so long that the temp name must be shortened", () => {
    const name = "é".repeat(127); // 254 bytes: the longest such name a filesystem takes
    const { path: src, meta } = source("a", "data");
    const dst = join(dir, name);
    backend.copyFile(src, dst, meta);
    expect(readFileSync(dst, "utf8")).toBe("data");
    expect(temps()).toEqual([]);
  });
});

describe("temp names", () => {
  test("sit beside the destination, start with the temp prefix and fit in 255 bytes", () => {
    for (const name of ["a.txt", "x".repeat(255), "é".repeat(127), "😀".repeat(63)]) {
      const tmp = tempPathFor(join(dir, name));
      expect(dirname(tmp)).toBe(dir);
      expect(basename(tmp).startsWith(TEMP_PREFIX)).toBe(true);
      expect(Buffer.byteLength(basename(tmp))).toBeLessThanOrEqual(255);
      expect(basename(tmp)).not.toContain("\uFFFD"); // cut on a code point boundary
    }
    expect(tempPathFor(join(dir, "a"))).not.toBe(tempPathFor(join(dir, "a")));
  });
});

describe("fsTime", () => {
  test("keeps positive times as fractional seconds and pre-1970 times as Dates", () => {
    expect(fsTime(10, 500_000_000)).toBe(10.5);
    expect(fsTime(-2, 500_000_000)).toEqual(new Date(-1500));
  });
});

describe("portable setTimes", () => {
  test("sets the mtime of a symlink itself, not of its target", () => {
    const { path: target } = source("target", "data");
    utimesSync(target, 1000, 1000);
    const link = join(dir, "link");
    symlinkSync(target, link);

    backend.setTimes(link, 1_600_000_000, 250_000_000);

    const diff = mtimeNs(link) - 1_600_000_000_250_000_000n;
    expect(diff < 1000n && diff > -1000n).toBe(true);
    expect(statSync(target).mtimeMs).toBe(1_000_000);
  });

  test("sets the mtime of a directory", () => {
    const sub = join(dir, "sub");
    mkdirSync(sub);
    backend.setTimes(sub, 1_500_000_000, 0);
    expect(mtimeNs(sub)).toBe(1_500_000_000n * 1_000_000_000n);
  });

  test("a missing path is ENOENT naming it", () => {
    const err = thrown(() => backend.setTimes(join(dir, "nope"), 0, 0));
    expect(err.code).toBe("ENOENT");
    expect(err.path).toBe(join(dir, "nope"));
  });
});

describe("portable probe", () => {
  test("reports no fast paths", () => {
    expect(backend.probe(dir, dir)).toEqual({ reflink: false, copyFileRange: false, anonymousTemp: false });
    expect(backend.name).toBe("portable");
  });
});
