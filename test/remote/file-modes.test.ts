// blitd's files that hold secrets: the token file it reads (a loose mode is named in its log) and
// the telemetry store it writes (paths and peer addresses: owner-only).
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { blit, cleanup, makeTree, moduleToml, startBlitd, tempDir, type Daemon } from "./helpers.ts";

let dirs: string[] = [];
let daemons: Daemon[] = [];

afterEach(async () => {
  for (const d of daemons) await d.stop();
  cleanup(...dirs);
  daemons = [];
  dirs = [];
});

const modeOf = (path: string) => statSync(path).mode & 0o777;

async function daemonWithTokenMode(mode: number, extra: string[] = []): Promise<{ d: Daemon; tokenFile: string }> {
  const dir = tempDir("modes-");
  dirs.push(dir);
  mkdirSync(join(dir, "m"));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "s3cret-token-0123456789abcdef\n", { mode });
  const d = await startBlitd(dir, moduleToml({ m: { path: join(dir, "m") } }, `auth_token_file = ${JSON.stringify(tokenFile)}`), extra);
  daemons.push(d);
  return { d, tokenFile };
}

describe("blitd's own files", () => {
  test("a token file open to group or others is named in the log at start, with the chmod that fixes it (also with --quiet)", async () => {
    for (const [mode, extra] of [[0o644, []], [0o640, ["--quiet"]]] as const) {
      const { d, tokenFile } = await daemonWithTokenMode(mode, [...extra]);
      await Bun.sleep(100); // the log line is written before the 'listening' line; let it arrive
      expect(d.stderr()).toContain(`warning: auth_token_file '${tokenFile}' is open to group or others (mode 0${mode.toString(8)})`);
      expect(d.stderr()).toContain(`run 'chmod 600 ${tokenFile}'`);
    }
    const { d } = await daemonWithTokenMode(0o600);
    await Bun.sleep(100);
    expect(d.stderr()).not.toContain("auth_token_file");
  });

  test("the daemon's telemetry store, its WAL and its directory are owner-only under umask 022", { timeout: 30_000 }, async () => {
    const dir = tempDir("store-mode-");
    dirs.push(dir);
    mkdirSync(join(dir, "m"));
    makeTree(join(dir, "src"), { files: 3 });
    const storeDir = join(dir, "telemetry");
    const old = process.umask(0o022); // blitd inherits it
    let d: Daemon;
    try {
      d = await startBlitd(dir, moduleToml({ m: { path: join(dir, "m"), readOnly: false } }, `telemetry_dir = ${JSON.stringify(storeDir)}`), [], { BLIT_TELEMETRY: "on" });
    } finally {
      process.umask(old);
    }
    daemons.push(d);
    const push = await blit(["push", join(dir, "src"), `blit://127.0.0.1:${d.port}/m/dst`]);
    expect(push.code).toBe(0);
    const store = join(storeDir, "telemetry.duckdb");
    // the daemon records after Complete, in the background
    for (let k = 0; k < 100 && !existsSync(store); k++) await Bun.sleep(100);
    await Bun.sleep(500); // let that record finish (the WAL is written, the store closed)
    expect(existsSync(store)).toBe(true);
    expect(modeOf(store)).toBe(0o600);
    if (existsSync(`${store}.wal`)) expect(modeOf(`${store}.wal`)).toBe(0o600);
    expect(modeOf(storeDir)).toBe(0o700);
  });
});
