// --retries: a daemon killed or restarted mid-transfer makes the client reconnect and finish on
// its own with an exact tree and no temporaries; what cannot succeed (a rejected token) is not
// retried; retries give up after N with the count in the error; --retries 0 fails at once.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { blit, cleanup, diffR, moduleToml, spawnBlit, startBlitd, tempDir, type Daemon } from "./helpers.ts";

let work: string;
let src: string;
const FILES = 6;
const SIZE = 3 << 20;

beforeAll(() => {
  work = tempDir("retries-");
  src = join(work, "src");
  mkdirSync(join(src, "sub"), { recursive: true });
  for (let i = 0; i < FILES; i++) writeFileSync(join(src, `sub/f${i}.bin`), randomBytes(SIZE));
  for (let i = 0; i < 200; i++) writeFileSync(join(src, `small${i}.txt`), `small ${i}\n`);
});

afterAll(() => cleanup(work));

function temps(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((n) => n.split("/").pop()!.startsWith(".blit-tmp-")) : [];
}

function finished(dir: string): number {
  return existsSync(join(dir, "sub")) ? readdirSync(join(dir, "sub")).filter((n) => !n.startsWith(".blit-tmp-")).length : 0;
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await Bun.sleep(5);
  }
  return cond();
}

/** The same daemon again on the same port (as after a crash and a restart by systemd). */
function restart(d: Daemon, toml: string): Promise<Daemon> {
  return startBlitd(work, toml, ["--bind", `127.0.0.1:${d.port}`]);
}

async function finish(client: ReturnType<typeof spawnBlit>) {
  const [code, stdout, stderr] = await Promise.all([client.exited, new Response(client.stdout).text(), new Response(client.stderr).text()]);
  return { code, stdout, stderr };
}

test("blitd killed and restarted mid-push: the client reconnects, finishes with an exact tree, reports the retry, no temporaries", { timeout: 90_000 }, async () => {
  const mod = join(work, "push-module");
  mkdirSync(mod);
  const toml = moduleToml({ m: { path: mod, readOnly: false } });
  let d = await startBlitd(work, toml);
  try {
    const client = spawnBlit(["push", src, `blit://127.0.0.1:${d.port}/m/dst`, "--bwlimit", "4M", "--retries", "5", "--json", "--no-progress"]);
    // In flight: some files landed, one is being written under a temporary name.
    expect(await waitFor(() => finished(join(mod, "dst")) >= 1 && temps(mod).length > 0, 30_000)).toBe(true);
    await d.stop("SIGKILL");
    d = await restart(d, toml);
    const r = await finish(client);
    expect(r.code).toBe(0);
    expect((await diffR(src, join(mod, "dst"))).same).toBe(true);
    const report = JSON.parse(r.stdout);
    expect(report.status).toBe("ok");
    expect(report.transport.retries.length).toBeGreaterThanOrEqual(1);
    expect(report.transport.attempts).toBe(report.transport.retries.length + 1);
    expect(report.transport.retries[0].reason).toContain(`127.0.0.1:${d.port}`);
    expect(report.transport.retries[0].delayMs).toBeGreaterThanOrEqual(500);
    // The retry skipped what had landed: the last attempt sent fewer than all the files.
    expect(report.counts.copied).toBeLessThan(FILES + 200);
    expect(r.stderr).toMatch(/push: attempt 1 of 6 failed: .*127\.0\.0\.1.*; retrying in/);
    expect(r.stderr).not.toContain("Resolution note");
    expect(temps(mod)).toEqual([]);
    expect(temps(src)).toEqual([]);
  } finally {
    await d.stop();
  }
});

