// One end-to-end test per cause of a slow run (issue 13): the cause is induced for real around a
// real `blit mirror` of a small tree (a --bwlimit cap, one worker on small files, stress-ng on
// every core, fio writing on the same disk, a destination on a loop device mounted -o sync, a
// dropped page cache, strace, readers of the files being written), right after an ordinary run of
// the same tree, with a history of ordinary runs before; then `blit diagnose RUN --format json`
// must name that cause first (explanation.causes[0].kind). Speed is not asserted: when the
// induced run was not really slowed (1.5x its control) the diagnosis may name nothing, but never
// another cause. A cause whose tools are missing is skipped, with the reason on stderr.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { makeSmallTree } from "../bench/gen.ts";
import {
  dropCaches, inducerMissing, makeCloneMount, makeSyncMount, startCpuLoad, startIoLoad, startReader, stopInduced, TRACER_PREFIX,
  type InducedCause, type Load,
} from "../bench/induce.ts";
import { PROJECT_ROOT, tempDir } from "./helpers.ts";

const tmp = tempDir();
const SLOWED = 1.5;
/** Seeded history: ordinary runs of both trees, copied into each test's own BLIT_HOME. */
const baseHome = join(tmp.dir, "base-home");
let mixed = "";
let smallFiles = "";
let mixedBytes = 0;
let serial = 0;

interface Mirrored {
  id: string;
  totalMs: number;
}

interface Diagnosis {
  causes: { kind?: string; text: string }[];
  flags: { kind?: string; text: string }[];
  summary: string;
  /** The run's time against what runs like it take (diagnose's own reference). */
  peerRatio: number;
}

