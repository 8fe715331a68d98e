// blit check with a blit:// side, against a real blitd on loopback: the same differences as a
// local check of the same two trees, in both directions and with both sides remote; read-only
// modules are checkable; --checksum with a remote side and remote failures exit 2.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, writeTree, type CliResult, type TreeSpec } from "../helpers/index.ts";
import { cleanup, moduleToml, startBlitd, tempDir, type Daemon } from "./helpers.ts";

const T = "2021-05-06 07:08:09.123456789";
const T2 = "2021-05-06 07:08:10.123456789";

const SRC: TreeSpec = {
  "d/": { dir: true, mode: 0o755, mtime: T },
  "d/sub/": { dir: true, mode: 0o750, mtime: T },
  "d/sub/deep.txt": { content: "deep\n", mode: 0o644, mtime: T },
  "a.txt": { content: "hello\n", mode: 0o644, mtime: T },
  "b.txt": { content: "same size\n", mode: 0o644, mtime: T },
  "c.txt": { content: "mtime\n", mode: 0o644, mtime: T },
  "link": { symlink: "a.txt", mtime: T },
  "swap": { content: "a file in SRC\n", mode: 0o644, mtime: T },
  "exec.sh": { content: "#!/bin/sh\n", mode: 0o755, mtime: T },
  "gone/": { dir: true, mode: 0o755, mtime: T },
  "gone/x": { content: "x", mode: 0o644, mtime: T },
};

/** DST: one of each difference against SRC. */
const DST: TreeSpec = {
  ...SRC,
  "a.txt": { content: "hello, world\n", mode: 0o644, mtime: T },
  "c.txt": { content: "mtime\n", mode: 0o644, mtime: T2 },
  "exec.sh": { content: "#!/bin/sh\n", mode: 0o700, mtime: T },
  "link": { symlink: "b.txt", mtime: T },
  "d/extra.txt": { content: "extra", mode: 0o644, mtime: T },
  "d/": { dir: true, mode: 0o755, mtime: T },
  "swap/": { dir: true, mode: 0o755, mtime: T },
  "swap/inner": "inner",
};
delete DST["swap"];
delete DST["gone/"];
delete DST["gone/x"];

let work: string;
let home: string;
let d: Daemon;
let url: string;

beforeAll(async () => {
  work = tempDir("check-");
  home = join(work, "home");
  mkdirSync(join(work, "trees"));
  mkdirSync(join(work, "rw"));
  writeTree(join(work, "trees/src"), SRC);
  writeTree(join(work, "trees/dst"), DST);
  writeTree(join(work, "trees/same"), SRC);
  // read-only modules: check reads through the pull negotiation, which they allow
  d = await startBlitd(work, moduleToml({ trees: { path: join(work, "trees") }, rw: { path: join(work, "rw"), readOnly: false } }));
  url = `blit://127.0.0.1:${d.port}`;
});

afterAll(async () => {
  try {
    await d?.stop();
  } finally {
    cleanup(work);
  }
});

function check(...args: string[]): Promise<CliResult> {
  return runCli(["check", ...args], { home, env: { BLIT_TELEMETRY: "off" } });
}

/** The parts of --json that must not depend on where a side lives. */
function findings(r: CliResult) {
  const { missing, extra, differs, counts, status, exitCode } = r.json;
  return { missing, extra, differs, counts, status, exitCode };
}

