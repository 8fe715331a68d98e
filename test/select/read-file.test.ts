// DirHandle.readFile, which the walk reads per-directory rules files with: a regular file's
// bytes; a symlink is never followed, a FIFO never blocks, an oversized file is refused.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createLinuxDirReader, createPortableDirReader, type DirReader } from "../../ffi/index.ts";
import { tempDirs } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const readers: [string, () => DirReader][] = [["portable", createPortableDirReader]];
if (process.platform === "linux") readers.unshift(["linux", createLinuxDirReader]);

const code = (f: () => unknown) => {
  try {
    f();
    return "none";
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

for (const [label, make] of readers) {
  describe(`${label} reader: readFile`, () => {
    test("reads a regular file; refuses a symlink, a FIFO, a directory and a file over the limit", () => {
      const t = temps.make();
      writeFileSync(t.join("rules"), "- *.o\n");
      mkdirSync(t.join("sub"));
      writeFileSync(t.join("outside"), "+ *\n");
      symlinkSync(t.join("outside"), t.join("link"));
      expect(spawnSync("mkfifo", [t.join("fifo")]).status).toBe(0);
      const dir = make().open(t.path);
      try {
        expect(new TextDecoder().decode(dir.readFile("rules", 100))).toBe("- *.o\n");
        expect(code(() => dir.readFile("link", 100))).toBe("ELOOP");
        // Opened without blocking (no writer) and refused by type.
        expect(code(() => dir.readFile("fifo", 100))).toBe("NOT_REGULAR");
        expect(code(() => dir.readFile("missing", 100))).toBe("ENOENT");
        expect(code(() => dir.readFile("rules", 3))).toBe("EFBIG");
        expect(["EISDIR", "NOT_REGULAR"]).toContain(code(() => dir.readFile("sub", 100)) ?? "");
      } finally {
        dir.close();
      }
    });
  });
}
