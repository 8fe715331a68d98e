// Both sides record a remote run: the client in its store (route, transport, phase times), the
// daemon in its own (telemetry_dir).
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getRun, listRuns } from "../../analytics/index.ts";
import { blit, cleanup, moduleToml, startBlitd, tempDir } from "./helpers.ts";

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
