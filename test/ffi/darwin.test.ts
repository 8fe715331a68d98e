import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  cloneRefusalSticks,
  createDarwinBackend,
  darwinErrnoAction,
  darwinErrnoName,
  darwinPlan,
} from "../../ffi/index.ts";
import { TEMP_PREFIX, type FastPath } from "../../ffi/index.ts";

const base = { sameVolume: true, cloneSupported: "unknown" as const, size: 4096 };

describe("darwinPlan", () => {
  test("on one volume whose clone support is not yet known: clone, then fcopyfile, then stream", () => {
    expect(darwinPlan(base)).toEqual(["reflink", "fcopyfile", "stream"]);
    expect(darwinPlan({ ...base, cloneSupported: true })).toEqual(["reflink", "fcopyfile", "stream"]);
  });

  test("a 1-byte file is cloned like any other; an empty file is only created", () => {
    expect(darwinPlan({ ...base, size: 1 })).toEqual(["reflink", "fcopyfile", "stream"]);
    expect(darwinPlan({ ...base, size: 0 })).toEqual(["stream"]);
    expect(darwinPlan({ ...base, size: 0, cloneSupported: true })).toEqual(["stream"]);
  });

  test("across volumes or where clones are unsupported, clonefile is not tried", () => {
    expect(darwinPlan({ ...base, sameVolume: false })).toEqual(["fcopyfile", "stream"]);
    expect(darwinPlan({ ...base, sameVolume: false, cloneSupported: true })).toEqual(["fcopyfile", "stream"]);
    expect(darwinPlan({ ...base, cloneSupported: false })).toEqual(["fcopyfile", "stream"]);
  });

  test("a clone refusal that holds for the volume skips clonefile; a per-file one does not", () => {
    for (const code of ["ENOTSUP", "EOPNOTSUPP", "EXDEV", "ENOSYS"]) {
      expect(darwinPlan({ ...base, lastCloneErrno: code })).toEqual(["fcopyfile", "stream"]);
    }
    for (const code of ["EPERM", "EINVAL", "EEXIST"]) {
      expect(darwinPlan({ ...base, lastCloneErrno: code })).toEqual(["reflink", "fcopyfile", "stream"]);
    }
  });

  test("honours allow, but always keeps stream as the last resort", () => {
    const allow = (...p: FastPath[]) => new Set<FastPath>(p);
    expect(darwinPlan({ ...base, allow: allow("fcopyfile") })).toEqual(["fcopyfile", "stream"]);
    expect(darwinPlan({ ...base, allow: allow("reflink") })).toEqual(["reflink", "stream"]);
    expect(darwinPlan({ ...base, allow: allow() })).toEqual(["stream"]);
    expect(darwinPlan({ ...base, allow: allow("copy_file_range", "sendfile") })).toEqual(["stream"]);
  });

  test("a file past 4 GiB plans like any other (no size limit on these paths)", () => {
    expect(darwinPlan({ ...base, size: 2 ** 40 })).toEqual(["reflink", "fcopyfile", "stream"]);
  });
});

describe("darwinErrnoAction", () => {
  test("no clone support, another volume or an unusable argument: the next path runs", () => {
    for (const code of ["ENOTSUP", "EOPNOTSUPP", "EXDEV", "EINVAL", "ENOSYS", "EPERM"]) {
      expect(darwinErrnoAction(code)).toBe("next-path");
    }
  });

  test("a taken temp name: try another name", () => {
    expect(darwinErrnoAction("EEXIST")).toBe("new-temp-name");
  });

  test("errors no other path can get around fail the copy", () => {
    for (const code of ["ENOENT", "EACCES", "ENOSPC", "EDQUOT", "EROFS", "EIO", "ENAMETOOLONG", "ELOOP", "ERRNO_999"]) {
      expect(darwinErrnoAction(code)).toBe("fail");
    }
  });

  test("only volume-wide refusals stick to the volume pair", () => {
    expect(cloneRefusalSticks("ENOTSUP")).toBe(true);
    expect(cloneRefusalSticks("EXDEV")).toBe(true);
    expect(cloneRefusalSticks("EPERM")).toBe(false);
    expect(cloneRefusalSticks("ENOSPC")).toBe(false);
  });
});

describe("darwinErrnoName", () => {
  test("uses macOS numbers, which differ from Linux past 34", () => {
    expect(darwinErrnoName(2)).toBe("ENOENT");
    expect(darwinErrnoName(13)).toBe("EACCES");
    expect(darwinErrnoName(17)).toBe("EEXIST");
    expect(darwinErrnoName(18)).toBe("EXDEV");
    expect(darwinErrnoName(28)).toBe("ENOSPC");
    expect(darwinErrnoName(45)).toBe("ENOTSUP");
    expect(darwinErrnoName(62)).toBe("ELOOP");
    expect(darwinErrnoName(63)).toBe("ENAMETOOLONG");
    expect(darwinErrnoName(69)).toBe("EDQUOT");
    expect(darwinErrnoName(89)).toBe("ECANCELED");
    expect(darwinErrnoName(102)).toBe("EOPNOTSUPP");
    expect(darwinErrnoName(999)).toBe("ERRNO_999");
  });
});

describe.skipIf(process.platform === "darwin")("darwin backend elsewhere", () => {
  test("importing is safe; only creating the backend opens libSystem, and fails", () => {
    expect(() => createDarwinBackend()).toThrow();
  });
});

describe.skipIf(process.platform !== "darwin")("darwin backend on macOS", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "blit-test-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("copies content, mode and mtime, replacing the destination and leaving no temp", () => {
    const src = join(dir, "a");
    const dst = join(dir, "b");
    writeFileSync(src, "hello");
    chmodSync(src, 0o640);
    writeFileSync(dst, "old");
    const backend = createDarwinBackend();
    const outcome = backend.copyFile(src, dst, { size: 5, mode: 0o640, mtimeSec: 1_700_000_000, mtimeNsec: 123_456_789 });
    expect(["reflink", "fcopyfile", "stream"]).toContain(outcome.path);
    expect(readFileSync(dst, "utf8")).toBe("hello");
    expect(statSync(dst).mode & 0o7777).toBe(0o640);
    const diff = lstatSync(dst, { bigint: true }).mtimeNs - 1_700_000_000_123_456_789n;
    expect(diff < 1000n && diff > -1000n).toBe(true);
    expect(readdirSync(dir).filter((n) => n.startsWith(TEMP_PREFIX))).toEqual([]);
  });
});
