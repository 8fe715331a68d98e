// blit check SRC DST: two real trees on disk, the real CLI, and what a user sees: one line per
// difference, the kinds and reasons in --json, exit 0 equal / 1 different / 2 error.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, linkSync, writeFileSync } from "node:fs";
import { runCli, setMtime, tempDirs, writeTree, type TreeSpec } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const T = "2021-05-06 07:08:09.123456789";
const T2 = "2021-05-06 07:08:10.123456789";

/** Every entry has its mode and mtime fixed, directories too, so two copies compare equal. */
const BASE: TreeSpec = {
  "d/": { dir: true, mode: 0o755, mtime: T },
  "d/sub/": { dir: true, mode: 0o750, mtime: T },
  "d/sub/deep.txt": { content: "deep\n", mode: 0o644, mtime: T },
  "a.txt": { content: "hello\n", mode: 0o644, mtime: T },
  "b.txt": { content: "same size\n", mode: 0o644, mtime: T },
  "link": { symlink: "a.txt", mtime: T },
  "swap": { content: "a file in SRC\n", mode: 0o644, mtime: T },
  "exec.sh": { content: "#!/bin/sh\n", mode: 0o755, mtime: T },
};
const BASE_ENTRIES = Object.keys(BASE).length;

/** SRC from BASE, DST from BASE changed by `edit`; returns both paths and the temp dir. */
function pair(edit: (spec: TreeSpec) => void = () => {}) {
  const t = temps.make();
  const dstSpec: TreeSpec = { ...BASE };
  edit(dstSpec);
  writeTree(t.join("src"), BASE);
  writeTree(t.join("dst"), dstSpec);
  return { t, src: t.join("src"), dst: t.join("dst") };
}

async function check(t: { home: string }, ...args: string[]) {
  return runCli(["check", ...args], { home: t.home });
}

describe("blit check: equal trees", () => {
  test("two equal trees: exit 0, no difference listed, every entry counted equal", async () => {
    const { t, src, dst } = pair();
    const r = await check(t, src, dst);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`0 missing, 0 extra, 0 differ; ${BASE_ENTRIES} entries equal\n`);
    const j = await check(t, src, dst, "--json");
    expect(j.exitCode).toBe(0);
    expect(j.json).toMatchObject({ status: "equal", exitCode: 0, missing: [], extra: [], differs: [], counts: { missing: 0, extra: 0, differs: 0, equal: BASE_ENTRIES } });
  });

  test("a check right after `blit mirror` finds the trees equal; before it, the differences", async () => {
    const { t, src, dst } = pair((s) => {
      delete s["a.txt"];
      s["extra/"] = { dir: true };
      s["extra/x"] = "x";
      s["b.txt"] = { content: "other content, longer\n", mode: 0o600, mtime: T2 };
      s["link"] = { symlink: "b.txt" };
      delete s["swap"];
      s["swap/"] = { dir: true };
      s["swap/inner"] = "in a directory in DST";
    });
    const before = await check(t, src, dst, "--json");
    expect(before.exitCode).toBe(1);
    expect(before.json.counts).toMatchObject({ missing: 1, extra: 3, differs: 3 });
    const m = await runCli(["mirror", src, dst, "--no-telemetry"], { home: t.home });
    expect(m.exitCode).toBe(0);
    const after = await check(t, src, dst);
    expect(after.stdout).toBe(`0 missing, 0 extra, 0 differ; ${BASE_ENTRIES} entries equal\n`);
    expect(after.exitCode).toBe(0);
  });

  test("a check right after `blit copy` into a new directory finds the trees equal", async () => {
    const { t, src } = pair();
    writeTree(`${src}/more/deeper`, { "f": "f", "g/": { dir: true, mode: 0o700 }, "l": { symlink: "../../a.txt" } });
    const c = await runCli(["copy", src, t.join("fresh"), "--no-telemetry"], { home: t.home });
    expect(c.exitCode).toBe(0);
    const r = await check(t, src, t.join("fresh"));
    expect(r.stdout).toBe(`0 missing, 0 extra, 0 differ; ${BASE_ENTRIES + 5} entries equal\n`);
    expect(r.exitCode).toBe(0);
  });

  test("--exclude leaves matching entries out on both sides", async () => {
    const { t, src, dst } = pair((s) => {
      s["d/sub/deep.txt"] = { content: "changed\n", mode: 0o644, mtime: T2 };
      s["cache.tmp"] = "x";
    });
    const r = await check(t, src, dst, "--exclude", "*.tmp", "--exclude", "d/sub/", "--json");
    expect(r.exitCode).toBe(0);
    expect(r.json.counts.equal).toBe(BASE_ENTRIES - 2);
  });
});

