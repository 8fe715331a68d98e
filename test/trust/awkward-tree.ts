// The awkward tree of the conformance suite (issue 11): one feature per entry of FEATURES, each
// building its part of a source (and, for type swaps, of a destination that already exists), with
// the blit flags that keep it. `buildAwkwardTree` puts all of them into one tree.
import { spawnSync } from "node:child_process";
import { linkSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fillFiles } from "./helpers.ts";
import { setMtime, sh } from "../helpers/index.ts";

export interface Feature {
  /** The test case's name. */
  name: string;
  /** Subdirectory of the whole awkward tree that holds this feature. */
  slug: string;
  /** blit flags that keep this feature (flags blit is to have: -H, -X, -A, --specials, --devices). */
  flags: string[];
  /** Only meaningful for a mirror (it is about what replaces what in an existing DST). */
  mirrorOnly?: boolean;
  /** SRC is given to blit as a symlink to the source directory (rsync gets `src/`). */
  srcViaLink?: boolean;
  /** Building it needs root (chown, mknod). */
  needsRoot?: boolean;
  /** Writes the feature's entries into root (an existing directory). */
  build(root: string): void;
  /** What DST already holds before the run; the same in rsync's and blit's DST. */
  prepareDst?(root: string): void;
  /** What rsync's itemized changes cannot see (allocated blocks): problems of `got` against `ref`. */
  check?(ref: string, got: string): string[];
}

/** root/name for a name given as bytes (not valid UTF-8). */
const bytePath = (root: string, ...names: Buffer[]): Buffer =>
  Buffer.concat([Buffer.from(root), ...names.flatMap((n) => [Buffer.from("/"), n])]);

/** Longest absolute DST root the conformance suite uses beyond the source root's length. */
const ROOT_SLACK = 80;
const PATH_MAX = 4096;

const MiB = 1 << 20;

