// Both sides record a remote run: the client in its store (route, transport, phase times), the
// daemon in its own (telemetry_dir).
import { expect, test } from "bun:test";
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getRun, listRuns } from "../../analytics/index.ts";
import { blit, cleanup, moduleToml, spawnBlit, startBlitd, tempDir } from "./helpers.ts";

test("push and pull are recorded by the client and by the daemon", { timeout: 60_000 }, async () => {
  const dir = tempDir("telemetry-");
  const mod = join(dir, "m");
  const src = join(dir, "src");
  mkdirSync(mod);
  mkdirSync(src);
  writeFileSync(join(src, "f.txt"), "hello\n");
  const daemonStore = join(dir, "daemon-store");
  const d = await startBlitd(dir, moduleToml({ m: { path: mod, readOnly: false } }, `telemetry_dir = ${JSON.stringify(daemonStore)}`), [], { BLIT_TELEMETRY: "on" });
  try {
    const env = { BLIT_TELEMETRY: "on", BLIT_HOME: join(dir, "client-home") };
    expect((await blit(["push", src, `blit://127.0.0.1:${d.port}/m`], env)).code).toBe(0);
    expect((await blit(["pull", `blit://127.0.0.1:${d.port}/m`, join(dir, "back"), "--force-grpc"], env)).code).toBe(0);
    const clientStore = join(dir, "client-home", "telemetry.duckdb");
    const runs = await listRuns({ path: clientStore });
    expect(runs.map((r) => r.route).sort()).toEqual(["pull", "push"]);
    const pull = await getRun(runs.find((r) => r.route === "pull")!.id, { path: clientStore });
    expect(pull!.transport!.kind).toBe("grpc");
    expect(pull!.transport!.negotiateMs).toBeGreaterThan(0);
    await d.stop(); // the daemon's records are written before it exits
    const daemonRuns = await listRuns({ path: join(daemonStore, "telemetry.duckdb") });
    expect(daemonRuns.map((r) => r.route).sort()).toEqual(["pull", "push"]);
  } finally {
    await d.stop();
    cleanup(dir);
  }
});

test("a push the client interrupts is recorded as interrupted (exit code 130) by the daemon too, as by the client", { timeout: 60_000 }, async () => {
  const dir = tempDir("telemetry-int-");
  const mod = join(dir, "m");
  const src = join(dir, "src");
  mkdirSync(mod);
  mkdirSync(src);
  writeFileSync(join(src, "big.bin"), new Uint8Array(16 << 20)); // about 8 s at --bwlimit 2M
  const daemonStore = join(dir, "daemon-store");
  const d = await startBlitd(dir, moduleToml({ m: { path: mod, readOnly: false } }, `telemetry_dir = ${JSON.stringify(daemonStore)}`), [], { BLIT_TELEMETRY: "on" });
  const client = spawnBlit(["push", src, `blit://127.0.0.1:${d.port}/m`, "--bwlimit", "2M", "--no-progress"], { BLIT_TELEMETRY: "on", BLIT_HOME: join(dir, "client-home") });
  try {
    await Bun.sleep(1500);
    client.kill("SIGINT");
    expect(await client.exited).toBe(130);
    await Bun.sleep(1000); // the daemon settles the aborted transfer
    await d.stop(); // the daemon's records are written before it exits
    const mine = await listRuns({ path: join(dir, "client-home", "telemetry.duckdb") });
    const daemons = await listRuns({ path: join(daemonStore, "telemetry.duckdb") });
    expect(mine.map((r) => [r.status, r.exitCode])).toEqual([["interrupted", 130]]);
    expect(daemons.map((r) => [r.route, r.status, r.exitCode])).toEqual([["push", "interrupted", 130]]);
  } finally {
    client.kill("SIGKILL");
    await d.stop();
    cleanup(dir);
  }
});

test("a delta push is recorded with what it kept and sent, by the client and by the daemon", { timeout: 60_000 }, async () => {
  const dir = tempDir("telemetry-delta-");
  const mod = join(dir, "m");
  const src = join(dir, "src");
  mkdirSync(mod);
  mkdirSync(src);
  const size = 4 << 20;
  const old = Buffer.alloc(size);
  for (let o = 0; o < size; o += 65536) crypto.getRandomValues(old.subarray(o, o + 65536));
  writeFileSync(join(mod, "disk.img"), old);
  utimesSync(join(mod, "disk.img"), 1_600_000_000, 1_600_000_000);
  const neu = Buffer.from(old);
  crypto.getRandomValues(neu.subarray(1 << 20, (1 << 20) + 4096));
  writeFileSync(join(src, "disk.img"), neu);
  const daemonStore = join(dir, "daemon-store");
  const d = await startBlitd(dir, moduleToml({ m: { path: mod, readOnly: false } }, `telemetry_dir = ${JSON.stringify(daemonStore)}`), [], { BLIT_TELEMETRY: "on" });
  try {
    const env = { BLIT_TELEMETRY: "on", BLIT_HOME: join(dir, "client-home") };
    expect((await blit(["push", src, `blit://127.0.0.1:${d.port}/m`, "--no-whole-file"], env)).code).toBe(0);
    const clientStore = join(dir, "client-home", "telemetry.duckdb");
    const [mine] = await listRuns({ path: clientStore });
    const run = await getRun(mine!.id, { path: clientStore });
    expect(run!.transport!.delta!.files).toBe(1);
    expect(run!.transport!.delta!.literalBytes).toBeLessThan(64 << 10);
    expect(run!.transport!.delta!.matchedBytes).toBeGreaterThan(size - (64 << 10));
    expect(run!.transport!.dataBytesOut!).toBeLessThan(size / 10);
    await d.stop();
    const [theirs] = await listRuns({ path: join(daemonStore, "telemetry.duckdb") });
    const drun = await getRun(theirs!.id, { path: join(daemonStore, "telemetry.duckdb") });
    expect(drun!.transport!.delta).toEqual(run!.transport!.delta!);
  } finally {
    await d.stop();
    cleanup(dir);
  }
});
