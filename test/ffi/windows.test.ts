import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  COPY_FILE_FAIL_IF_EXISTS,
  COPY_FILE_NO_BUFFERING,
  createWindowsBackend,
  FILETIME_MAX,
  FILETIME_UNIX_EPOCH,
  filetimeToUnix,
  longPathForm,
  MAX_PATH_CHARS,
  MOVE_FLAGS,
  MOVEFILE_REPLACE_EXISTING,
  MOVEFILE_WRITE_THROUGH,
  NO_BUFFERING_MIN_BYTES,
  toWide,
  unixToFiletime,
  windowsCopyAction,
  windowsCopyFlags,
  winErrorCode,
} from "../../ffi/index.ts";
import { TEMP_PREFIX } from "../../ffi/index.ts";

const MiB = 1024 * 1024;

describe("windowsCopyFlags", () => {
  test("the unbuffered threshold is 256 MiB", () => {
    expect(NO_BUFFERING_MIN_BYTES).toBe(256 * MiB);
  });

  test("always refuses to overwrite (the target is a fresh temp name)", () => {
    expect(windowsCopyFlags(0)).toBe(COPY_FILE_FAIL_IF_EXISTS);
    expect(windowsCopyFlags(4096)).toBe(COPY_FILE_FAIL_IF_EXISTS);
  });

  test("copies unbuffered from exactly the threshold up, buffered below it", () => {
    expect(windowsCopyFlags(NO_BUFFERING_MIN_BYTES - 1) & COPY_FILE_NO_BUFFERING).toBe(0);
    expect(windowsCopyFlags(NO_BUFFERING_MIN_BYTES)).toBe(COPY_FILE_FAIL_IF_EXISTS | COPY_FILE_NO_BUFFERING);
    expect(windowsCopyFlags(2 ** 40) & COPY_FILE_NO_BUFFERING).toBe(COPY_FILE_NO_BUFFERING);
  });

  test("takes another threshold, or none, and can allow overwriting", () => {
    expect(windowsCopyFlags(MiB, { noBufferingMinBytes: MiB }) & COPY_FILE_NO_BUFFERING).toBe(COPY_FILE_NO_BUFFERING);
    expect(windowsCopyFlags(2 ** 50, { noBufferingMinBytes: Infinity }) & COPY_FILE_NO_BUFFERING).toBe(0);
    expect(windowsCopyFlags(0, { failIfExists: false })).toBe(0);
  });

  test("the move replaces an existing target and asks for no cross-volume copy", () => {
    expect(MOVE_FLAGS & MOVEFILE_REPLACE_EXISTING).toBe(MOVEFILE_REPLACE_EXISTING);
    expect(MOVE_FLAGS & MOVEFILE_WRITE_THROUGH).toBe(0);
  });
});

describe("FILETIME conversions", () => {
  test("the Unix epoch and a known date", () => {
    expect(unixToFiletime(0, 0)).toBe(FILETIME_UNIX_EPOCH);
    expect(unixToFiletime(946_684_800, 0)).toBe(0x01bf53eb256d4000n); // 2000-01-01T00:00:00Z
  });

  test("nanoseconds are kept to the 100 ns tick, truncated", () => {
    expect(unixToFiletime(0, 123_456_789)).toBe(FILETIME_UNIX_EPOCH + 1_234_567n);
    expect(unixToFiletime(0, 99)).toBe(FILETIME_UNIX_EPOCH);
    expect(unixToFiletime(0, 999_999_999)).toBe(FILETIME_UNIX_EPOCH + 9_999_999n);
  });

  test("pre-1970 times count back from the Unix epoch, nanoseconds still forward", () => {
    expect(unixToFiletime(-1, 500_000_000)).toBe(FILETIME_UNIX_EPOCH - 5_000_000n);
    expect(unixToFiletime(-11_644_473_600, 100)).toBe(1n); // 1601-01-01 plus one tick
  });

  test("times Windows cannot store are clamped", () => {
    expect(unixToFiletime(-11_644_473_600, 0)).toBe(1n); // 0 would mean "leave unchanged"
    expect(unixToFiletime(-20_000_000_000, 0)).toBe(1n);
    expect(unixToFiletime(1e15, 0)).toBe(FILETIME_MAX);
  });

  test("back to Unix time, before and after 1970", () => {
    expect(filetimeToUnix(FILETIME_UNIX_EPOCH)).toEqual({ sec: 0, nsec: 0 });
    expect(filetimeToUnix(0n)).toEqual({ sec: -11_644_473_600, nsec: 0 });
    expect(filetimeToUnix(FILETIME_UNIX_EPOCH - 1n)).toEqual({ sec: -1, nsec: 999_999_900 });
  });

  test("round-trips any time on a 100 ns boundary", () => {
    for (const [sec, nsec] of [
      [1_700_000_000, 123_456_700],
      [-1, 999_999_900],
      [-3_000_000_000, 100],
      [253_402_300_799, 0], // 9999-12-31T23:59:59Z
    ]) {
      expect(filetimeToUnix(unixToFiletime(sec!, nsec!))).toEqual({ sec: sec!, nsec: nsec! });
    }
  });
});

