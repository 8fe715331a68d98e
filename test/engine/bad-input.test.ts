// Bad input is refused before anything is written; a file that cannot be read is named, the rest
// is copied, and a mirror in that state deletes nothing.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { diffR, filesUnder, listing, metaDiff, runCli, sh, tempDirs, writeTree } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

describe("paths that cannot work are refused with exit 2 and nothing written", () => {
  test("a missing source: exit 2, the message names the path, no destination created", async () => {
    const t = temps.make();
    const missing = t.join("no-such-source");
    const dst = t.join("dst");
    for (const cmd of ["copy", "mirror"]) {
      const r = await runCli([cmd, missing, dst], { home: t.home });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(missing);
      expect(existsSync(dst)).toBe(false);
    }
  });

  test("destination inside the source: exit 2, source untouched", async () => {
    const t = temps.make();
    const src = t.join("src");
    writeTree(src, { "a.txt": "a", "sub/b.txt": "b" });
    const before = listing(src);
    for (const [cmd, dst] of [["copy", join(src, "inner")], ["mirror", join(src, "sub", "inner")], ["copy", join(src, "sub")]] as const) {
      const r = await runCli([cmd, src, dst], { home: t.home });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain("inside");
      expect(listing(src)).toEqual(before);
    }
  });

  test("source and destination the same path: exit 2, nothing written", async () => {
    const t = temps.make();
    const src = t.join("src");
    writeTree(src, { "a.txt": "a", "sub/b.txt": "b" });
    const before = listing(src);
    for (const args of [["mirror", src, src], ["copy", src, src + "/"], ["copy", join(src, "a.txt"), join(src, "a.txt")], ["copy", join(src, "a.txt"), src]]) {
      const r = await runCli(args, { home: t.home });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain("same");
      expect(listing(src)).toEqual(before);
    }
  });
});

describe("a single file as the source", () => {
  test("is copied into an existing directory under its own name, with mode and mtime", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "report.pdf": { content: "pdf bytes", mode: 0o640, mtime: "2020-05-05 05:05:05.050505050" } });
    mkdirSync(t.join("dst"));
    const r = await runCli(["copy", t.join("src", "report.pdf"), t.join("dst")], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(diffR(t.join("src"), t.join("dst")).exitCode).toBe(0);
    expect(metaDiff(t.join("src", "report.pdf"), t.join("dst", "report.pdf"))).toEqual([]);
  });

  test("is copied to a new file path when the destination does not exist", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "report.pdf": { content: "pdf bytes", mode: 0o600, mtime: "2020-05-05 05:05:05.050505050" } });
    mkdirSync(t.join("dst"));
    const target = t.join("dst", "renamed.pdf");
    const r = await runCli(["copy", t.join("src", "report.pdf"), target], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(target, "utf8")).toBe("pdf bytes");
    expect(metaDiff(t.join("src", "report.pdf"), target)).toEqual([]);
    expect(filesUnder(t.join("dst"))).toEqual(["renamed.pdf"]);
  });

  test("to a path whose parent does not exist: exit 2", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "f": "f" });
    const r = await runCli(["copy", t.join("src", "f"), t.join("missing-parent", "f")], { home: t.home });
    expect(r.exitCode).toBe(2);
    expect(existsSync(t.join("missing-parent"))).toBe(false);
  });
});

describe("an unreadable source file, for a user who cannot read it", () => {
  const NOBODY = { user: "nobody", group: "nogroup" };

  test("is named on stderr with exit 1, every other file is copied, and a mirror then deletes nothing", async () => {
    const t = temps.make();
    chmodSync(t.path, 0o755); // mkdtemp makes 0700; nobody must reach the subtree
    const world = t.join("world");
    mkdirSync(world);
    chmodSync(world, 0o777); // nobody creates dst and BLIT_HOME here
    const src = join(world, "src");
    const dst = join(world, "dst");
    const home = join(world, "home");
    writeTree(src, { "ok-1.txt": "one", "sub/ok-2.txt": "two", "sub/secret.txt": "nobody may read this", "z.txt": "last" });
    chmodSync(join(src, "sub/secret.txt"), 0o000);
    // Sanity: the setup really denies nobody (root would read anything).
    expect(() => sh("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat", join(src, "sub/secret.txt")])).toThrow();

    const copy = await runCli(["copy", src, dst], { home, asUser: NOBODY });
    expect(copy.exitCode).toBe(1);
    expect(copy.stderr).toContain("secret.txt");
    expect(copy.stderr.split("\n").filter((l) => l.includes("secret.txt")).length).toBeGreaterThanOrEqual(1);
    expect(filesUnder(dst).sort()).toEqual(["ok-1.txt", "sub/ok-2.txt", "z.txt"]);
    for (const rel of ["ok-1.txt", "sub/ok-2.txt", "z.txt"]) {
      expect(readFileSync(join(dst, rel)).equals(readFileSync(join(src, rel)))).toBe(true);
    }

    // An extraneous file in the destination, owned by nobody so that a mirror could delete it.
    writeFileSync(join(dst, "extraneous.txt"), "must survive a mirror that had errors");
    chownSync(join(dst, "extraneous.txt"), 65534, 65534);
    const mirror = await runCli(["mirror", src, dst], { home, asUser: NOBODY });
    expect(mirror.exitCode).toBe(1);
    expect(mirror.stderr).toContain("secret.txt");
    expect(existsSync(join(dst, "extraneous.txt"))).toBe(true);
    expect(filesUnder(dst).sort()).toEqual(["extraneous.txt", "ok-1.txt", "sub/ok-2.txt", "z.txt"]);
  });
});
