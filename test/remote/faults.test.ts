// Faults: a client killed mid-push, a daemon stopped mid-pull. Nothing partial may remain under a
// final name, temporaries are removed, and the daemon keeps serving.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { blit, cleanup, diffR, moduleToml, spawnBlit, startBlitd, tempDir, type Daemon, temps } from "./helpers.ts";

const BIG = 192 << 20;
let work: string;
let src: string;

beforeAll(() => {
  work = tempDir("faults-");
  src = join(work, "src");
  mkdirSync(src);
  const chunk = crypto.getRandomValues(new Uint8Array(65536));
  const buf = new Uint8Array(BIG);
  for (let o = 0; o < BIG; o += chunk.length) buf.set(chunk, o);
  writeFileSync(join(src, "big.bin"), buf);
  writeFileSync(join(src, "small.txt"), "small\n");
});

afterAll(() => cleanup(work));

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await Bun.sleep(2);
  }
  return cond();
}

test("client killed mid-push: no partial file, temporaries removed, the next push completes", { timeout: 60_000 }, async () => {
  const mod = join(work, "push-module");
  mkdirSync(mod);
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  try {
    const url = `blit://127.0.0.1:${d.port}/m/dst`;
    const client = spawnBlit(["push", src, url, "--force-grpc"]);
    const sawTemp = await waitFor(() => temps(mod).length > 0, 20_000);
    client.kill("SIGKILL");
    await client.exited;
    expect(sawTemp).toBe(true);
    expect(await waitFor(() => temps(mod).length === 0, 5000)).toBe(true);
    expect(existsSync(join(mod, "dst/big.bin"))).toBe(false);
    expect(d.alive()).toBe(true);
    const again = await blit(["push", src, url]);
    expect(again.code).toBe(0);
    expect((await diffR(src, join(mod, "dst"))).same).toBe(true);
  } finally {
    await d.stop();
  }
});

test("daemon stopped mid-pull: the client exits non-zero in words and keeps no partial file", { timeout: 60_000 }, async () => {
  const mod = join(work, "pull-module");
  mkdirSync(mod);
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  const dst = join(work, "pull-dst");
  try {
    expect((await blit(["push", src, `blit://127.0.0.1:${d.port}/m`])).code).toBe(0);
    const client = spawnBlit(["pull", `blit://127.0.0.1:${d.port}/m`, dst, "--force-grpc"]);
    const sawTemp = await waitFor(() => temps(dst).length > 0, 20_000);
    await d.stop("SIGKILL");
    const [code, stderr] = await Promise.all([client.exited, new Response(client.stderr as ReadableStream<Uint8Array>).text()]);
    expect(sawTemp).toBe(true);
    expect(code).toBe(2);
    expect(stderr).toMatch(/lost|failed|cannot reach/);
    expect(temps(dst)).toEqual([]);
    expect(existsSync(join(dst, "big.bin"))).toBe(false);
  } finally {
    await d.stop();
  }
});

test("a daemon restarted after a killed transfer removes the temporaries it left", async () => {
  const mod = join(work, "stale-module");
  mkdirSync(join(mod, "sub"), { recursive: true });
  writeFileSync(join(mod, "sub/.blit-tmp-deadbeef-file.bin"), "partial");
  writeFileSync(join(mod, "keep.txt"), "keep");
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  try {
    expect(temps(mod)).toEqual([]);
    expect(existsSync(join(mod, "keep.txt"))).toBe(true);
  } finally {
    await d.stop();
  }
});