describe("long paths", () => {
  const drive = (len: number) => "C:\\" + "a".repeat(len - 3);

  test("paths up to MAX_PATH_CHARS (259) pass unchanged", () => {
    expect(MAX_PATH_CHARS).toBe(259);
    expect(longPathForm("C:\\dir\\file.txt")).toBe("C:\\dir\\file.txt");
    expect(longPathForm(drive(259))).toBe(drive(259));
  });

  test("longer absolute drive paths get \\\\?\\ and are normalized, since the prefix turns that off", () => {
    expect(longPathForm(drive(260))).toBe("\\\\?\\" + drive(260));
    const messy = "C:/" + "d".repeat(300) + "/./x/../file.txt";
    expect(longPathForm(messy)).toBe("\\\\?\\C:\\" + "d".repeat(300) + "\\file.txt");
  });

  test("longer UNC paths get \\\\?\\UNC\\", () => {
    const unc = "\\\\server\\share\\" + "u".repeat(300);
    expect(longPathForm(unc)).toBe("\\\\?\\UNC\\server\\share\\" + "u".repeat(300));
  });

  test("prefixed and relative long paths are left alone", () => {
    const prefixed = "\\\\?\\C:\\" + "p".repeat(300);
    expect(longPathForm(prefixed)).toBe(prefixed);
    const relative = "rel\\" + "r".repeat(300);
    expect(longPathForm(relative)).toBe(relative);
  });
});

describe("toWide", () => {
  const decode = (w: Uint16Array) => String.fromCharCode(...w.subarray(0, w.length - 1));

  test("is UTF-16 with one NUL at the end", () => {
    const w = toWide("C:\\tmp\\ä.txt");
    expect(w[w.length - 1]).toBe(0);
    expect(w.length).toBe("C:\\tmp\\ä.txt".length + 1);
    expect(decode(w)).toBe("C:\\tmp\\ä.txt");
    expect(new Uint8Array(toWide("A").buffer)).toEqual(new Uint8Array([0x41, 0, 0, 0])); // little-endian
  });

  test("keeps characters outside the BMP as surrogate pairs", () => {
    const w = toWide("😀");
    expect(Array.from(w)).toEqual([0xd83d, 0xde00, 0]);
  });

  test("an empty path is just the NUL", () => {
    expect(Array.from(toWide(""))).toEqual([0]);
  });

  test("applies the long-path prefix", () => {
    const long = "D:\\" + "w".repeat(400);
    expect(decode(toWide(long))).toBe("\\\\?\\" + long);
  });
});

describe("winErrorCode", () => {
  test("maps GetLastError values to errno-style codes", () => {
    expect(winErrorCode(2)).toBe("ENOENT"); // ERROR_FILE_NOT_FOUND
    expect(winErrorCode(3)).toBe("ENOENT"); // ERROR_PATH_NOT_FOUND
    expect(winErrorCode(5)).toBe("EACCES"); // ERROR_ACCESS_DENIED
    expect(winErrorCode(32)).toBe("EBUSY"); // ERROR_SHARING_VIOLATION
    expect(winErrorCode(39)).toBe("ENOSPC"); // ERROR_HANDLE_DISK_FULL
    expect(winErrorCode(80)).toBe("EEXIST"); // ERROR_FILE_EXISTS
    expect(winErrorCode(112)).toBe("ENOSPC"); // ERROR_DISK_FULL
    expect(winErrorCode(183)).toBe("EEXIST"); // ERROR_ALREADY_EXISTS
    expect(winErrorCode(206)).toBe("ENAMETOOLONG"); // ERROR_FILENAME_EXCED_RANGE
    expect(winErrorCode(1235)).toBe("ECANCELED"); // ERROR_REQUEST_ABORTED
  });

  test("names unknown values by number", () => {
    expect(winErrorCode(0)).toBe("WINERR_0");
    expect(winErrorCode(99_999)).toBe("WINERR_99999");
  });
});

describe("windowsCopyAction", () => {
  const unbuffered = windowsCopyFlags(NO_BUFFERING_MIN_BYTES);
  const buffered = windowsCopyFlags(0);

  test("a taken temp name: try another", () => {
    expect(windowsCopyAction("EEXIST", buffered)).toBe("new-temp-name");
  });

  test("an invalid parameter with unbuffered I/O: retry buffered; without: the stream runs", () => {
    expect(windowsCopyAction("EINVAL", unbuffered)).toBe("buffered");
    expect(windowsCopyAction("EINVAL", buffered)).toBe("next-path");
    expect(windowsCopyAction("ENOTSUP", unbuffered)).toBe("next-path");
  });

  test("errors no other path can get around fail the copy", () => {
    for (const code of ["ENOENT", "EACCES", "ENOSPC", "EBUSY", "EDQUOT", "WINERR_9999"]) {
      expect(windowsCopyAction(code, buffered)).toBe("fail");
    }
  });
});

describe.skipIf(process.platform === "win32")("windows backend elsewhere", () => {
  test("importing is safe; only creating the backend opens kernel32, and fails", () => {
    expect(() => createWindowsBackend()).toThrow();
  });
});

describe.skipIf(process.platform !== "win32")("windows backend on Windows", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "blit-test-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("copies content and mtime with CopyFileExW, replacing the destination and leaving no temp", () => {
    const src = join(dir, "a");
    const dst = join(dir, "b");
    writeFileSync(src, "hello");
    writeFileSync(dst, "old");
    const outcome = createWindowsBackend().copyFile(src, dst, { size: 5, mode: 0o666, mtimeSec: 1_700_000_000, mtimeNsec: 123_456_700 });
    expect(outcome).toMatchObject({ path: "copyfileexw", bytes: 5 });
    expect(readFileSync(dst, "utf8")).toBe("hello");
    expect(statSync(dst, { bigint: true }).mtimeNs).toBe(1_700_000_000_123_456_700n);
    expect(readdirSync(dir).filter((n) => n.startsWith(TEMP_PREFIX))).toEqual([]);
  });
});
