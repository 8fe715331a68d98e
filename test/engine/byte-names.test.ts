// Names are bytes end to end: a name that is not valid UTF-8, or holds a newline or a tab, is
// walked, copied and mirrored under its exact bytes, and an extraneous one is deleted. Run
// against the Linux backend and the portable one (BLIT_BACKEND=portable).
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { recordedRuns, runCli, tempDirs } from "../helpers/index.ts";
import { NAMES, at, b, shown, snapshot, writeByteNameTree } from "./byte-names.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const backends = process.platform === "linux" ? ["linux", "portable"] : ["portable"];

for (const be of backends) {
  const env = be === "portable" ? { BLIT_BACKEND: "portable" } : {};
  describe(`${be} backend`, () => {
    test("copy keeps every name's exact bytes (non-UTF-8, newline, tab, ESC, a real U+FFFD)", async () => {
      const t = temps.make();
      const src = t.join("src");
      mkdirSync(src);
      writeByteNameTree(src);
      const r = await runCli(["copy", src, t.join("dst"), "--json"], { home: t.home, env });
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(0);
      expect(r.json.errorCount).toBe(0);
      const want = snapshot(src);
      expect(Object.keys(want).length).toBe(14);
      expect(snapshot(t.join("dst"))).toEqual(want);
      // The report's JSON is valid and counts every file.
      expect(r.json.workload.files).toBe(10);
      expect(r.json.workload.symlinks).toBe(2);
    });

    test("--dry-run lists such names escaped: no raw ESC, newline or undecodable byte reaches the terminal", async () => {
      const t = temps.make();
      const src = t.join("src");
      mkdirSync(src);
      writeByteNameTree(src);
      const r = await runCli(["copy", "--dry-run", src, t.join("dst")], { home: t.home, env });
      expect(r.exitCode).toBe(0);
      const listing = r.stdout.split("\n").filter((l) => l.startsWith("copy    "));
      expect(listing.length).toBe(10);
      expect(r.stdout).not.toContain("\x1b");
      expect(r.stdout).toContain("esc\\x1bname");
      expect(r.stdout).toContain("a\\xffb");
    });

    test("mirror copies the same bytes and deletes extraneous non-UTF-8 entries", async () => {
      const t = temps.make();
      const src = t.join("src");
      const dst = t.join("dst");
      mkdirSync(src);
      mkdirSync(dst);
      writeByteNameTree(src);
      writeFileSync(at(dst, b("stale", [0xff])), "extraneous\n");
      mkdirSync(at(dst, b("old", [0xfa])));
      writeFileSync(at(dst, b("old", [0xfa]), b("in", [0xfb])), "extraneous in a dir\n");
      writeFileSync(at(dst, b("x\ny")), "extraneous with a newline\n");
      const r = await runCli(["mirror", src, dst, "--json"], { home: t.home, env });
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(0);
      expect(r.json.errorCount).toBe(0);
      expect(r.json.counts.deleted).toBe(4);
      const got = snapshot(dst);
      expect(shown(got).sort()).toEqual(shown(snapshot(src)).sort());
      expect(got).toEqual(snapshot(src));
      expect(existsSync(at(dst, b("stale", [0xff])))).toBe(false);
      // A second mirror finds nothing to do: the names matched byte for byte.
      const again = await runCli(["mirror", src, dst, "--json"], { home: t.home, env });
      expect(again.exitCode).toBe(0);
      expect(again.json.counts.copied).toBe(0);
      expect(again.json.counts.deleted).toBe(0);
    });

    test("errors name such a path with \\xff in messages and telemetry (which records the run)", async () => {
      const t = temps.make();
      const src = t.join("src");
      const dst = t.join("dst");
      mkdirSync(src);
      mkdirSync(dst);
      writeFileSync(at(src, NAMES.aFFb), "a file here");
      mkdirSync(at(dst, NAMES.aFFb)); // a directory there: copy reports a type conflict
      const r = await runCli(["copy", src, dst], { home: t.home, env });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain("a\\xffb");
      expect(r.stderr).not.toContain("\ufffd");
      const runs = await recordedRuns(t.home);
      expect(runs.length).toBe(1);
      expect(runs[0].status).toBe("partial");
    });
  });
}