describe("blit check with a blit:// side", () => {
  let local: ReturnType<typeof findings>;
  beforeAll(async () => {
    const r = await check(join(work, "trees/src"), join(work, "trees/dst"), "--json");
    expect(r.exitCode).toBe(1);
    local = findings(r);
  });

  test("the local check finds each difference (the reference for the remote ones)", () => {
    expect(local.missing.map((e: { path: string }) => e.path)).toEqual(["gone", "gone/x"]);
    expect(local.extra.map((e: { path: string }) => e.path)).toEqual(["d/extra.txt", "swap/inner"]);
    expect(local.differs.map((e: { path: string; reasons: string[] }) => `${e.path}: ${e.reasons.join(",")}`)).toEqual([
      "a.txt: content,size", "c.txt: mtime", "exec.sh: mode", "link: target", "swap: type",
    ]);
  });

  test("local SRC, remote DST: the same findings", async () => {
    const r = await check(join(work, "trees/src"), `${url}/trees/dst`, "--json");
    expect(r.stderr).toBe("");
    expect(findings(r)).toEqual(local);
    expect(r.json.destination).toBe(`${url}/trees/dst`);
  });

  test("remote SRC, local DST: the same findings", async () => {
    const r = await check(`${url}/trees/src`, join(work, "trees/dst"), "--json");
    expect(r.stderr).toBe("");
    expect(findings(r)).toEqual(local);
  });

  test("both sides remote: the same findings, and the same text", async () => {
    const r = await check(`${url}/trees/src`, `${url}/trees/dst`, "--json");
    expect(findings(r)).toEqual(local);
    const text = await check(`${url}/trees/src`, `${url}/trees/dst`);
    const localText = await check(join(work, "trees/src"), join(work, "trees/dst"));
    expect(text.exitCode).toBe(1);
    expect(text.stdout).toBe(localText.stdout);
  });

  test("equal trees through the daemon: exit 0", async () => {
    const r = await check(join(work, "trees/src"), `${url}/trees/same`);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`0 missing, 0 extra, 0 differ; ${Object.keys(SRC).length} entries equal\n`);
  });

  test("--exclude reaches the daemon's walk", async () => {
    const r = await check(join(work, "trees/src"), `${url}/trees/dst`, "--json", "--exclude", "*.txt", "--exclude", "swap", "--exclude", "gone/", "--exclude", "exec.sh", "--exclude", "link");
    expect(r.json.status).toBe("equal");
    expect(r.exitCode).toBe(0);
  });

  test("a check right after `blit push --mirror` finds the module equal to SRC", async () => {
    const src = join(work, "trees/src");
    const p = await runCli(["push", "--mirror", "--no-telemetry", src, `${url}/rw/copy`], { home });
    expect(p.exitCode).toBe(0);
    const r = await check(src, `${url}/rw/copy`);
    expect(r.stdout).toBe(`0 missing, 0 extra, 0 differ; ${Object.keys(SRC).length} entries equal\n`);
    expect(r.exitCode).toBe(0);
  });

  test("a check right after `blit pull --mirror` finds DST equal to the module", async () => {
    const dst = join(work, "pulled");
    const p = await runCli(["pull", "--mirror", "--no-telemetry", `${url}/trees/src`, dst], { home });
    expect(p.exitCode).toBe(0);
    const r = await check(`${url}/trees/src`, dst);
    expect(r.stdout).toBe(`0 missing, 0 extra, 0 differ; ${Object.keys(SRC).length} entries equal\n`);
    expect(r.exitCode).toBe(0);
  });

  test("a daemon with an auth token: the token from BLIT_AUTH_TOKEN or --auth-token-file, else 'requires an auth token'", async () => {
    const dir = tempDir("check-auth-");
    let locked: Daemon | undefined;
    try {
      const tokenFile = join(dir, "token");
      writeFileSync(tokenFile, "check-secret-token-0123\n");
      locked = await startBlitd(dir, moduleToml({ trees: { path: join(work, "trees") } }, `auth_token_file = ${JSON.stringify(tokenFile)}`));
      const at = `blit://127.0.0.1:${locked.port}/trees/same`;
      const src = join(work, "trees/src");
      const none = await check(src, at);
      expect(none.exitCode).toBe(2);
      expect(none.stderr).toContain("requires an auth token: give --auth-token-file FILE, or set BLIT_AUTH_TOKEN");
      expect((await check(src, at, "--auth-token-file", tokenFile)).exitCode).toBe(0);
      const env = await runCli(["check", src, at], { home, env: { BLIT_TELEMETRY: "off", BLIT_AUTH_TOKEN: "check-secret-token-0123" } });
      expect(env.exitCode).toBe(0);
    } finally {
      await locked?.stop();
      cleanup(dir);
    }
  });
});

describe("blit check with a blit:// side: errors exit 2", () => {
  test("--checksum is refused with a remote side, saying why", async () => {
    const r = await check("--checksum", join(work, "trees/src"), `${url}/trees/dst`);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("--checksum needs both sides local");
    expect(r.stdout).toBe("");
  });

  test("a path that is not in the module is named", async () => {
    const r = await check(join(work, "trees/src"), `${url}/trees/nope`);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("'nope' does not exist");
  });

  test("an unknown module, a file, an unreachable daemon", async () => {
    const mod = await check(join(work, "trees/src"), `${url}/nomod`);
    expect(mod.exitCode).toBe(2);
    expect(mod.stderr).toContain("module 'nomod' not found");
    writeFileSync(join(work, "trees/file.txt"), "x");
    const file = await check(`${url}/trees/file.txt`, join(work, "trees/src"));
    expect(file.exitCode).toBe(2);
    expect(file.stderr).toContain("is a file; check compares two directories");
    const down = await check(join(work, "trees/src"), "blit://127.0.0.1:1/trees/src");
    expect(down.exitCode).toBe(2);
    expect(down.stderr).toContain("cannot reach 127.0.0.1:1");
  });
});
