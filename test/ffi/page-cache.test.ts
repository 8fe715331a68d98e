// residentShare (ffi/page-cache.ts) samples the page cache of a run's source files by path, as
// root, before the copy: what another user can put on those paths must not lead it elsewhere or
// hold it. A directory swapped for a symlink is not followed (not even to a readable file), and a
// FIFO put in a file's place is left out at once instead of blocking the open.
import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { residentShare } from "../../ffi/index.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(): string {
  const d = mkdtempSync(join(tmpdir(), "blit-test-pagecache-"));
  dirs.push(d);
  mkdirSync(join(d, "real"));
  writeFileSync(join(d, "real/file"), Buffer.alloc(64 << 10, 1));
  return d;
}

/** Whether this kernel has cachestat (6.5+): asked of a file made here, by its real path. */
const supported = (() => {
  const d = tree();
  const share = residentShare([{ path: join(d, "real/file"), size: 64 << 10 }]);
  rmSync(d, { recursive: true, force: true });
  dirs.pop();
  return share !== undefined;
})();

test.skipIf(!supported)("a file reached through a symlinked directory is not sampled; the same file by its real path is", () => {
  const d = tree();
  symlinkSync(join(d, "real"), join(d, "swapped"));
  expect(residentShare([{ path: join(d, "real/file"), size: 64 << 10 }])).toBeGreaterThan(0);
  expect(residentShare([{ path: join(d, "swapped/file"), size: 64 << 10 }])).toBeUndefined();
});

test.skipIf(process.platform !== "linux" || !Bun.which("mkfifo"))("a FIFO in a file's place is left out at once, never waited on", () => {
  const d = tree();
  expect(Bun.spawnSync(["mkfifo", join(d, "real/fifo")]).exitCode).toBe(0);
  const t0 = performance.now();
  const share = residentShare([{ path: join(d, "real/fifo"), size: 4096 }, { path: join(d, "real/file"), size: 64 << 10 }]);
  expect(performance.now() - t0).toBeLessThan(2000);
  if (supported) expect(share).toBeGreaterThan(0); // the regular file still counts
});