describe("blit check: each kind of difference, exit 1", () => {
  const cases: { name: string; edit: (s: TreeSpec) => void; missing?: string[]; extra?: string[]; differs?: { path: string; reasons: string[]; type?: string; dstType?: string }[] }[] = [
    { name: "a file missing from DST", edit: (s) => delete s["a.txt"], missing: ["a.txt"] },
    { name: "a directory missing from DST (with everything in it)", edit: (s) => { delete s["d/"]; delete s["d/sub/"]; delete s["d/sub/deep.txt"]; }, missing: ["d", "d/sub", "d/sub/deep.txt"] },
    { name: "an extra file in DST", edit: (s) => (s["d/new.txt"] = { content: "new", mtime: T }), extra: ["d/new.txt"] },
    { name: "a size change", edit: (s) => (s["a.txt"] = { content: "hello, world\n", mode: 0o644, mtime: T }), differs: [{ path: "a.txt", reasons: ["content", "size"] }] },
    { name: "an mtime change", edit: (s) => (s["a.txt"] = { content: "hello\n", mode: 0o644, mtime: T2 }), differs: [{ path: "a.txt", reasons: ["mtime"] }] },
    { name: "a mode change", edit: (s) => (s["exec.sh"] = { content: "#!/bin/sh\n", mode: 0o644, mtime: T }), differs: [{ path: "exec.sh", reasons: ["mode"] }] },
    { name: "a directory's mode and mtime", edit: (s) => (s["d/sub/"] = { dir: true, mode: 0o700, mtime: T2 }), differs: [{ path: "d/sub", reasons: ["mtime", "mode"] }] },
    { name: "a symlink target change", edit: (s) => (s["link"] = { symlink: "b.txt", mtime: T }), differs: [{ path: "link", reasons: ["target"], type: "symlink" }] },
    {
      name: "a file in SRC, a directory in DST",
      edit: (s) => { delete s["swap"]; s["swap/"] = { dir: true, mtime: T }; s["swap/inner"] = "x"; },
      differs: [{ path: "swap", reasons: ["type"], type: "file", dstType: "directory" }],
      extra: ["swap/inner"],
    },
    {
      name: "a directory in SRC, a file in DST",
      edit: (s) => { delete s["d/"]; delete s["d/sub/"]; delete s["d/sub/deep.txt"]; s["d"] = { content: "now a file", mtime: T }; },
      differs: [{ path: "d", reasons: ["type"], type: "directory", dstType: "file" }],
      missing: ["d/sub", "d/sub/deep.txt"],
    },
    {
      name: "a symlink in SRC, a file in DST",
      edit: (s) => (s["link"] = { content: "a.txt", mtime: T }),
      differs: [{ path: "link", reasons: ["type"], type: "symlink", dstType: "file" }],
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const { t, src, dst } = pair(c.edit);
      const r = await check(t, src, dst, "--json");
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(1);
      expect(r.json.status).toBe("different");
      expect(r.json.missing.map((e: { path: string }) => e.path)).toEqual(c.missing ?? []);
      expect(r.json.extra.map((e: { path: string }) => e.path)).toEqual(c.extra ?? []);
      expect(r.json.differs.map((e: { path: string; reasons: string[]; type: string; dstType?: string }) => ({ path: e.path, reasons: e.reasons, ...(c.differs?.find((d) => d.path === e.path)?.type ? { type: e.type } : {}), ...(e.dstType ? { dstType: e.dstType } : {}) })))
        .toEqual(c.differs ?? []);
      const n = (c.missing?.length ?? 0) + (c.extra?.length ?? 0) + (c.differs?.length ?? 0);
      expect(r.json.counts.missing + r.json.counts.extra + r.json.counts.differs).toBe(n);
    });
  }

  test("the text output: one line per difference in walk order, then the summary", async () => {
    const { t, src, dst } = pair((s) => {
      delete s["a.txt"];
      s["b.txt"] = { content: "same size, more\n", mode: 0o600, mtime: T2 };
      s["d/new.txt"] = { content: "new", mtime: T };
      s["d/"] = { dir: true, mode: 0o755, mtime: T };
      s["swap/"] = { dir: true, mtime: T };
      delete s["swap"];
    });
    const r = await check(t, src, dst);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe([
      "missing  a.txt",
      "differs  b.txt (content, size, mtime, mode)",
      "extra    d/new.txt",
      "differs  swap (type: file in SRC, directory in DST)",
      `1 missing, 1 extra, 2 differ; ${BASE_ENTRIES - 3} entries equal`,
      "",
    ].join("\n"));
  });

  test("a name with a newline and a backslash is shown escaped; --json gives it exactly", async () => {
    const { t, src, dst } = pair();
    writeFileSync(`${src}/two\nlines\\x`, "x");
    const r = await check(t, src, dst);
    expect(r.exitCode).toBe(1);
    expect(r.stdout.split("\n")[0]).toBe("missing  two\\x0alines\\\\x");
    const j = await check(t, src, dst, "--json");
    expect(j.json.missing[0].path).toBe("two\nlines\\x");
  });
});

