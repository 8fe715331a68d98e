// A tree whose names are not all UTF-8 (and some that are awkward in other ways), and a
// byte-exact snapshot of a tree, read with Buffer paths so nothing is decoded on the way.
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";

const b = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));
const at = (root: string, ...rel: Buffer[]) => Buffer.concat([Buffer.from(root + "/"), ...rel.flatMap((r, i) => (i ? [Buffer.from("/"), r] : [r]))]);

/** Names (as bytes) the fixture holds, for tests that name one of them. */
export const NAMES = {
  /** a, 0xff, b: not UTF-8 */
  aFFb: b("a", [0xff], "b"),
  /** "été" in Latin-1 */
  latin1: b([0xe9], "t", [0xe9]),
  /** valid UTF-8 "café" */
  cafe: b("caf", [0xc3, 0xa9]),
  /** a real U+FFFD, which must not be confused with an undecodable byte */
  replacement: b("rep", [0xef, 0xbf, 0xbd]),
  /** rep + 0xff: decodes with an escape; distinct from the one above */
  repFF: b("rep", [0xff]),
  newline: b("new\nline"),
  tab: b("tab\tname"),
  esc: b("esc\x1bname"),
  dir: b("d", [0xfe]),
  inner: b("f", [0x80]),
  /** a truncated two-byte sequence */
  subdir: b([0xc3], "("),
  linkToFile: b("l", [0xff]),
  linkInvalidTarget: b("lnk2"),
};

/** Writes the awkward tree under `root` (which must exist). */
export function writeByteNameTree(root: string): void {
  const n = NAMES;
  writeFileSync(at(root, n.aFFb), "a-ff-b\n");
  writeFileSync(at(root, n.latin1), "latin-1\n");
  writeFileSync(at(root, n.cafe), "utf-8\n");
  writeFileSync(at(root, n.replacement), "real U+FFFD\n");
  writeFileSync(at(root, n.repFF), "escaped ff\n");
  writeFileSync(at(root, n.newline), "newline\n");
  writeFileSync(at(root, n.tab), "tab\n");
  writeFileSync(at(root, n.esc), "escape\n");
  mkdirSync(at(root, n.dir));
  writeFileSync(at(root, n.dir, n.inner), "inner\n".repeat(1000));
  mkdirSync(at(root, n.dir, n.subdir));
  writeFileSync(at(root, n.dir, n.subdir, b("x")), "x\n");
  symlinkSync(n.aFFb, at(root, n.linkToFile));
  symlinkSync(Buffer.concat([n.dir, Buffer.from("/"), n.inner]), at(root, n.linkInvalidTarget));
}

/** One entry of a snapshot: its path as hex bytes, its type, and its content hash or link target (hex). */
export type Snap = Record<string, string>;

/** Every entry under root by its exact bytes ("/"-joined hex), with type and content or target. */
export function snapshot(root: string): Snap {
  const out: Snap = {};
  const walk = (dir: Buffer, rel: Buffer | null) => {
    for (const name of readdirSync(dir, { encoding: "buffer" }).sort(Buffer.compare)) {
      const p = Buffer.concat([dir, Buffer.from("/"), name]);
      const r = rel ? Buffer.concat([rel, Buffer.from("/"), name]) : name;
      const st = lstatSync(p);
      const key = r.toString("hex");
      if (st.isSymbolicLink()) out[key] = `link:${readlinkSync(p, { encoding: "buffer" }).toString("hex")}`;
      else if (st.isDirectory()) {
        out[key] = `dir:${(st.mode & 0o7777).toString(8)}`;
        walk(p, r);
      } else out[key] = `file:${(st.mode & 0o7777).toString(8)}:${createHash("sha256").update(readFileSync(p)).digest("hex")}`;
    }
  };
  walk(Buffer.from(root), null);
  return out;
}

/** A snapshot's keys shown as text (for failure messages). */
export function shown(s: Snap): string[] {
  return Object.keys(s).map((k) => JSON.stringify(Buffer.from(k, "hex").toString("latin1")));
}

export { at, b };
