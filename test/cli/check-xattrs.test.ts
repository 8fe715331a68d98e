// blit check -X / -A: extended attributes and POSIX ACLs compared, locally and against a real
// blitd, with real attributes set by setfattr/setfacl (skipped, saying why, where the tools or
// the filesystem cannot hold them).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDirs } from "../helpers/index.ts";
import { posixAcls, skipNote, userXattrs } from "../helpers/metadata-support.ts";
import { cleanup, moduleToml, startBlitd, tempDir, type Daemon } from "../remote/helpers.ts";

const noXattrs = skipNote(!userXattrs(), "check -X", "user.* attributes cannot be set here (setfattr missing or the filesystem refuses)");
const noAcls = skipNote(!posixAcls(), "check -A", "POSIX ACLs cannot be set here (setfacl missing or the filesystem refuses)");

function run(cmd: string, ...args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.error}`);
}

/** SRC with one file and a directory; DST a copy by `cp -a` (times and modes kept, to the ns). */
function pair(root: string): { src: string; dst: string } {
  const src = join(root, "src");
  mkdirSync(join(src, "d"), { recursive: true });
  writeFileSync(join(src, "f.txt"), "same content\n");
  writeFileSync(join(src, "d/g.txt"), "other\n");
  const dst = join(root, "dst");
  run("cp", "-a", src, dst);
  return { src, dst };
}

const temps = tempDirs();
afterEach(temps.cleanup);

describe.skipIf(noXattrs)("blit check -X between local trees", () => {
  test("a user.* attribute with another value, or only on one side: 'differs (xattrs)', exit 1; equal without -X", async () => {
    const t = temps.make();
    const { src, dst } = pair(t.path);
    run("setfattr", "-n", "user.tag", "-v", "blue", join(src, "f.txt"));
    run("setfattr", "-n", "user.tag", "-v", "red", join(dst, "f.txt"));
    run("setfattr", "-n", "user.only-src", "-v", "1", join(src, "d/g.txt"));

    const plain = await runCli(["check", src, dst], { home: t.home });
    expect(plain.exitCode).toBe(0);

    const r = await runCli(["check", "-X", src, dst], { home: t.home });
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain("differs  f.txt (xattrs)");
    expect(r.stdout).toContain("differs  d/g.txt (xattrs)");

    const j = await runCli(["check", "--xattrs", "--json", src, dst], { home: t.home });
    const out = JSON.parse(j.stdout);
    expect(out.differs.map((e: { path: string; reasons: string[] }) => [e.path, e.reasons])).toEqual([
      ["d/g.txt", ["xattrs"]],
      ["f.txt", ["xattrs"]],
    ]);
  });

  test("the same attributes on both sides: exit 0", async () => {
    const t = temps.make();
    const { src, dst } = pair(t.path);
    for (const side of [src, dst]) run("setfattr", "-n", "user.tag", "-v", "blue", join(side, "f.txt"));
    const r = await runCli(["check", "-X", src, dst], { home: t.home });
    expect(r.stdout).toContain("0 differ");
    expect(r.exitCode).toBe(0);
  });
});

describe.skipIf(noAcls)("blit check -A between local trees", () => {
  test("an ACL entry only in DST: 'differs (acls)' with -A, not with -X alone", async () => {
    const t = temps.make();
    const { src, dst } = pair(t.path);
    run("setfacl", "-m", "u:65534:r", join(dst, "f.txt"));
    const withA = await runCli(["check", "-A", src, dst], { home: t.home });
    expect(withA.exitCode).toBe(1);
    expect(withA.stdout).toContain("differs  f.txt (acls)");
    // An ACL also sets the group permission bits to its mask; the mode reason is about those.
    const withX = await runCli(["check", "-X", "--json", src, dst], { home: t.home });
    for (const e of JSON.parse(withX.stdout).differs) expect(e.reasons).not.toContain("acls");
  });
});

describe.skipIf(noXattrs)("blit check -X against a real blitd", () => {
  let work = "";
  let daemon: Daemon | undefined;
  let trees = { src: "", dst: "" };
  beforeAll(async () => {
    work = tempDir("check-x-");
    trees = pair(work);
    run("setfattr", "-n", "user.tag", "-v", "blue", join(trees.src, "f.txt"));
    run("setfattr", "-n", "user.tag", "-v", "red", join(trees.dst, "f.txt"));
    daemon = await startBlitd(work, moduleToml({ m: { path: trees.dst } }));
  });
  afterAll(async () => {
    await daemon?.stop();
    cleanup(work);
  });

  test("local SRC against blit:// DST: the daemon's attributes come in its manifest and are compared", async () => {
    const url = `blit://127.0.0.1:${daemon!.port}/m`;
    const home = join(work, "home");
    const plain = await runCli(["check", trees.src, url], { home });
    expect(plain.exitCode).toBe(0);
    const r = await runCli(["check", "-X", trees.src, url], { home });
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain("differs  f.txt (xattrs)");
    expect(r.stdout).not.toContain("d/g.txt");
  });
});