test("blitd stopped and restarted mid-pull: the client reconnects and finishes, no temporaries on either side", { timeout: 90_000 }, async () => {
  const mod = join(work, "pull-module");
  mkdirSync(mod);
  const toml = moduleToml({ m: { path: mod, readOnly: false } });
  let d = await startBlitd(work, toml);
  const dst = join(work, "pull-dst");
  try {
    expect((await blit(["push", src, `blit://127.0.0.1:${d.port}/m`])).code).toBe(0);
    const client = spawnBlit(["pull", `blit://127.0.0.1:${d.port}/m`, dst, "--bwlimit", "4M", "--json", "--no-progress"]);
    expect(await waitFor(() => finished(dst) >= 1 && temps(dst).length > 0, 30_000)).toBe(true);
    await d.stop("SIGTERM");
    d = await restart(d, toml);
    const r = await finish(client);
    expect(r.code).toBe(0);
    expect((await diffR(src, dst)).same).toBe(true);
    const report = JSON.parse(r.stdout);
    expect(report.transport.retries.length).toBeGreaterThanOrEqual(1);
    expect(report.transport.retries[0].reason).toContain("127.0.0.1");
    expect(report.options.retries).toBe(3);
    expect(r.stderr).not.toContain("Resolution note");
    expect(temps(dst)).toEqual([]);
    expect(temps(mod)).toEqual([]);
  } finally {
    await d.stop();
  }
});

test.each([["tcp"], ["grpc"]])("--retries 0: a daemon killed mid-push (data over %s) fails the run at once, one line naming the host and what failed", async (kind) => {
  const mod = join(work, `once-module-${kind}`);
  mkdirSync(mod);
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  try {
    const client = spawnBlit(["push", src, `blit://127.0.0.1:${d.port}/m`, "--bwlimit", "4M", "--retries", "0", "--no-progress", ...(kind === "grpc" ? ["--force-grpc"] : [])]);
    expect(await waitFor(() => temps(mod).length > 0, 30_000)).toBe(true);
    await d.stop("SIGKILL");
    const t0 = Date.now();
    const r = await finish(client);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain("retrying");
    expect(r.stderr).not.toContain("Resolution note");
    expect(r.stderr).toMatch(new RegExp(`connection to 127\\.0\\.0\\.1:${d.port} lost while`));
    expect(r.stderr).not.toMatch(/\d+ [A-Z_]+: /); // no gRPC status prefix
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("check that blitd still runs on that host");
  } finally {
    await d.stop();
  }
});

test("a wrong auth token is not retried: one attempt, fast, the token named as the fix", { timeout: 60_000 }, async () => {
  const mod = join(work, "auth-module");
  mkdirSync(mod);
  const tokenFile = join(work, "token");
  writeFileSync(tokenFile, "right-token-0123456789abcdef\n", { mode: 0o600 });
  const wrong = join(work, "wrong-token");
  writeFileSync(wrong, "wrong-token-0123456789abcdef\n", { mode: 0o600 });
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }, `auth_token_file = ${JSON.stringify(tokenFile)}`));
  try {
    const t0 = Date.now();
    const r = await blit(["push", src, `blit://127.0.0.1:${d.port}/m`, "--auth-token-file", wrong, "--retries", "5", "--json"]);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("auth token rejected");
    expect(r.stderr).not.toContain("retrying");
    expect(JSON.parse(r.stdout).transport.retries).toEqual([]);
  } finally {
    await d.stop();
  }
});

test("retries give up after N with the count in the error (no daemon listening)", { timeout: 60_000 }, async () => {
  const d = await startBlitd(work, moduleToml({ m: { path: work } }));
  await d.stop();
  const r = await blit(["pull", `blit://127.0.0.1:${d.port}/m`, join(work, "never"), "--retries", "2", "--no-progress"]);
  expect(r.code).toBe(2);
  expect(r.stderr.match(/retrying in/g)?.length).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`gave up after 3 attempts \\(--retries 2\\): cannot reach 127\\.0\\.0\\.1:${d.port}`));
  expect(existsSync(join(work, "never"))).toBe(false);
});

test("--retries takes a whole number from 0 to 100", async () => {
  for (const bad of ["-1", "1.5", "x", "101"]) {
    const r = await blit(["push", src, "blit://127.0.0.1:1/m", `--retries=${bad}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--retries");
    expect(r.stderr).toContain(bad === "101" ? "from 0 to 100" : bad);
  }
});
