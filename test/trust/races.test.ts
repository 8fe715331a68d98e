// Symlink races (issue 11), played by a real unprivileged user: `nobody` swaps a directory it
// owns in SRC (or DST) for a symlink to a root-only directory and back, as fast as
// renameat2(RENAME_EXCHANGE) allows, while root runs blit copy, mirror, push and pull over and
// over. Afterwards the root-only directory must be exactly as it was (nothing written, deleted or
// chmod'ed there through the symlink) and no DST may hold anything read from it.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tempDirs, walk, type TempDir } from "../helpers/index.ts";
import { blit, fillFiles, giveToNobody, snapshot, startModule, startSwapper, type Module } from "./helpers.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

let mod: Module;
beforeAll(async () => {
  mod = await startModule();
  // nobody must reach its own directories inside the module
  chmodSync(dirname(mod.path), 0o755);
  chmodSync(mod.path, 0o755);
});
afterAll(async () => {
  await mod?.stop();
});

/** Each case swaps for at most this long, and runs blit at most MAX_RUNS times meanwhile. */
const BUDGET_MS = 5_500;
const MAX_RUNS = 40;
/** Names both in the root-only directory and (for DST cases) in the swapped DST directory. */
const BAIT = Array.from({ length: 20 }, (_, i) => `x${i}`);
/**
 * Empty files sorted after `d` in the swapped tree, left out of every run with --exclude: a walk
 * still stats them between looking at `d` and reading it, which makes the window the swap must
 * land in milliseconds wide instead of microseconds (a walk of a real tree has such windows).
 */
const FILLERS = 2000;
const EXCLUDE_FILLERS = ["--exclude", "zz-filler-*"];

function addFillers(dir: string): void {
  for (let i = 0; i < FILLERS; i++) writeFileSync(join(dir, `zz-filler-${i}`), "");
}

// ---------------------------------------------------------------------------------------------
// The root-only directory and the leak checks

interface RootOnly {
  path: string;
  /** The 0600 secret's content. */
  secret: string;
}

/** A 0700 root directory holding a 0600 `secret` and the BAIT files, all owned by root. */
function makeRootOnly(path: string): RootOnly {
  const secret = `root-only secret ${randomBytes(16).toString("hex")}\n`;
  mkdirSync(path, { mode: 0o700 });
  writeFileSync(join(path, "secret"), secret, { mode: 0o600 });
  for (const name of BAIT) writeFileSync(join(path, name), `root-only ${name}\n`);
  return { path, secret };
}

/** Entries of the root-only directory that are no longer root's. */
function notRootOwned(dir: string): string[] {
  return walk(dir)
    .map((e) => ({ rel: e.rel, st: lstatSync(e.rel === "" ? dir : join(dir, e.rel)) }))
    .filter(({ st }) => st.uid !== 0 || st.gid !== 0)
    .map(({ rel, st }) => `${rel || "."}: owned by ${st.uid}:${st.gid}`);
}

/**
 * What a DST holds that came from the root-only directory: an entry named `secret`, a file with
 * the secret's content, or one with a BAIT file's content (`root-only x3`). `namesToo` also
 * flags BAIT names (only when DST has no BAIT files of its own).
 */
