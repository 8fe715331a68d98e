// ffi moveBetween: the rename and link a backup is made with, between directory handles of two
// roots, for both RootedDir implementations; a path instead of a single name is refused.
import { afterEach, describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { moveBetween, rootedImplementations } from "../../ffi/index.ts";
import { tempDirs } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

describe.each(Object.entries(rootedImplementations))("moveBetween (%s)", (_name, open) => {
  test("renames and links between two roots, replacing a file there; a symlink moves as itself", () => {
    const t = temps.make();
    mkdirSync(t.join("a"));
    mkdirSync(t.join("b"));
    writeFileSync(t.join("a", "f"), "f\n");
    writeFileSync(t.join("a", "g"), "g\n");
    writeFileSync(t.join("b", "old"), "older backup\n");
    symlinkSync("/etc/passwd", t.join("a", "l"));
    const a = open(t.join("a"));
    const b = open(t.join("b"));
    try {
      moveBetween("link", a, "f", b, "f-link");
      moveBetween("rename", a, "g", b, "old");
      moveBetween("rename", a, "l", b, "l");
    } finally {
      a.close();
      b.close();
    }
    expect(readFileSync(t.join("a", "f"), "utf8")).toBe("f\n");
    expect(lstatSync(t.join("b", "f-link")).ino).toBe(lstatSync(t.join("a", "f")).ino);
    expect(readFileSync(t.join("b", "old"), "utf8")).toBe("g\n");
    expect(lstatSync(t.join("b", "l")).isSymbolicLink()).toBe(true);
  });

  test("a path with a '/' or '..' is refused (EINVAL), nothing moved", () => {
    const t = temps.make();
    mkdirSync(t.join("a/sub"), { recursive: true });
    writeFileSync(t.join("a/sub/f"), "f\n");
    const a = open(t.join("a"));
    try {
      expect(() => moveBetween("rename", a, "sub/f", a, "g")).toThrow(expect.objectContaining({ code: "EINVAL" }));
      expect(() => moveBetween("rename", a, "sub", a, "..")).toThrow(expect.objectContaining({ code: "EINVAL" }));
    } finally {
      a.close();
    }
    expect(readFileSync(t.join("a/sub/f"), "utf8")).toBe("f\n");
  });
});
