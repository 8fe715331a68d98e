// Both ends of a remote run record the machine around it (issue 13): the client its local end,
// blitd its side with the module's device, each with a timeline when the run lasts.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getRun, listRuns } from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { blit, cleanup, moduleToml, startBlitd, tempDir } from "./helpers.ts";

function dfType(path: string): string {
  return spawnSync("df", ["--output=fstype", path], { encoding: "utf8" }).stdout.trim().split("\n").at(-1)!.trim();
}

async function byRoute(store: string): Promise<Record<string, RunReport>> {
  const out: Record<string, RunReport> = {};
  for (const r of await listRuns({ path: store })) out[r.route] = (await getRun(r.id, { path: store }))!;
  return out;
}

test.skipIf(process.platform !== "linux")("push and pull record their context on the client and on blitd (the module's device)", { timeout: 60_000 }, async () => {
  const dir = tempDir("run-context-");
  const mod = join(dir, "m");
  const src = join(dir, "src");
  mkdirSync(mod);
  mkdirSync(src);
  // 1 MiB at 1 MiB/s: about a second each way, so both sides sample a timeline.
  for (let i = 0; i < 4; i++) writeFileSync(join(src, `f${i}.bin`), crypto.getRandomValues(new Uint8Array(256 << 10)));
  const daemonStore = join(dir, "daemon-store");
  const d = await startBlitd(dir, moduleToml({ m: { path: mod, readOnly: false } }, `telemetry_dir = ${JSON.stringify(daemonStore)}`), [], { BLIT_TELEMETRY: "on" });
  try {
    const env = { BLIT_TELEMETRY: "on", BLIT_HOME: join(dir, "client-home") };
    expect((await blit(["push", src, `blit://127.0.0.1:${d.port}/m`, "--bwlimit", "1M"], env)).code).toBe(0);
    expect((await blit(["pull", `blit://127.0.0.1:${d.port}/m`, join(dir, "back"), "--bwlimit", "1M"], env)).code).toBe(0);
    await d.stop(); // the daemon's records are written before it exits

    const client = await byRoute(join(dir, "client-home", "telemetry.duckdb"));
    expect(client.push!.context!.devices.map((x) => [x.role, x.path, x.fsType])).toEqual([["source", src, dfType(src)]]);
    expect(client.pull!.context!.devices.map((x) => [x.role, x.path, x.fsType])).toEqual([["destination", join(dir, "back"), dfType(dir)]]);
    expect(client.pull!.context!.openers).toEqual([]);
    for (const r of [client.push!, client.pull!]) {
      expect(r.context!.self.userMs + r.context!.self.systemMs).toBeGreaterThan(0);
      expect(r.timeline!.reduce((a, s) => a + s.bytes, 0)).toBe(1 << 20);
    }

    const daemon = await byRoute(join(daemonStore, "telemetry.duckdb"));
    const push = daemon.push!.context!;
    expect(push.devices.length).toBe(1);
    expect(push.devices[0]).toMatchObject({ role: "destination", path: mod, fsType: dfType(mod) });
    expect(push.cpuCount).toBeGreaterThan(0);
    expect(push.self.userMs + push.self.systemMs).toBeGreaterThan(0);
    expect(push.openers).toBeUndefined();
    expect(daemon.push!.timeline!.reduce((a, s) => a + s.bytes, 0)).toBe(daemon.push!.counts.copiedBytes);
    expect(daemon.pull!.context!.devices.map((x) => [x.role, x.path])).toEqual([["source", mod]]);
    expect(daemon.pull!.timeline!.reduce((a, s) => a + s.bytes, 0)).toBe(1 << 20);
  } finally {
    await d.stop();
    cleanup(dir);
  }
});