describe("blit check: owners and hard links", () => {
  test("another owner or group is 'owner'; a hard link kept on one side only is 'links'", async () => {
    const { t, src, dst } = pair();
    chownSync(`${dst}/b.txt`, 65534, 65534);
    // SRC: a and a2 are one inode; DST: two separate files with the same content and mtime.
    writeFileSync(`${src}/a`, "same\n");
    linkSync(`${src}/a`, `${src}/a2`);
    for (const f of ["a", "a2"]) writeFileSync(`${dst}/${f}`, "same\n");
    for (const f of ["a", "a2"]) for (const side of [src, dst]) setMtime(`${side}/${f}`, T);
    setMtime(src, T);
    setMtime(dst, T);
    const r = await check(t, src, dst, "--json");
    expect(r.exitCode).toBe(1);
    const differs = Object.fromEntries(r.json.differs.map((e: { path: string; reasons: string[] }) => [e.path, e.reasons]));
    expect(differs["b.txt"]).toEqual(["owner"]);
    expect(differs["a2"]).toEqual(["links"]);
    expect(differs["a"]).toBeUndefined();
  });

  test("after blit mirror -H as root, the same tree checks equal", async () => {
    const { t, src, dst } = pair();
    chownSync(`${src}/b.txt`, 65534, 65534);
    writeFileSync(`${src}/a`, "same\n");
    linkSync(`${src}/a`, `${src}/a2`);
    expect((await runCli(["mirror", "-H", src, dst], { home: t.home })).exitCode).toBe(0);
    const r = await check(t, src, dst);
    expect(r.stdout).toContain("0 missing, 0 extra, 0 differ");
    expect(r.exitCode).toBe(0);
  });
});

