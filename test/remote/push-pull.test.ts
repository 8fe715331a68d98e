// blit push / pull / ls against a real blitd on loopback: tcp and forced gRPC, --mirror,
// compared with diff -r; 0-change re-push; read-only modules; 16 concurrent pushes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { normalizeOptions, runRemote } from "../../engine/index.ts";
import { blit, cleanup, diffR, makeTree, moduleToml, startBlitd, tempDir, type Daemon } from "./helpers.ts";

let work: string;
let mod: string;
let ro: string;
let src: string;
let d: Daemon;
let url: string;

beforeAll(async () => {
  work = tempDir("pushpull-");
  mod = join(work, "module");
  ro = join(work, "ro-module");
  src = join(work, "src");
  mkdirSync(mod);
  mkdirSync(ro);
  makeTree(src, { files: 60, big: 3 << 20 });
  writeFileSync(join(ro, "readme.txt"), "read only\n");
  d = await startBlitd(work, moduleToml({ data: { path: mod, readOnly: false }, ro: { path: ro } }));
  url = `blit://127.0.0.1:${d.port}`;
});

afterAll(async () => {
  try {
    await d?.stop();
  } finally {
    cleanup(work);
  }
});

function json(out: string) {
  return JSON.parse(out.trim().split("\n").pop()!);
}

