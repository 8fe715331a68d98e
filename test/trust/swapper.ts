#!/usr/bin/env bun
// The attacker of races.test.ts, run as an unprivileged user (setpriv ... bun swapper.ts):
// exchanges PARENT/A (a directory the attacker owns) and PARENT/A.swap (a symlink to TARGET)
// atomically with renameat2(RENAME_EXCHANGE), as fast as it can, until STOPFILE exists or
// SECONDS pass. What a run deleted it puts back (the directory, the symlink, and the files named
// in REFILL inside the directory), so every blit run meets the swap. Prints the number of
// exchanges done. Usage: swapper.ts PARENT A TARGET STOPFILE SECONDS [REFILL,NAMES,...]
import { dlopen, FFIType, ptr } from "bun:ffi";
import { existsSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [parent, name, target, stopFile, seconds, refillList = ""] = process.argv.slice(2);
if (!parent || !name || !target || !stopFile || !seconds) {
  process.stderr.write("usage: swapper.ts PARENT A TARGET STOPFILE SECONDS [REFILL,...]\n");
  process.exit(2);
}
const refill = refillList.split(",").filter(Boolean);
const a = join(parent, name);
const b = join(parent, `${name}.swap`);

const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;
const libc = dlopen("libc.so.6", {
  renameat2: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
});
const aPath = Buffer.from(`${a}\0`);
const bPath = Buffer.from(`${b}\0`);
const exchange = () => libc.symbols.renameat2(AT_FDCWD, ptr(aPath), AT_FDCWD, ptr(bPath), RENAME_EXCHANGE) === 0;

function kind(p: string): "dir" | "link" | "other" | "none" {
  try {
    const st = lstatSync(p);
    return st.isDirectory() ? "dir" : st.isSymbolicLink() ? "link" : "other";
  } catch {
    return "none";
  }
}

/** Puts back a missing directory or symlink (a mirror run deletes the one it finds extraneous). */
function repair(): void {
  try {
    const ka = kind(a);
    const kb = kind(b);
    if (ka !== "dir" && kb !== "dir") {
      if (ka === "none") mkdirSync(a);
      else if (kb === "none") mkdirSync(b);
    }
    if (kind(a) === "none") symlinkSync(target!, a);
    if (kind(b) === "none") symlinkSync(target!, b);
  } catch {} // blit may be recreating the same name right now; try again next round
}

/** Files a mirror deletes come back, so that every run has something to delete. */
function refillDir(): void {
  for (const p of [a, b]) {
    if (kind(p) !== "dir") continue;
    for (const f of refill) {
      try {
        if (!existsSync(join(p, f))) writeFileSync(join(p, f), `${f}: refilled by the swapper\n`);
      } catch {} // the swap may have turned p into the symlink (then writing is refused: EACCES)
    }
  }
}

const deadline = performance.now() + Number(seconds) * 1000;
let exchanges = 0;
for (let i = 0; ; i++) {
  if (exchange()) exchanges++;
  else repair();
  if (i % 257 === 0) { // an odd period: the pauses find either state
    if (existsSync(stopFile) || performance.now() > deadline) break;
    refillDir();
    Bun.sleepSync(1); // leave some of the machine's two cores to blit
  }
}
process.stdout.write(`${exchanges}\n`);
