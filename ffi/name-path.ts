// node:path and node:fs for path strings that may hold escaped bytes (name-bytes.ts). Bun's
// node:path and node:fs turn a lone surrogate into U+FFFD, which names another file; these
// versions keep the exact bytes. Plain Unicode paths go straight to node:path and node:fs, so
// code that uses them pays nothing for names that are valid UTF-8. For code that still works
// with path strings; directory fds (openat2.ts, dir-reader.ts) are the better way.
import {
  chmodSync, existsSync, lstatSync, mkdirSync, readlinkSync, realpathSync, renameSync, rmdirSync, rmSync, statSync,
  symlinkSync, unlinkSync,
} from "node:fs";
import { posix } from "node:path";
import { bytesOfName, fsPath, nameFromBytes } from "./name-bytes.ts";


// Each byte as the character U+0000..U+00FF: "/" and "." stay themselves, so node:path's
// rules apply to the bytes unchanged, and nothing is lost on the way back.
const toBytesText = (s: string) => Buffer.from(bytesOfName(s)).toString("latin1");
const fromBytesText = (s: string) => nameFromBytes(Buffer.from(s, "latin1"));

function keepBytes(f: (...parts: string[]) => string): (...parts: string[]) => string {
  return (...parts) => {
    for (let k = 0; k < parts.length; k++) if (!parts[k]!.isWellFormed()) return fromBytesText(f(...parts.map(toBytesText)));
    return f(...parts);
  };
}

// One- and two-argument forms without rest arrays: these run per file on the copy's hot path.
const keep1 = (f: (p: string) => string) => (p: string) => (p.isWellFormed() ? f(p) : fromBytesText(f(toBytesText(p))));

/** POSIX path operations that keep escaped bytes (same results as node:path otherwise). */
export const namePath = {
  join: keepBytes(posix.join),
  /** join(a, b) of two parts, the common case, without a rest array. */
  join2: (a: string, b: string): string => (a.isWellFormed() && b.isWellFormed() ? posix.join(a, b) : fromBytesText(posix.join(toBytesText(a), toBytesText(b)))),
  dirname: keep1(posix.dirname),
  basename: keepBytes(posix.basename) as (path: string, suffix?: string) => string,
  normalize: keepBytes(posix.normalize) as (path: string) => string,
  relative: keepBytes(posix.relative) as (from: string, to: string) => string,
  /** Relative parts resolve against process.cwd(), as node:path does. */
  resolve: (...parts: string[]): string => keepBytes(posix.resolve)(process.cwd(), ...parts),
};

type Rest<F> = F extends (first: never, ...rest: infer R) => unknown ? R : never;

/**
 * The node:fs calls the local engine makes on path strings, with every path (and a symlink's
 * target) handed over as its exact bytes. Same signatures and errors as node:fs.
 */
export const nameFs = {
  existsSync: (p: string) => existsSync(fsPath(p)),
  lstatSync: ((p: string, ...r: Rest<typeof lstatSync>) => lstatSync(fsPath(p), ...r)) as typeof lstatSync,
  statSync: ((p: string, ...r: Rest<typeof statSync>) => statSync(fsPath(p), ...r)) as typeof statSync,
  mkdirSync: ((p: string, ...r: Rest<typeof mkdirSync>) => mkdirSync(fsPath(p), ...r)) as typeof mkdirSync,
  rmdirSync: (p: string) => rmdirSync(fsPath(p)),
  rmSync: (p: string, opts?: Parameters<typeof rmSync>[1]) => rmSync(fsPath(p), opts),
  unlinkSync: (p: string) => unlinkSync(fsPath(p)),
  chmodSync: (p: string, mode: number) => chmodSync(fsPath(p), mode),
  renameSync: (from: string, to: string) => renameSync(fsPath(from), fsPath(to)),
  symlinkSync: (target: string, p: string) => symlinkSync(fsPath(target), fsPath(p)),
  readlinkSync: (p: string): string => nameFromBytes(readlinkSync(fsPath(p), { encoding: "buffer" })),
  realpathSync: (p: string): string => nameFromBytes(realpathSync(fsPath(p), { encoding: "buffer" })),
};