describe("blit check --checksum", () => {
  test("finds a content change of equal size and equal mtime that size and mtime cannot see", async () => {
    const { t, src, dst } = pair((s) => (s["b.txt"] = { content: "SAME SIZE\n", mode: 0o644, mtime: T }));
    const plain = await check(t, src, dst);
    expect(plain.exitCode).toBe(0);
    const r = await check(t, src, dst, "--checksum", "--json");
    expect(r.exitCode).toBe(1);
    expect(r.json.differs).toEqual([{ path: "b.txt", type: "file", reasons: ["content"] }]);
    expect(r.json.counts.hashed).toBe(5);
    const text = await check(t, src, dst, "-c");
    expect(text.stdout).toContain("differs  b.txt (content)\n");
    expect(text.stdout).toContain("(5 files compared by content)");
  });

  test("equal content with another mtime is equal under --checksum, as copy --checksum decides", async () => {
    const { t, src, dst } = pair((s) => (s["a.txt"] = { content: "hello\n", mode: 0o644, mtime: T2 }));
    expect((await check(t, src, dst)).exitCode).toBe(1);
    expect((await check(t, src, dst, "--checksum")).exitCode).toBe(0);
  });
});

describe("blit check: errors exit 2", () => {
  const NOBODY = { user: "nobody", group: "nogroup" };

  test("what cannot be read is named, the rest still compared: a directory, and with --checksum a file", async () => {
    const { t, src, dst } = pair((s) => (s["a.txt"] = { content: "hello, world\n", mode: 0o644, mtime: T }));
    chmodSync(t.path, 0o755); // mkdtemp makes 0700; nobody must reach both trees
    chmodSync(`${src}/d/sub`, 0o755);
    setMtime(`${src}/d/sub`, T);
    chmodSync(`${dst}/d/sub`, 0o000);
    setMtime(`${dst}/d/sub`, T);
    chmodSync(`${dst}/b.txt`, 0o000);
    const r = await runCli(["check", src, dst, "--json"], { home: t.home, asUser: NOBODY });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/error: destination d\/sub: .*EACCES/);
    expect(r.json).toMatchObject({ status: "error", exitCode: 2, errorCount: 1 });
    // what d/sub holds in DST is unknown, so d/sub/deep.txt is not called missing; the rest is compared
    expect(r.json.missing).toEqual([]);
    expect(r.json.differs.map((e: { path: string; reasons: string[] }) => `${e.path}: ${e.reasons}`)).toEqual(["a.txt: content,size", "b.txt: mode", "d/sub: mode"]);
    const c = await runCli(["check", src, dst, "--checksum"], { home: t.home, asUser: NOBODY });
    expect(c.exitCode).toBe(2);
    expect(c.stderr).toContain("error: destination b.txt: cannot be read to compare its content");
    expect(c.stdout).toContain("differs  a.txt (content, size)");
  });

  test("a missing SRC or DST is named", async () => {
    const { t, src, dst } = pair();
    const a = await check(t, t.join("nope"), dst);
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toContain(`source '${t.join("nope")}' does not exist`);
    const b = await check(t, src, t.join("nope2"), "--json");
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toContain(`destination '${t.join("nope2")}' does not exist`);
    expect(b.json).toMatchObject({ status: "error", exitCode: 2, errors: [{ code: "DEST_MISSING" }] });
  });

  test("a file where a directory is expected is named", async () => {
    const { t, src } = pair();
    const r = await check(t, src, `${src}/a.txt`);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`destination '${src}/a.txt' is not a directory`);
  });

  test("bad usage: one path, an unknown flag", async () => {
    const { t, src } = pair();
    const one = await check(t, src);
    expect(one.exitCode).toBe(2);
    expect(one.stderr).toContain("check needs SRC and DST");
    const bad = await check(t, src, src, "--frobnicate");
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("--frobnicate");
  });

  test("--help lists every flag and the exit codes", async () => {
    const t = temps.make();
    const r = await check(t, "--help");
    expect(r.exitCode).toBe(0);
    for (const word of ["--checksum", "-c", "--exclude", "--json", "--auth-token-file", "--help", "missing", "extra", "differs", "blit://"]) {
      expect({ word, listed: r.stdout.includes(word) }).toEqual({ word, listed: true });
    }
    expect((await runCli(["help", "check"], { home: t.home })).stdout).toBe(r.stdout);
  });
});