async function blit(args: string[], home: string, prefix: string[] = []): Promise<string> {
  const env: Record<string, string | undefined> = { ...process.env, BLIT_HOME: home };
  delete env.BLIT_WORKERS;
  delete env.BLIT_TELEMETRY;
  const proc = Bun.spawn([...prefix, process.execPath, join(PROJECT_ROOT, "tui/blit.ts"), ...args], { cwd: PROJECT_ROOT, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`blit ${args.join(" ")} exited ${code}: ${stderr.slice(-500)}`);
  return stdout;
}

/** A real mirror of `src` into a destination never used before (under `under`), then sync. */
async function mirror(src: string, home: string, opts: { extra?: string[]; prefix?: string[]; dst?: string } = {}): Promise<Mirrored> {
  const dst = opts.dst ?? join(tmp.dir, "dst", `d${++serial}`);
  const report = JSON.parse(await blit(["mirror", src, dst, "--json", "--no-progress", ...(opts.extra ?? [])], home, opts.prefix)) as { id: string; phases: { totalMs: number } };
  Bun.spawnSync(["sync"]);
  return { id: report.id, totalMs: report.phases.totalMs };
}

async function diagnose(id: string, home: string): Promise<Diagnosis> {
  const d = JSON.parse(await blit(["diagnose", id, "--format", "json"], home)) as {
    flags: Diagnosis["flags"];
    explanation: { summary: string; causes: Diagnosis["causes"] };
    score: { peerRatio: number };
  };
  return { causes: d.explanation.causes, flags: d.flags, summary: d.explanation.summary, peerRatio: d.score.peerRatio };
}

/** This test's own BLIT_HOME, holding the seeded history. */
function homeFor(name: string): string {
  const home = join(tmp.dir, `home-${name}`);
  cpSync(baseHome, home, { recursive: true });
  return home;
}

/** Runs `step` while `load` runs (after it has had `settleMs` to get going), and stops the load. */
async function under<T>(load: Load, settleMs: number, step: () => Promise<T>): Promise<T> {
  try {
    await Bun.sleep(settleMs);
    return await step();
  } finally {
    await load.stop();
  }
}

/**
 * Control run, then the induced run, then its diagnosis: the first cause is `kind` when the run
 * was slowed 1.5x; when it was not, no cause other than `kind` may come first.
 */
async function expectNamed(cause: InducedCause, kind: string, src: string, induce: (home: string, control: Mirrored) => Promise<Mirrored>) {
  const home = homeFor(cause);
  const control = await mirror(src, home);
  const slowed = await induce(home, control);
  const d = await diagnose(slowed.id, home);
  const ratio = slowed.totalMs / control.totalMs;
  const first = d.causes[0]?.kind ?? (d.causes.length ? "(no kind)" : "(no cause)");
  const seen = `${cause}: ${slowed.totalMs.toFixed(0)} ms vs control ${control.totalMs.toFixed(0)} ms (${ratio.toFixed(2)}x, ${d.peerRatio.toFixed(2)}x its reference); first cause ${first}: ${d.causes[0]?.text ?? d.summary}`;
  console.error(seen);
  // Named only when the slow-down is one diagnose can see: 1.5x its control, more than the 200 ms
  // below which a run is never called slower, and slower than the history it is judged against
  // (this machine's speed drifts: the seeded history may itself be as slow as the induced run).
  if (ratio >= SLOWED && slowed.totalMs - control.totalMs >= SIGNIFICANT_MS && d.peerRatio >= PEER_SLOWER) expect(first, seen).toBe(kind);
  else expect([kind, "(no cause)", ...(ALSO_SEEN[cause] ?? [])], seen).toContain(first);
}

/** diagnose's own "slower than runs like it" ratio (SLOWER_RATIO in analytics/diagnose/causes.ts). */
const PEER_SLOWER = 1.2;
/** An excess diagnose always counts as real (its own floor is 200 ms). */
const SIGNIFICANT_MS = 300;
/** What a load shows besides its own cause when it did not slow the run enough to be named: readers use the CPUs and the disk. */
const ALSO_SEEN: Partial<Record<InducedCause, string[]>> = { scanner: ["cpu-contention", "io-contention"], io: ["cpu-contention"], cpu: ["io-contention"] };

function skipReason(cause: InducedCause): boolean {
  const why = inducerMissing(cause);
  if (why) console.error(`skipping the ${cause} test: ${why}`);
  return why !== null;
}

beforeAll(async () => {
  // A mixed tree of about 14 MB (1,500 x 4 KiB, 90 x 32 KiB, 10 x 512 KiB: a run of about half a
  // second, so that a 1.5x slow-down is more than the 200 ms diagnose needs) and 1,500 x 1 KiB files.
  mixed = join(tmp.dir, "src-mixed");
  for (const p of [
    { sub: "small", files: 1500, size: 4096, dirs: 15 },
    { sub: "medium", files: 90, size: 32 << 10, dirs: 3 },
    { sub: "large", files: 10, size: 512 << 10, dirs: 1 },
  ]) mixedBytes += (await makeSmallTree(mixed, p)).bytes;
  smallFiles = join(tmp.dir, "src-small");
  await makeSmallTree(smallFiles, { files: 1500, size: 1024, dirs: 15 });
  Bun.spawnSync(["sync"]);
  mkdirSync(baseHome, { recursive: true });
  // diagnose compares a run with similar ones only from 8 of them on (MIN_REFERENCE).
  for (let i = 0; i < 9; i++) await mirror(mixed, baseHome);
  for (let i = 0; i < 3; i++) await mirror(smallFiles, baseHome);
}, 120_000);

afterEach(() => stopInduced());

// Every run's destination is kept until here (deleting between runs would slow the next ones), and
// removing some 10,000 files took up to a minute on a busy shared disk.
afterAll(() => {
  stopInduced();
  tmp.remove();
}, 300_000);

describe("a cause induced for real is named first by blit diagnose --format json", () => {
  test("an ordinary run right after ordinary history: no flag and no cause", async () => {
    const home = homeFor("ordinary");
    const r = await mirror(mixed, home);
    const d = await diagnose(r.id, home);
    expect({ flags: d.flags, causes: d.causes }).toEqual({ flags: [], causes: [] });
  }, 30_000);

  test("--bwlimit at a quarter of the control's rate: bwlimit", async () => {
    await expectNamed("bwlimit", "bwlimit", mixed, (home, control) => {
      const rate = Math.max(64 << 10, Math.floor(mixedBytes / (control.totalMs / 1000) / 4));
      return mirror(mixed, home, { extra: ["--bwlimit", String(rate)] });
    });
  }, 30_000);

  test("--workers 1 on 1,500 small files: workers", async () => {
    await expectNamed("workers", "workers", smallFiles, (home) => mirror(smallFiles, home, { extra: ["--workers", "1"] }));
  }, 30_000);

  test("two CPU hogs per core: cpu-contention", async () => {
    await expectNamed("cpu", "cpu-contention", mixed, (home) => under(startCpuLoad(2 * availableParallelism()), 300, () => mirror(mixed, home)));
  }, 30_000);

  test("direct writes by another process on the same disk: io-contention", async () => {
    await expectNamed("io", "io-contention", mixed, (home) => under(startIoLoad(join(tmp.dir, "io-load"), 256 << 20), 1000, () => mirror(mixed, home)));
  }, 30_000);

  test.skipIf(skipReason("sync-device"))("a destination on a loop device mounted -o sync: slow-device", async () => {
    // The whole mixed tree: every write waits for the device, a few seconds in all, so the
    // slow-down is far above what diagnose needs (90 files alone differed by ~150 ms).
    const src = mixed;
    const mount = makeSyncMount(join(tmp.dir, "sync-device"), 64 << 20, 4000);
    try {
      await expectNamed("sync-device", "slow-device", src, (home) => mirror(src, home, { dst: join(mount.path, "dst") }));
    } finally {
      mount.remove();
    }
  }, 30_000);

  test.skipIf(skipReason("cold-cache"))("the page cache dropped just before: cold-cache or enumeration", async () => {
    const home = homeFor("cold-cache");
    const control = await mirror(mixed, home);
    dropCaches();
    const slowed = await mirror(mixed, home);
    const d = await diagnose(slowed.id, home);
    const first = d.causes[0]?.kind ?? (d.causes.length ? "(no kind)" : "(no cause)");
    const ratio = slowed.totalMs / control.totalMs;
    const seen = `cold-cache: ${ratio.toFixed(2)}x control, ${d.peerRatio.toFixed(2)}x its reference; first cause ${first}: ${d.causes[0]?.text ?? d.summary}`;
    console.error(seen);
    // The issue counts a cold page cache and an enumeration-bound run as one cause with two kinds;
    // named only for a slow-down diagnose can see (as in expectNamed).
    const visible = ratio >= SLOWED && slowed.totalMs - control.totalMs >= SIGNIFICANT_MS && d.peerRatio >= PEER_SLOWER;
    expect(visible ? ["cold-cache", "enumeration"] : ["cold-cache", "enumeration", "(no cause)"], seen).toContain(first);
  }, 30_000);

  test.skipIf(skipReason("tracer"))("the run under strace -f: tracer", async () => {
    await expectNamed("tracer", "tracer", mixed, (home) => mirror(mixed, home, { prefix: TRACER_PREFIX }));
  }, 30_000);

  test.skipIf(skipReason("scanner"))("readers of the files being written: scanner", async () => {
    const dst = join(tmp.dir, "dst", "scanned");
    await expectNamed("scanner", "scanner", mixed, (home) => under(startReader(dst), 100, () => mirror(mixed, home, { dst })));
  }, 30_000);

  test.skipIf(skipReason("fast-path"))("large files on an XFS with reflink, mirrored to another filesystem: fast-path", async () => {
    // 1 GiB in 16 files: within the XFS they are cloned (the control), to the temp dir's disk written out.
    const mount = makeCloneMount(join(tmp.dir, "clone-device"), 1536 << 20);
    try {
      const src = join(mount.path, "src");
      await makeSmallTree(src, { files: 16, size: 64 << 20, dirs: 1 });
      Bun.spawnSync(["sync"]);
      const home = homeFor("fast-path");
      const control = await mirror(src, home, { dst: join(mount.path, "dst") });
      const slowed = await mirror(src, home);
      const d = await diagnose(slowed.id, home);
      const ratio = slowed.totalMs / control.totalMs;
      const first = d.causes[0]?.kind ?? "(no cause)";
      const seen = `fast-path: ${slowed.totalMs.toFixed(0)} ms vs ${control.totalMs.toFixed(0)} ms cloned (${ratio.toFixed(2)}x); first cause ${first}: ${d.causes[0]?.text ?? d.summary}`;
      console.error(seen);
      // A clone would have saved the transfer phase: named whenever that is worth naming (200 ms).
      if (slowed.totalMs - control.totalMs >= SIGNIFICANT_MS) expect(first, seen).toBe("fast-path");
      else expect(["fast-path", "(no cause)"], seen).toContain(first);
      if (first === "fast-path") expect(d.causes[0]!.text).toContain("xfs -> ");
    } finally {
      mount.remove();
    }
  }, 60_000);
});