export const FEATURES: Feature[] = [
  {
    name: "plain files, directories and symlinks (control)",
    slug: "plain",
    flags: [],
    build(root) {
      writeFileSync(join(root, "a.txt"), "a\n");
      fillFiles(join(root, "dir/sub"), 3);
      writeFileSync(join(root, "exec.sh"), "#!/bin/sh\n", { mode: 0o755 });
      writeFileSync(join(root, "private"), "p\n", { mode: 0o600 });
      symlinkSync("a.txt", join(root, "rel-link"));
      symlinkSync("/nonexistent/target", join(root, "dangling-link"));
      setMtime(join(root, "a.txt"), "2001-02-03 04:05:06.123456789");
      setMtime(join(root, "dir/sub"), "2002-03-04 05:06:07.7");
    },
  },
  {
    name: "the source given as a symlink to its directory (the root link followed, nothing below)",
    slug: "via-link",
    flags: [],
    srcViaLink: true,
    build(root) {
      writeFileSync(join(root, "a.txt"), "a\n");
      fillFiles(join(root, "sub"), 2);
      symlinkSync("sub", join(root, "link-to-sub"));
    },
  },
  {
    name: "a 0-byte file",
    slug: "empty-file",
    flags: [],
    build(root) {
      writeFileSync(join(root, "zero"), "");
      setMtime(join(root, "zero"), "2003-01-01 00:00:00.5");
    },
  },
  {
    name: "names that are not valid UTF-8",
    slug: "non-utf8",
    flags: [],
    build(root) {
      writeFileSync(bytePath(root, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74])), "latin-1 name\n"); // "caf\xe9.txt"
      mkdirSync(bytePath(root, Buffer.from([0x64, 0xff, 0xfe])));
      writeFileSync(bytePath(root, Buffer.from([0x64, 0xff, 0xfe]), Buffer.from([0x80, 0x81])), "in a non-UTF-8 directory\n");
      symlinkSync(Buffer.from([0x74, 0x6f, 0xe9]), bytePath(root, Buffer.from([0x6c, 0xe9])));
    },
  },
  {
    name: "names with a newline and a tab",
    slug: "newline-tab",
    flags: [],
    build(root) {
      writeFileSync(join(root, "new\nline.txt"), "newline\n");
      writeFileSync(join(root, "tab\tname.txt"), "tab\n");
      fillFiles(join(root, "dir\twith\ttabs\nand newline"), 2);
    },
  },
  {
    name: "type swaps against an existing DST (file/dir/symlink trade places)",
    slug: "type-swaps",
    flags: [],
    mirrorOnly: true,
    build(root) {
      writeFileSync(join(root, "file-over-dir"), "now a file\n");
      fillFiles(join(root, "dir-over-file"), 3);
      symlinkSync("file-over-dir", join(root, "link-over-dir"));
      fillFiles(join(root, "dir-over-link"), 2);
      writeFileSync(join(root, "file-over-link"), "now a file\n");
      symlinkSync("file-over-dir", join(root, "link-over-file"));
    },
    prepareDst(root) {
      mkdirSync(root, { recursive: true });
      fillFiles(join(root, "file-over-dir"), 50);
      writeFileSync(join(root, "dir-over-file"), "was a file\n");
      fillFiles(join(root, "link-over-dir"), 3);
      symlinkSync("/tmp", join(root, "dir-over-link"));
      symlinkSync("dir-over-file", join(root, "file-over-link"));
      writeFileSync(join(root, "link-over-file"), "was a file\n");
    },
  },
  {
    name: "a sparse file (50 MiB, 3 small data extents) stays sparse",
    slug: "sparse",
    flags: [],
    build(root) {
      const p = join(root, "sparse.img");
      sh("truncate", ["-s", `${50 * MiB}`, p]);
      for (const mib of [0, 20, 49]) sh("dd", ["if=/dev/urandom", `of=${p}`, "bs=4096", "count=2", `seek=${(mib * MiB) / 4096}`, "conv=notrunc", "status=none"]);
    },
    check(ref, got) {
      // rsync -S writes holes; a copy may differ in block rounding, not in filling the holes.
      const r = blocksUnder(ref);
      const g = blocksUnder(got);
      return g > 2 * r + 64 ? [`sparse.img: ${g} blocks allocated, rsync -S needs ${r}`] : [];
    },
  },
  {
    name: "hard links stay linked (-H)",
    slug: "hard-links",
    flags: ["-H"],
    build(root) {
      writeFileSync(join(root, "one"), "linked three times\n");
      mkdirSync(join(root, "sub"));
      linkSync(join(root, "one"), join(root, "two"));
      linkSync(join(root, "one"), join(root, "sub/three"));
      writeFileSync(join(root, "pair-a"), "linked twice\n");
      linkSync(join(root, "pair-a"), join(root, "pair-b"));
    },
  },
  {
    name: "owners and groups other than root's (nobody, and ids with no name)",
    slug: "owners",
    flags: [],
    needsRoot: true,
    build(root) {
      writeFileSync(join(root, "nobodys"), "owned by nobody\n");
      fillFiles(join(root, "nobodys-dir"), 2);
      writeFileSync(join(root, "numeric"), "owned by 12345:54321\n");
      symlinkSync("nobodys", join(root, "nobodys-link"));
      sh("chown", ["-R", "-h", "nobody:nogroup", join(root, "nobodys"), join(root, "nobodys-dir"), join(root, "nobodys-link")]);
      sh("chown", ["12345:54321", join(root, "numeric")]);
    },
  },
  {
    name: "user.* extended attributes (-X)",
    slug: "xattrs",
    flags: ["-X"],
    build(root) {
      writeFileSync(join(root, "tagged"), "has xattrs\n");
      mkdirSync(join(root, "tagged-dir"));
      sh("setfattr", ["-n", "user.color", "-v", "blue", join(root, "tagged")]);
      sh("setfattr", ["-n", "user.binary", "-v", "0x00ff10", join(root, "tagged")]);
      sh("setfattr", ["-n", "user.dir", "-v", "yes", join(root, "tagged-dir")]);
    },
  },
  {
    name: "POSIX ACLs, access and default (-A)",
    slug: "acls",
    flags: ["-A"],
    build(root) {
      writeFileSync(join(root, "shared"), "nobody may write\n");
      mkdirSync(join(root, "inherit"));
      sh("setfacl", ["-m", "u:nobody:rw,g:nogroup:r", join(root, "shared")]);
      sh("setfacl", ["-m", "u:nobody:rwx", join(root, "inherit")]);
      sh("setfacl", ["-d", "-m", "u:nobody:rx", join(root, "inherit")]);
    },
  },
  {
    name: "a FIFO (--specials)",
    slug: "fifo",
    flags: ["--specials"],
    build(root) {
      sh("mkfifo", ["-m", "0640", join(root, "pipe")]);
    },
  },
  {
    name: "a device node (--devices, as root)",
    slug: "device",
    flags: ["--devices"],
    needsRoot: true,
    build(root) {
      sh("mknod", ["-m", "0600", join(root, "null-like"), "c", "1", "3"]);
    },
  },
  {
    name: "a deep path near PATH_MAX",
    slug: "deep",
    flags: [],
    build(root) {
      // The longest absolute path in any DST stays just under PATH_MAX.
      let rel = "";
      const budget = PATH_MAX - 1 - ROOT_SLACK - root.length - "/leaf.txt".length;
      for (let i = 0; rel.length + 201 <= budget; i++) rel += `/${String(i).padStart(3, "0")}${"d".repeat(197)}`;
      mkdirSync(join(root, rel), { recursive: true });
      writeFileSync(join(root, rel, "leaf.txt"), "deep\n");
    },
  },
];

/** Every feature (of this list) in one tree, each in its own subdirectory named by its slug. */
export function buildAwkwardTree(root: string, features: Feature[] = FEATURES): void {
  for (const f of features) {
    mkdirSync(join(root, f.slug), { recursive: true });
    f.build(join(root, f.slug));
  }
}

/** The DST that the features of the list expect to exist before a run. */
export function prepareAwkwardDst(root: string, features: Feature[] = FEATURES): void {
  mkdirSync(root, { recursive: true });
  for (const f of features) f.prepareDst?.(join(root, f.slug));
}

/** Allocated 512-byte blocks of every regular file below root (nothing followed). */
function blocksUnder(root: string): number {
  const out = spawnSync("find", [root, "-type", "f", "-printf", "%b\n"], { encoding: "utf8" });
  return out.stdout.split("\n").filter(Boolean).reduce((s, b) => s + Number(b), 0);
}