describe("push", () => {
  for (const mode of ["tcp", "grpc"] as const) {
    test(`push over ${mode} copies the tree exactly (diff -r)`, async () => {
      const r = await blit(["push", src, `${url}/data/push-${mode}`, "--json", ...(mode === "grpc" ? ["--force-grpc"] : [])]);
      expect(r.code).toBe(0);
      const rep = json(r.stdout);
      expect(rep.route).toBe("push");
      expect(rep.transport.kind).toBe(mode);
      expect(rep.counts.copied).toBeGreaterThan(60);
      expect((await diffR(src, join(mod, `push-${mode}`))).same).toBe(true);
    });
  }

  test("a 0-change re-push sends no file data", async () => {
    await blit(["push", src, `${url}/data/again`]);
    const r = await blit(["push", src, `${url}/data/again`, "--json"]);
    expect(r.code).toBe(0);
    const rep = json(r.stdout);
    expect(rep.counts.copied).toBe(0);
    expect(rep.counts.copiedBytes).toBe(0);
    expect(rep.counts.skipped).toBeGreaterThan(60);
    expect(rep.bytesByPath).toEqual({});
  });

  test("push --mirror deletes extraneous files on the daemon; --max-delete guards it", async () => {
    await blit(["push", src, `${url}/data/mirror`]);
    writeFileSync(join(mod, "mirror/extra.txt"), "x");
    mkdirSync(join(mod, "mirror/extra-dir/sub"), { recursive: true });
    writeFileSync(join(mod, "mirror/extra-dir/sub/f"), "y");
    const guarded = await blit(["push", src, `${url}/data/mirror`, "--mirror", "--max-delete", "1"]);
    expect(guarded.code).toBe(1);
    expect(existsSync(join(mod, "mirror/extra.txt"))).toBe(true);
    const r = await blit(["push", src, `${url}/data/mirror`, "--mirror", "--force-grpc"]);
    expect(r.code).toBe(0);
    expect((await diffR(src, join(mod, "mirror"))).same).toBe(true);
  });

  test("push --mirror never deletes an excluded entry, not even inside a directory the source lacks", async () => {
    await blit(["push", src, `${url}/data/excl`]);
    mkdirSync(join(mod, "excl/gone/sub"), { recursive: true });
    writeFileSync(join(mod, "excl/gone/keep.tmp"), "excluded");
    writeFileSync(join(mod, "excl/gone/sub/other"), "extraneous");
    const r = await blit(["push", src, `${url}/data/excl`, "--mirror", "--exclude", "*.tmp", "--json"]);
    expect(r.code).toBe(0);
    expect(existsSync(join(mod, "excl/gone/keep.tmp"))).toBe(true);
    expect(existsSync(join(mod, "excl/gone/sub"))).toBe(false);
  });

  test("push --mirror from an empty source deletes nothing without --force", async () => {
    const empty = join(work, "empty-src");
    mkdirSync(empty, { recursive: true });
    await blit(["push", src, `${url}/data/keep`]);
    const r = await blit(["push", empty, `${url}/data/keep`, "--mirror"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("empty");
    expect(existsSync(join(mod, "keep/top.txt"))).toBe(true);
  });

  test("push of a single file, and --checksum sends only changed content", async () => {
    const one = join(work, "one.txt");
    writeFileSync(one, "one file\n");
    const first = await blit(["push", one, `${url}/data/single.txt`]);
    expect(first.code).toBe(0);
    // 9 bytes in a few ms: a rate under 1 KiB/s is printed whole, like every other figure
    expect(first.stdout).toMatch(/, (\d+ B|\d+(\.\d)? [KMG]iB)\/s\n/);
    expect(readFileSync(join(mod, "single.txt"), "utf8")).toBe("one file\n");
    await blit(["push", src, `${url}/data/sum`]);
    writeFileSync(join(mod, "sum/top.txt"), "TOP\n"); // same size, other content
    const r = await blit(["push", src, `${url}/data/sum`, "--checksum", "--json"]);
    expect(r.code).toBe(0);
    expect(json(r.stdout).counts.copied).toBe(1);
    expect(readFileSync(join(mod, "sum/top.txt"), "utf8")).toBe("top\n");
  });

  test("a read-only module refuses pushes in words and keeps its files", async () => {
    const r = await blit(["push", src, `${url}/ro`, "--mirror"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("module 'ro' is read-only");
    expect(readdirSync(ro)).toEqual(["readme.txt"]);
  });

  test("an unknown module and an unreachable daemon are named", async () => {
    const r = await blit(["push", src, `${url}/nope`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("module 'nope' not found");
    const u = await blit(["push", src, "blit://127.0.0.1:1/data"]);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("cannot reach 127.0.0.1:1");
  });

  test("16 concurrent pushes to one daemon are all correct", async () => {
    // Owners are not asked for: the module does not keep them, and its note is not under test here.
    const options = normalizeOptions({ owner: false, group: false });
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, k) =>
        runRemote({ command: "copy", route: "push", local: src, remote: `${url}/data/conc/${k}`, options, forceGrpc: k % 4 === 3 }),
      ),
    );
    for (const r of results) expect([r.report.status, r.report.errors, r.report.transport?.kind, r.report.fastPathNotes]).toEqual(["ok", [], r.report.transport?.kind, {}]);
    for (let k = 0; k < 16; k++) expect((await diffR(src, join(mod, `conc/${k}`))).same).toBe(true);
  });
});

describe("--bwlimit and --workers", () => {
  test("push and pull --bwlimit 1M hold 2 MiB to about 2 s each, and the copy is exact", async () => {
    const slow = join(work, "slow-src");
    mkdirSync(slow);
    const big = new Uint8Array(2 << 20);
    for (let o = 0; o < big.length; o += 65536) crypto.getRandomValues(big.subarray(o, o + 65536));
    writeFileSync(join(slow, "two-mib.bin"), big);
    for (let k = 0; k < 8; k++) writeFileSync(join(slow, `small-${k}.txt`), `small ${k}\n`.repeat(100));
    let t0 = performance.now();
    const p = await blit(["push", slow, `${url}/data/slow`, "--bwlimit", "1M", "--json"]);
    const pushMs = performance.now() - t0;
    expect(p.code).toBe(0);
    expect(json(p.stdout).options.bwlimit).toBe(1 << 20);
    expect(pushMs).toBeGreaterThan(1400); // unthrottled, this takes well under 0.5 s
    expect((await diffR(slow, join(mod, "slow"))).same).toBe(true);
    // a pull's sender is blitd: the limit travels in the negotiation
    const back = join(work, "slow-back");
    t0 = performance.now();
    const q = await blit(["pull", `${url}/data/slow`, back, "--bwlimit", "1M", "--json"]);
    const pullMs = performance.now() - t0;
    expect(q.code).toBe(0);
    expect(pullMs).toBeGreaterThan(1400);
    expect((await diffR(slow, back)).same).toBe(true);
  }, 30_000);

  test("--bwlimit abc and --workers are usage errors in words, and nothing is sent", async () => {
    const bad = await blit(["push", src, `${url}/data/never`, "--bwlimit", "abc"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("not a rate: 'abc'");
    const w = await blit(["pull", `${url}/data/push-tcp`, join(work, "never"), "--workers", "4"]);
    expect(w.code).toBe(2);
    expect(w.stderr).toContain("--workers applies to copy and mirror");
    expect(existsSync(join(mod, "never"))).toBe(false);
    expect(existsSync(join(work, "never"))).toBe(false);
  });
});

describe("pull", () => {
  for (const mode of ["tcp", "grpc"] as const) {
    test(`pull over ${mode} copies the tree exactly (diff -r)`, async () => {
      await blit(["push", src, `${url}/data/pullsrc`]);
      const dst = join(work, `pulled-${mode}`);
      const r = await blit(["pull", `${url}/data/pullsrc`, dst, "--json", ...(mode === "grpc" ? ["--force-grpc"] : [])]);
      expect(r.code).toBe(0);
      const rep = json(r.stdout);
      expect(rep.route).toBe("pull");
      expect(rep.transport.kind).toBe(mode);
      expect((await diffR(src, dst)).same).toBe(true);
      const again = json((await blit(["pull", `${url}/data/pullsrc`, dst, "--json"])).stdout);
      expect(again.counts.copiedBytes).toBe(0);
    });
  }

  test("pull --mirror deletes extraneous local files", async () => {
    await blit(["push", src, `${url}/data/pullsrc`]);
    const dst = join(work, "pulled-mirror");
    mkdirSync(join(dst, "junk/dir"), { recursive: true });
    writeFileSync(join(dst, "junk/dir/x"), "x");
    writeFileSync(join(dst, "stray.txt"), "x");
    const r = await blit(["pull", `${url}/data/pullsrc`, dst, "--mirror", "--force-grpc"]);
    expect(r.code).toBe(0);
    expect((await diffR(src, dst)).same).toBe(true);
  });

  test("single files pushed and pulled one after another all arrive (the daemon keeps no stale directory handle)", async () => {
    // Each single-file transfer looks its file up through /proc/self/fd/N of a directory fd;
    // once N is reused for another directory, a cached handle for that name would be wrong.
    mkdirSync(join(mod, "singles/x"), { recursive: true });
    writeFileSync(join(mod, "singles/x/one.txt"), "one\n");
    for (let k = 0; k < 3; k++) {
      expect((await blit(["push", join(src, "top.txt"), `${url}/data/singles/top-${k}.txt`])).code).toBe(0);
      const dst = join(work, `single-pull-${k}`);
      mkdirSync(dst);
      const r = await blit(["pull", `${url}/data/singles/x/one.txt`, dst]);
      expect(r.stderr).toBe("");
      expect(readFileSync(join(dst, "one.txt"), "utf8")).toBe("one\n");
    }
  });

  test("pull from a read-only module works; a single file lands in a directory", async () => {
    const dst = join(work, "ro-pull");
    mkdirSync(dst);
    const r = await blit(["pull", `${url}/ro/readme.txt`, dst]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dst, "readme.txt"), "utf8")).toBe("read only\n");
  });
});

describe("ls", () => {
  test("lists modules, then a directory", async () => {
    const m = await blit(["ls", url]);
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/data\s+writable/);
    expect(m.stdout).toMatch(/ro\s+read-only/);
    await blit(["push", src, `${url}/data/lsdir`]);
    const l = await blit(["ls", `${url}/data/lsdir`]);
    expect(l.code).toBe(0);
    expect(l.stdout).toContain("top.txt");
    expect(l.stdout).toContain("a/");
    const missing = await blit(["ls", `${url}/nope`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("module 'nope' not found");
  });
});
