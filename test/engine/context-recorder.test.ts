// The recorder itself (engine/context/): a long run's timeline stays bounded without losing what
// it counts, a stop is final, and a path not made yet is described by its nearest parent.
import { expect, test } from "bun:test";
import { startContext } from "../../engine/index.ts";
import { sleep } from "../helpers/index.ts";

test("a timeline past its bound is merged in pairs: bounded, in order, and its bytes and files still add up", async () => {
  const done = { bytes: 0, files: 0 };
  // 2 ms samples for 1.5 s would be ~750; the bound of 40 halves them (and doubles the interval) again and again.
  const rec = startContext({ intervalMs: 2, maxSamples: 40, progress: () => done });
  const until = performance.now() + 1500;
  while (performance.now() < until) {
    done.bytes += 4096;
    done.files += 1;
    await sleep(1);
  }
  const { timeline } = rec.stop();
  expect(timeline!.length).toBeGreaterThan(5);
  expect(timeline!.length).toBeLessThanOrEqual(40);
  // Merged samples cover more than one interval each.
  expect(timeline![0]!.tMs).toBeGreaterThanOrEqual(8);
  expect(timeline!.reduce((a, s) => a + s.bytes, 0)).toBe(done.bytes);
  expect(timeline!.reduce((a, s) => a + s.files, 0)).toBe(done.files);
  for (let k = 1; k < timeline!.length; k++) expect(timeline![k]!.tMs).toBeGreaterThanOrEqual(timeline![k - 1]!.tMs);
});

test("stop() is final: a second call returns the same capture, and no sample is added after it", async () => {
  const rec = startContext({ intervalMs: 5 });
  await sleep(30);
  const first = rec.stop();
  const n = first.timeline?.length ?? 0;
  await sleep(30);
  expect(rec.stop()).toBe(first);
  expect(first.timeline?.length ?? 0).toBe(n);
});

test.skipIf(process.platform !== "linux")("a destination not made yet is described by its nearest existing parent's mount", () => {
  const { context } = startContext({ destination: "/proc/self/no/such/dir" }).stop();
  expect(context.devices).toEqual([expect.objectContaining({ role: "destination", path: "/proc/self/no/such/dir", mountPoint: "/proc", fsType: "proc", deviceClass: "unknown", sync: false })]);
});