function leaks(dst: string, ro: RootOnly, namesToo: boolean): string[] {
  const out: string[] = [];
  let entries: ReturnType<typeof walk> = [];
  try {
    entries = walk(dst);
  } catch {
    return out; // a run that failed before creating DST read nothing into it
  }
  for (const e of entries) {
    const base = e.rel.split("/").pop()!;
    if (base === "secret" || (namesToo && BAIT.includes(base))) out.push(`${dst}/${e.rel}: a root-only name`);
    if (e.type !== "file") continue;
    let content = "";
    try {
      content = readFileSync(join(dst, e.rel), "utf8");
    } catch {}
    if (content === ro.secret || content.startsWith("root-only ")) {
      out.push(`${dst}/${e.rel}: root-only content (mode ${(lstatSync(join(dst, e.rel)).mode & 0o777).toString(8)})`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The swapper

// ---------------------------------------------------------------------------------------------
// The cases

type Command = "copy" | "mirror" | "push" | "pull";
type Side = "src" | "dst";

interface Layout {
  /** Where nobody swaps `d` for a symlink: SRC or DST. */
  swapIn: string;
  /** The blit arguments of run k, and the local or module directory that run writes. */
  run(k: number): { args: string[]; dst: string };
}

let caseNo = 0;

/**
 * SRC holds top.txt and d/ (files pub*; planted* when DST is swapped); DST's d/ holds the BAIT
 * names that a mirror deletes. Everything nobody must rename is nobody's.
 */
function layout(t: TempDir, cmd: Command, side: Side): Layout {
  const id = `race-${++caseNo}`;
  // SRC is in the module for a pull; DST is for a push.
  const src = cmd === "pull" ? join(mod.path, `${id}-src`) : t.join("src");
  const remoteSrc = `${mod.url}/${id}-src`;
  writeFileSync(join(mkdirp(src), "top.txt"), "top\n");
  fillFiles(join(src, "d"), 20, side === "src" ? "pub" : "planted");
  if (side === "src") addFillers(src);
  giveToNobody(src);
  const mirrorEveryOther = (k: number) => (k % 2 === 1 ? ["--mirror"] : []);
  if (side === "src") {
    return {
      swapIn: src,
      run(k) {
        // A fresh DST per run (a reused one would have a leak deleted again by the next mirror).
        if (cmd === "push") return { args: ["push", src, `${mod.url}/${id}-${k}`, ...mirrorEveryOther(k)], dst: join(mod.path, `${id}-${k}`) };
        const dst = t.join(`dst-${k}`);
        if (cmd === "pull") return { args: ["pull", remoteSrc, dst, ...mirrorEveryOther(k)], dst };
        return { args: [cmd, src, dst], dst };
      },
    };
  }
  const dst = cmd === "push" ? join(mod.path, id) : t.join("dst");
  mkdirp(join(dst, "d"));
  for (const name of BAIT) writeFileSync(join(dst, "d", name), `${name}: extraneous\n`);
  addFillers(dst);
  giveToNobody(dst);
  return {
    swapIn: dst,
    run(k) {
      // -I: every run writes every file again, so every run meets the swap.
      if (cmd === "push") return { args: ["push", "-I", src, `${mod.url}/${id}`, ...mirrorEveryOther(k)], dst };
      if (cmd === "pull") return { args: ["pull", "-I", remoteSrc, dst, ...mirrorEveryOther(k)], dst };
      return { args: [cmd, "-I", src, dst], dst };
    },
  };
}

function mkdirp(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

const CASES: [Command, Side][] = [
  ["copy", "src"], ["mirror", "src"], ["push", "src"], ["pull", "src"],
  ["copy", "dst"], ["mirror", "dst"], ["push", "dst"], ["pull", "dst"],
];

describe("nobody swaps a directory for a symlink to a root-only directory while root runs blit", () => {
  test.each(CASES)("blit %s, swaps in %s: nothing read from, written to or deleted in the root-only directory", async (cmd, side) => {
    const t = temps.make();
    chmodSync(t.path, 0o755); // nobody reaches its directories (the root-only one stays 0700)
    const ro = makeRootOnly(t.join("root-only"));
    const before = snapshot(ro.path);
    const l = layout(t, cmd, side);
    const found: string[] = [];
    let runs = 0;
    // its own bound, should the test die
    const swapper = startSwapper(t.path, l.swapIn, "d", ro.path, { seconds: Math.ceil(BUDGET_MS / 1000) + 20, refill: side === "dst" ? BAIT : [] });
    let exchanges = 0;
    try {
      const deadline = Date.now() + BUDGET_MS;
      while (runs < MAX_RUNS && Date.now() < deadline) {
        const { args, dst } = l.run(runs++);
        await blit(t, [...args, ...EXCLUDE_FILLERS], { timeoutMs: 30_000 });
        // Checked after every run: a later mirror could delete what an earlier run leaked. A
        // DST that nobody is swapping cannot be walked safely now (the walk would follow the
        // swap too); it is looked at once the swapper has stopped.
        found.push(...before.changes().map((c) => `root-only dir: ${c}`));
        if (side === "src") {
          found.push(...leaks(dst, ro, true));
          rmSync(dst, { recursive: true, force: true });
        }
        if (found.length > 0) break;
      }
    } finally {
      exchanges = await swapper.stop();
    }
    if (side === "dst") found.push(...leaks(l.swapIn, ro, false));
    expect({ leaksOrDamage: found.slice(0, 8), notRootOwned: notRootOwned(ro.path) }).toEqual({ leaksOrDamage: [], notRootOwned: [] });
    // The race was really run: the swapper kept swapping, and blit ran many times meanwhile.
    expect(exchanges).toBeGreaterThan(1000);
    if (found.length === 0) expect(runs).toBeGreaterThanOrEqual(5);
  }, 40_000);
});
