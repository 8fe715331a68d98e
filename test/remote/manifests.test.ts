// Manifests are capped and decoded without stalling blitd: a manifest over the entry cap is
// refused at once (RESOURCE_EXHAUSTED, naming the cap), and while another client's big but
// allowed manifest is decoded, walked against and planned (on worker threads), a third
// client's ListModules is answered within a second (the round trips are timed).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { emptyTree, T_FILE } from "../../engine/index.ts";
import { encodeManifest, grpc, MAX_ENTRIES } from "../../proto/index.ts";
import { cleanup, moduleToml, rawClient, REPO, rpc, startBlitd, tempDir, type Daemon } from "./helpers.ts";

/** Entries of the big manifest: what this machine decodes and plans in a few seconds. */
const BIG = 1_500_000;

let work: string;
let mod: string;
let d: Daemon;

beforeAll(async () => {
  work = tempDir("manifests-");
  mod = join(work, "module");
  mkdirSync(mod);
  d = await startBlitd(work, moduleToml({ data: { path: mod, readOnly: false } }));
});

afterAll(async () => {
  try {
    await d?.stop("SIGKILL");
  } finally {
    cleanup(work);
  }
});

test("a manifest over the entry cap is refused at once, naming the cap", async () => {
  const c = rawClient(d.port);
  try {
    const manifest = { count: MAX_ENTRIES + 1, paths: new Uint8Array(0), types: new Uint8Array(0), sizes: new Uint8Array(0), modes: new Uint8Array(0), mtime_sec: new Uint8Array(0), mtime_nsec: new Uint8Array(0) };
    const err = await rpc(c, "Negotiate", { direction: "push", module: "data", path: "capped", manifest }).then(() => null, (e) => e);
    expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err?.details).toContain("5,000,001 entries");
    expect(err?.details).toContain("at most 5,000,000");
    expect(err?.details).not.toContain("    at "); // no stack trace
  } finally {
    c.close();
  }
  expect(readdirSync(mod)).toEqual([]);
});

test(`a ${BIG.toLocaleString("en-US")}-entry push is negotiated while another client's ListModules is answered within 1 s`, async () => {
  const big = Bun.spawn([process.execPath, join(REPO, "test/remote/big-manifest-client.ts"), String(d.port), "data", "big", String(BIG)], { stdout: "pipe", stderr: "pipe" });
  const c = rawClient(d.port, true);
  const rtts: number[] = [];
  let done = false;
  const result = (async () => {
    try {
      const [out, err] = await Promise.all([new Response(big.stdout).text(), new Response(big.stderr).text(), big.exited]);
      return { out, err };
    } finally {
      done = true;
    }
  })();
  try {
    await rpc(c, "ListModules", {}); // connected before the big call starts
    while (!done) {
      const t0 = performance.now();
      await rpc(c, "ListModules", {});
      rtts.push(performance.now() - t0);
      await Bun.sleep(50);
    }
  } finally {
    c.close();
    big.kill("SIGKILL");
  }
  const { out, err } = await result;
  const r = JSON.parse(out.trim() || "{}");
  expect({ ok: r.ok, need: r.need, err: r.ok ? "" : `${r.details} ${err}` }).toEqual({ ok: true, need: BIG - Math.ceil(BIG / 1000), err: "" });
  // The daemon was busy with the big call for a while, and the other client saw no stall.
  expect(rtts.length).toBeGreaterThan(5);
  expect(Math.max(...rtts)).toBeLessThan(1000);
  expect(readdirSync(mod)).toEqual([]); // a dry run: the target directory is not created

}, 120_000);

test("concurrent Negotiates cannot overshoot max_connections while their manifests are decoded off the loop", async () => {
  const dir = tempDir("manifests-limit-");
  const m2 = join(dir, "module");
  mkdirSync(m2);
  const d2 = await startBlitd(dir, moduleToml({ data: { path: m2, readOnly: false } }, "max_connections = 2"));
  const c = rawClient(d2.port);
  try {
    const n = 200_000;
    const paths = Array.from({ length: n }, (_, i) => `f${i}`);
    const manifest = encodeManifest({
      ...emptyTree(), rootExists: true, rootMode: 0o755, paths, types: new Uint8Array(n).fill(T_FILE), sizes: new Float64Array(n),
      modes: new Uint16Array(n).fill(0o644), mtimeSec: new Float64Array(n), mtimeNsec: new Uint32Array(n),
    });
    const results = await Promise.all(
      [0, 1, 2, 3].map((k) => rpc(c, "Negotiate", { direction: "push", module: "data", path: `t${k}`, manifest }).then(() => "ok", (e) => (e.code === grpc.status.RESOURCE_EXHAUSTED ? "busy" : `${e.code} ${e.details}`))),
    );
    expect(results.filter((r) => r === "ok").length).toBeLessThanOrEqual(2);
    expect(results.filter((r) => r !== "ok").every((r) => r === "busy")).toBe(true);
  } finally {
    c.close();
    await d2.stop("SIGKILL");
    cleanup(dir);
  }
}, 60_000);
