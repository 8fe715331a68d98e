// Manifests are decoded without stalling blitd: while a client's big manifest is decoded, walked
// against and planned (on worker threads), another client's ListModules is answered within a
// second (the round trips are timed).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
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

}, 120_000);
