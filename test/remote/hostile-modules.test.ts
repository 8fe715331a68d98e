// What is placed in a module must not block blitd: a FIFO (or socket, device) is listed by its
// kind and never opened, a pull of one is refused, a pull of a module holding one skips it, and
// a regular file swapped for a FIFO after the walk is skipped by the sender, never read. Every
// case runs while another client's `blit ls` must be answered within a few seconds.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { emptyTree, hashBeneath, sendFiles, T_FILE, type Channel, type Tree } from "../../engine/index.ts";
import { openRooted } from "../../ffi/index.ts";
import { cleanup, moduleToml, spawnBlit, startBlitd, tempDir, type Daemon } from "./helpers.ts";

const HAVE_MKFIFO = spawnSync("mkfifo", ["--version"]).status === 0;

let work: string;
let ro: string;
let d: Daemon;
let url: string;

interface Timed {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Killed at the deadline: the command hung. */
  hung: boolean;
}

/** Runs `blit ...args`, killed after `ms` (then `hung` is true). */
async function timedBlit(args: string[], ms = 15_000): Promise<Timed> {
  const t0 = performance.now();
  const p = spawnBlit(args);
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    p.kill("SIGKILL");
  }, ms);
  try {
    const [code, stdout, stderr] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    return { code, stdout, stderr, ms: performance.now() - t0, hung };
  } finally {
    clearTimeout(timer);
  }
}

/** While `during` runs, another client's `blit ls` of the daemon's modules: answered within 5 s. */
async function othersServed<T>(during: Promise<T>): Promise<{ result: T; other: Timed }> {
  await Bun.sleep(300); // `during` has reached the daemon
  const other = await timedBlit(["ls", url], 10_000);
  return { result: await during, other };
}

beforeAll(async () => {
  work = tempDir("hostile-modules-");
  ro = join(work, "ro");
  mkdirSync(join(ro, "sub"), { recursive: true });
  writeFileSync(join(ro, "a.txt"), "a\n");
  writeFileSync(join(ro, "sub/b.txt"), "b\n");
  if (HAVE_MKFIFO) {
    spawnSync("mkfifo", [join(ro, "fifo")]);
    spawnSync("mkfifo", [join(ro, "sub/fifo2")]);
  }
  d = await startBlitd(work, moduleToml({ ro: { path: ro } }));
  url = `blit://127.0.0.1:${d.port}`;
});

afterAll(async () => {
  try {
    await d?.stop("SIGKILL");
  } finally {
    cleanup(work);
  }
});

describe.skipIf(!HAVE_MKFIFO)("a FIFO in a module (needs mkfifo)", () => {
  test("`blit ls` of the FIFO lists it without opening it; another client is answered meanwhile", async () => {
    const { result: ls, other } = await othersServed(timedBlit(["ls", `${url}/ro/fifo`]));
    expect({ hung: ls.hung, code: ls.code }).toEqual({ hung: false, code: 0 });
    expect(ls.stdout).toContain("fifo");
    expect(ls.stdout).toMatch(/^\?/m); // listed as a special file, not a file
    expect({ hung: other.hung, code: other.code, fast: other.ms < 5_000 }).toEqual({ hung: false, code: 0, fast: true });
    expect(other.stdout).toContain("ro");
  }, 30_000);

  test("`blit ls` of the directory holding FIFOs lists them", async () => {
    const ls = await timedBlit(["ls", `${url}/ro/sub`]);
    expect({ hung: ls.hung, code: ls.code }).toEqual({ hung: false, code: 0 });
    expect(ls.stdout).toContain("fifo2");
    expect(ls.stdout).toContain("b.txt");
  }, 30_000);

  test("`blit pull` of the module finishes: files copied, FIFOs skipped, nothing blocks", async () => {
    const dst = join(work, "pulled");
    const { result: pull, other } = await othersServed(timedBlit(["pull", `${url}/ro`, dst]));
    expect({ hung: pull.hung, code: pull.code, err: pull.stderr }).toEqual({ hung: false, code: 0, err: pull.stderr });
    expect(readdirSync(dst).sort()).toEqual(["a.txt", "sub"]);
    expect(readdirSync(join(dst, "sub"))).toEqual(["b.txt"]);
    expect({ hung: other.hung, fast: other.ms < 5_000 }).toEqual({ hung: false, fast: true });
  }, 30_000);

  test("`blit pull` of the FIFO itself is refused in words, at once", async () => {
    const dst = join(work, "pulled-fifo");
    const { result: pull, other } = await othersServed(timedBlit(["pull", `${url}/ro/fifo`, dst]));
    expect(pull.hung).toBe(false);
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toContain("FIFO");
    expect(existsSync(join(dst, "fifo"))).toBe(false);
    expect({ hung: other.hung, fast: other.ms < 5_000 }).toEqual({ hung: false, fast: true });
  }, 30_000);

  test("the sender skips a listed file that became a FIFO (never opened blocking); --checksum hashing too", async () => {
    const root = openRooted(ro);
    // Should the open block (the bug), a writer comes after 3 s so the test fails instead of hanging.
    const unblocker = Bun.spawn(["timeout", "8", "sh", "-c", `sleep 3; echo x > '${join(ro, "fifo")}'`]);
    const t0 = performance.now();
    try {
      const tree: Tree = { ...emptyTree(), rootExists: true, paths: ["fifo"], types: [T_FILE], sizes: [3], modes: [0o644], mtimeSec: [0], mtimeNsec: [0] };
      const frames: Uint8Array[] = [];
      const ch = {
        kind: "tcp", write: (b: Uint8Array) => void frames.push(b.slice()), pause() {}, resume() {}, onBytes() {},
        end: async () => {}, destroy() {}, closed: new Promise<void>(() => {}), failure: undefined, peerEnded: false,
      } as Channel;
      const res = await sendFiles(ch, root, tree, [0], { checksum: false });
      expect(res.files).toBe(0);
      expect(res.errors.map((e) => e.code)).toEqual(["NOT_REGULAR"]);
      expect(frames.length).toBe(1); // the SKIP
      expect(hashBeneath(root, "fifo")).toBeNull();
      expect(performance.now() - t0).toBeLessThan(2_000);
    } finally {
      unblocker.kill("SIGKILL");
      root.close();
    }
  }, 30_000);
});
