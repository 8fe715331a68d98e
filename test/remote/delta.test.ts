// Delta transfer (#15) end to end: a real blitd, the real CLI. A changed file the receiver has an
// older version of travels as the blocks that differ (push and pull, TCP and gRPC, plain and TLS),
// the result is exact and lands in a new inode; the defaults (off on loopback unless --bwlimit),
// --whole-file and --no-whole-file. Attacks: a symlink or a FIFO planted at the destination's
// name or at its partial name, and a hostile sender or receiver breaking the protocol (KEEP and
// DATA out of turn, HOLE in a delta file, lying SIGS), driven on TreeReceiver and SigStore directly.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import {
  chmodSync, closeSync, existsSync, fstatSync, ftruncateSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync,
  statSync, symlinkSync, truncateSync, utimesSync, writeFileSync, writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import {
  partialName, planTrees, SigStore, T_FILE, TreeReceiver, walkTree, type Plan, type Tree,
} from "../../engine/index.ts";
import { openRooted, type RootedDir } from "../../ffi/index.ts";
import {
  decodeManifest, encodeFrame, F_BASIS, F_DATA, F_HELLO, F_NEED, F_NEED_END, F_SIGS, fileFrame, FrameDecoder, FrameError, HEADER_BYTES,
  holeFrame, keepFrame, readSigs, sigsFrame, SIG_BYTES, u32List, type SigsHeader,
} from "../../proto/index.ts";
import { holesUnsupported, writeSparse } from "../helpers/index.ts";
import { blit, cleanup, diffR, moduleToml, rawClient, rpc, spawnBlit, startBlitd, tempDir, type Daemon, temps } from "./helpers.ts";

const OPENSSL = Bun.which("openssl");
const SETPRIV = Bun.which("setpriv");
const MKFIFO = Bun.which("mkfifo");
if (!OPENSSL) console.warn("delta.test.ts: TLS cases skipped: openssl is not installed (apt-get install openssl)");

/** mtime of every "older version" on the receiving side. */
const OLD = 1_600_000_000;
const MiB = 1 << 20;
/** 8 MiB and a partial last block. */
const SIZE = 8 * MiB + 1234;

let work: string;
let mod: string;
let home: string;
let d: Daemon;
let tlsD: Daemon | undefined;
let ca = "";

function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(n, o + 65536)));
  return b;
}

/** A copy of `old` with 4 KiB of new random bytes at each offset (cut at the end). */
function edited(old: Uint8Array, offsets: number[], len = 4096): Buffer {
  const b = Buffer.from(old);
  for (const o of offsets) crypto.getRandomValues(b.subarray(o, Math.min(b.length, o + len)));
  return b;
}

/** Four scattered 4 KiB edits, the last in the file's final partial block. */
const scattered = (size: number) => [5000, 2 * MiB + 100, 5 * MiB, size - 700];

function writeOld(path: string, bytes: Uint8Array): void {
  writeFileSync(path, bytes);
  utimesSync(path, OLD, OLD);
}

function json(out: string) {
  return JSON.parse(out.trim().split("\n").pop()!);
}

function same(path: string, want: Uint8Array): boolean {
  return Buffer.from(want).equals(readFileSync(path));
}

const url = () => `blit://127.0.0.1:${d.port}/data`;
const env = () => ({ BLIT_HOME: home });

type Via = "tcp" | "grpc" | "tls" | "tls+grpc";
const VIAS: Via[] = ["tcp", "grpc", "tls", "tls+grpc"];

function viaArgs(via: Via): { base: string; args: string[] } {
  const tls = via.startsWith("tls");
  return {
    base: tls ? `blits://127.0.0.1:${tlsD!.port}/data` : url(),
    args: [...(via.endsWith("grpc") ? ["--force-grpc"] : []), ...(tls ? ["--tls-ca", ca] : [])],
  };
}

function openssl(args: string[], cwd: string): void {
  const r = Bun.spawnSync([OPENSSL!, ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
}

/** A CA and a certificate it signs for 127.0.0.1 (P-256), at test time. */
function makePki(dir: string): { ca: string; cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=delta-ca"], dir);
  openssl(["req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=leaf"], dir);
  writeFileSync(join(dir, "leaf.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  openssl(["x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.crt", "-days", "2", "-extfile", "leaf.ext"], dir);
  return { ca: join(dir, "ca.crt"), cert: join(dir, "leaf.crt"), key: join(dir, "leaf.key") };
}

let mods = "";
let tlsToml = "";

beforeAll(async () => {
  work = tempDir("delta-");
  mod = join(work, "module");
  home = join(work, "home");
  mkdirSync(mod);
  mkdirSync(home);
  // the attack cases play another user (nobody) who may write in some of the module's directories
  chmodSync(work, 0o755);
  chmodSync(mod, 0o755);
  mods = moduleToml({ data: { path: mod, readOnly: false } });
  d = await startBlitd(work, mods);
  if (OPENSSL) {
    const pki = makePki(join(work, "pki"));
    ca = pki.ca;
    tlsToml = `tls_cert_file = ${JSON.stringify(pki.cert)}\ntls_key_file = ${JSON.stringify(pki.key)}\n${mods}`;
    tlsD = await startBlitd(work, tlsToml);
  }
});

// bun test (1.4) may kill every process a file started, beforeAll's daemons included, when a
// timer of an earlier test fires late ("killed N dangling processes"; oven-sh/bun#38774): the
// shared daemons are started again before the next test rather than failing every test after.
beforeEach(async () => {
  if (!d.alive()) d = await startBlitd(work, mods);
  if (tlsD && !tlsD.alive()) tlsD = await startBlitd(work, tlsToml);
});

afterAll(async () => {
  try {
    await d?.stop();
    await tlsD?.stop();
  } finally {
    cleanup(work);
  }
});

/** A fresh case directory: `src` (local) and `dst` (in the module, named `name`). */
function scene(name: string): { src: string; dst: string } {
  const src = join(work, `src-${name}`);
  const dst = join(mod, name);
  mkdirSync(src, { recursive: true });
  mkdirSync(dst, { recursive: true });
  return { src, dst };
}

/** Pushes src's contents to the module's `name`; returns the exit code, the report and stderr. */
async function push(src: string, name: string, extra: string[] = [], via: Via = "tcp") {
  const v = viaArgs(via);
  const r = await blit(["push", src, `${v.base}/${name}`, "--json", ...v.args, ...extra], env());
  if (r.code !== 0) console.error(r.stderr);
  return { code: r.code, rep: r.code === 0 || r.stdout.trim() ? json(r.stdout) : undefined, stderr: r.stderr };
}

async function pull(name: string, dst: string, extra: string[] = [], via: Via = "tcp") {
  const v = viaArgs(via);
  const r = await blit(["pull", `${v.base}/${name}`, dst, "--json", ...v.args, ...extra], env());
  if (r.code !== 0) console.error(r.stderr);
  return { code: r.code, rep: r.code === 0 || r.stdout.trim() ? json(r.stdout) : undefined, stderr: r.stderr };
}

/** What a few scattered block edits may cost at most: under 5% of the file as DATA, under 10% on the wire. */
function expectSmallDelta(rep: any, size: number, wire: "dataBytesOut" | "dataBytesIn"): void {
  expect(rep.transport.delta.files).toBe(1);
  expect(rep.transport.delta.literalBytes).toBeGreaterThan(0);
  expect(rep.transport.delta.literalBytes).toBeLessThan(size * 0.05);
  expect(rep.transport.delta.matchedBytes).toBeGreaterThan(size * 0.9);
  expect(rep.transport[wire]).toBeLessThan(size * 0.1);
}

describe("a changed file travels as the blocks that differ", () => {
  for (const via of VIAS) {
    test.skipIf(via.startsWith("tls") && !OPENSSL)(`push --no-whole-file over ${via}`, async () => {
      const name = `push-${via.replace("+", "-")}`;
      const { src, dst } = scene(name);
      const old = randomBytes(SIZE);
      writeOld(join(dst, "big.bin"), old);
      const neu = edited(old, scattered(SIZE));
      writeFileSync(join(src, "big.bin"), neu);
      const { code, rep } = await push(src, name, ["--no-whole-file"], via);
      expect(code).toBe(0);
      expect(same(join(dst, "big.bin"), neu)).toBe(true);
      expect(rep.transport).toMatchObject({ kind: via.endsWith("grpc") ? "grpc" : "tcp", tls: via.startsWith("tls") });
      expectSmallDelta(rep, SIZE, "dataBytesOut");
      expect(temps(dst)).toEqual([]);
    });

    test.skipIf(via.startsWith("tls") && !OPENSSL)(`pull --no-whole-file over ${via}`, async () => {
      const name = `pull-${via.replace("+", "-")}`;
      const { src: local, dst: remote } = scene(name);
      const old = randomBytes(SIZE);
      writeOld(join(local, "big.bin"), old);
      const neu = edited(old, scattered(SIZE));
      writeFileSync(join(remote, "big.bin"), neu);
      const { code, rep } = await pull(name, local, ["--no-whole-file"], via);
      expect(code).toBe(0);
      expect(same(join(local, "big.bin"), neu)).toBe(true);
      expect(rep.transport).toMatchObject({ kind: via.endsWith("grpc") ? "grpc" : "tcp", tls: via.startsWith("tls") });
      expectSmallDelta(rep, SIZE, "dataBytesIn");
      expect(temps(local)).toEqual([]);
    });
  }
});

describe("shapes of change", () => {
  test("a file grown by an appended tail: the old part is kept, the tail sent", async () => {
    const { src, dst } = scene("grown");
    const old = randomBytes(6 * MiB);
    writeOld(join(dst, "big.bin"), old);
    const tail = MiB + 777;
    const neu = Buffer.concat([edited(old, [3 * MiB]), randomBytes(tail)]);
    writeFileSync(join(src, "big.bin"), neu);
    const { code, rep } = await push(src, "grown", ["--no-whole-file"]);
    expect(code).toBe(0);
    expect(same(join(dst, "big.bin"), neu)).toBe(true);
    expect(rep.transport.delta.files).toBe(1);
    expect(rep.transport.delta.literalBytes).toBeGreaterThanOrEqual(tail);
    expect(rep.transport.delta.literalBytes).toBeLessThan(tail + 64 * 1024);
    expect(rep.transport.delta.matchedBytes).toBe(neu.length - rep.transport.delta.literalBytes);
  });

  test("a file truncated: the result is cut to the new size", async () => {
    const { src, dst } = scene("shrunk");
    const old = randomBytes(9 * MiB);
    writeOld(join(dst, "big.bin"), old);
    const neu = edited(old.subarray(0, 5 * MiB + 333), [MiB]);
    writeFileSync(join(src, "big.bin"), neu);
    const { code, rep } = await push(src, "shrunk", ["--no-whole-file"]);
    expect(code).toBe(0);
    expect(statSync(join(dst, "big.bin")).size).toBe(neu.length);
    expect(same(join(dst, "big.bin"), neu)).toBe(true);
    expectSmallDelta(rep, neu.length, "dataBytesOut");
  });

  test("an edit in the last partial block only: one block sent", async () => {
    const { src, dst } = scene("lastblock");
    const old = randomBytes(SIZE);
    writeOld(join(dst, "big.bin"), old);
    const neu = Buffer.from(old);
    neu[neu.length - 1] ^= 0xff;
    writeFileSync(join(src, "big.bin"), neu);
    const { code, rep } = await push(src, "lastblock", ["--no-whole-file"]);
    expect(code).toBe(0);
    expect(same(join(dst, "big.bin"), neu)).toBe(true);
    expect(rep.transport.delta.files).toBe(1);
    // the last block is 1234 bytes (8 MiB is a whole number of blocks)
    expect(rep.transport.delta.literalBytes).toBe(1234);
  });

  test("a single-file push to a file name uses the old file as its basis", async () => {
    const { src, dst } = scene("single");
    const old = randomBytes(4 * MiB);
    writeOld(join(dst, "one.bin"), old);
    const neu = edited(old, [100, 3 * MiB]);
    writeFileSync(join(src, "one.bin"), neu);
    const r = await blit(["push", join(src, "one.bin"), `${url()}/single/one.bin`, "--json", "--no-whole-file"], env());
    expect(r.code).toBe(0);
    expect(same(join(dst, "one.bin"), neu)).toBe(true);
    expectSmallDelta(json(r.stdout), neu.length, "dataBytesOut");
  });

  /** Old versions in `old`, new ones in `neu`: two large files with bases, a new large one, small ones changed and new. */
  function mixedTree(old: string, neu: string): Record<string, Buffer> {
    mkdirSync(join(old, "sub/deep"), { recursive: true });
    mkdirSync(join(neu, "sub/deep"), { recursive: true });
    const a = randomBytes(4 * MiB);
    const b = randomBytes(5 * MiB + 99);
    const small = randomBytes(200 << 10);
    writeOld(join(old, "a.bin"), a);
    writeOld(join(old, "sub/deep/b.bin"), b);
    writeOld(join(old, "sub/small.dat"), small);
    writeOld(join(old, "same.txt"), Buffer.from("unchanged\n"));
    const want: Record<string, Buffer> = {
      "a.bin": edited(a, [MiB, 3 * MiB + 5]),
      "sub/deep/b.bin": edited(b, [0, 5 * MiB]),
      "sub/small.dat": edited(small, [1000]),
      "new.bin": randomBytes(3 * MiB),
      "sub/new-small.txt": randomBytes(1000),
      "same.txt": Buffer.from("unchanged\n"),
    };
    for (const [rel, bytes] of Object.entries(want)) writeFileSync(join(neu, rel), bytes);
    utimesSync(join(neu, "same.txt"), OLD, OLD);
    return want;
  }

  test("push of a tree: files with bases travel as deltas, new and small ones whole", async () => {
    const { src, dst } = scene("tree-push");
    const want = mixedTree(dst, src);
    const { code, rep } = await push(src, "tree-push", ["--no-whole-file"]);
    expect(code).toBe(0);
    expect((await diffR(src, dst)).same).toBe(true);
    for (const [rel, bytes] of Object.entries(want)) expect(same(join(dst, rel), bytes)).toBe(true);
    expect(rep.transport.delta.files).toBe(2);
    // the new 3 MiB file travels whole, the two deltas send little
    expect(rep.transport.delta.literalBytes).toBeLessThan(256 << 10);
    expect(rep.transport.dataBytesOut).toBeGreaterThan(3 * MiB);
    expect(rep.transport.dataBytesOut).toBeLessThan(3 * MiB + (1 << 20));
    expect(temps(dst)).toEqual([]);
  });

  test("pull of a tree: the same, the client signing its bases", async () => {
    const { src: local, dst: remote } = scene("tree-pull");
    const want = mixedTree(local, remote);
    const { code, rep } = await pull("tree-pull", local, ["--no-whole-file"]);
    expect(code).toBe(0);
    expect((await diffR(remote, local)).same).toBe(true);
    for (const [rel, bytes] of Object.entries(want)) expect(same(join(local, rel), bytes)).toBe(true);
    expect(rep.transport.delta.files).toBe(2);
    expect(rep.transport.dataBytesIn).toBeLessThan(3 * MiB + (1 << 20));
    expect(temps(local)).toEqual([]);
  });

  test("pull --mirror with deltas: exact tree, extraneous local entries deleted", async () => {
    const { src: local, dst: remote } = scene("mirror-pull");
    mixedTree(local, remote);
    writeOld(join(local, "extra.bin"), randomBytes(300 << 10));
    const { code, rep } = await pull("mirror-pull", local, ["--mirror", "--no-whole-file"]);
    expect(code).toBe(0);
    expect((await diffR(remote, local)).same).toBe(true);
    expect(rep.transport.delta.files).toBe(2);
    expect(rep.counts.deleted).toBe(1);
    expect(temps(local)).toEqual([]);
  });

  test("a single-file pull onto the old file uses it as its basis", async () => {
    const { src: local, dst: remote } = scene("single-pull");
    const old = randomBytes(4 * MiB);
    writeOld(join(local, "one.bin"), old);
    const neu = edited(old, [7, 2 * MiB]);
    writeFileSync(join(remote, "one.bin"), neu);
    const { code, rep } = await pull("single-pull/one.bin", join(local, "one.bin"), ["--no-whole-file"]);
    expect(code).toBe(0);
    expect(same(join(local, "one.bin"), neu)).toBe(true);
    expectSmallDelta(rep, neu.length, "dataBytesIn");
  });

  test("a fully rewritten file: every block sent, the result exact", async () => {
    const { src, dst } = scene("rewritten");
    writeOld(join(dst, "big.bin"), randomBytes(5 * MiB));
    const neu = randomBytes(5 * MiB);
    writeFileSync(join(src, "big.bin"), neu);
    const { code, rep } = await push(src, "rewritten", ["--no-whole-file"]);
    expect(code).toBe(0);
    expect(same(join(dst, "big.bin"), neu)).toBe(true);
    expect(rep.transport.delta).toMatchObject({ files: 1, matchedBytes: 0, literalBytes: neu.length });
  });

  test("push --mirror with deltas: exact tree, extraneous entries deleted", async () => {
    const { src, dst } = scene("mirror");
    mixedTree(dst, src);
    writeOld(join(dst, "extra.bin"), randomBytes(300 << 10));
    mkdirSync(join(dst, "gone/sub"), { recursive: true });
    writeFileSync(join(dst, "gone/sub/f"), "x");
    const { code, rep } = await push(src, "mirror", ["--mirror", "--no-whole-file"]);
    expect(code).toBe(0);
    expect((await diffR(src, dst)).same).toBe(true);
    expect(rep.transport.delta.files).toBe(2);
    expect(rep.counts.deleted).toBeGreaterThanOrEqual(2);
  });
});

describe("when delta is used", () => {
  async function changed(name: string) {
    const { src, dst } = scene(name);
    const old = randomBytes(4 * MiB);
    writeOld(join(dst, "big.bin"), old);
    const neu = edited(old, [2 * MiB]);
    writeFileSync(join(src, "big.bin"), neu);
    return { src, dst, neu };
  }

  test("to 127.0.0.1 without --bwlimit the file travels whole (no transport.delta)", async () => {
    const { src, dst, neu } = await changed("default-loop");
    const { code, rep } = await push(src, "default-loop");
    expect(code).toBe(0);
    expect(same(join(dst, "big.bin"), neu)).toBe(true);
    expect(rep.transport.delta).toBeUndefined();
    expect(rep.transport.dataBytesOut).toBeGreaterThanOrEqual(neu.length);
  });

  test("pull from 127.0.0.1 without --bwlimit: whole as well", async () => {
    const { src: local, dst: remote } = scene("default-pull");
    const old = randomBytes(4 * MiB);
    writeOld(join(local, "big.bin"), old);
    const neu = edited(old, [MiB]);
    writeFileSync(join(remote, "big.bin"), neu);
    const { code, rep } = await pull("default-pull", local);
    expect(code).toBe(0);
    expect(same(join(local, "big.bin"), neu)).toBe(true);
    expect(rep.transport.delta).toBeUndefined();
    expect(rep.transport.dataBytesIn).toBeGreaterThanOrEqual(neu.length);
  });

  test("with --bwlimit 1G delta is used on loopback", async () => {
    const { src, dst, neu } = await changed("bwlimit");
    const { code, rep } = await push(src, "bwlimit", ["--bwlimit", "1G"]);
    expect(code).toBe(0);
    expect(same(join(dst, "big.bin"), neu)).toBe(true);
    expectSmallDelta(rep, neu.length, "dataBytesOut");
  });

  test("--whole-file (and -W) turns it off, --bwlimit or not", async () => {
    const { src, dst, neu } = await changed("whole");
    const { code, rep } = await push(src, "whole", ["--bwlimit", "1G", "--whole-file"]);
    expect(code).toBe(0);
    expect(same(join(dst, "big.bin"), neu)).toBe(true);
    expect(rep.transport.delta).toBeUndefined();
    expect(rep.transport.dataBytesOut).toBeGreaterThanOrEqual(neu.length);
    const local = join(work, "whole-pull");
    mkdirSync(local);
    writeOld(join(local, "big.bin"), Buffer.from(neu.subarray(0, 3 * MiB)));
    const p = await pull("whole", local, ["--bwlimit", "1G", "-W"]);
    expect(p.code).toBe(0);
    expect(same(join(local, "big.bin"), neu)).toBe(true);
    expect(p.rep.transport.delta).toBeUndefined();
    expect(p.rep.transport.dataBytesIn).toBeGreaterThanOrEqual(neu.length);
  });

  test("--dry-run with delta changes nothing and leaves no temporary (push and pull)", async () => {
    const { src, dst, neu } = await changed("dry");
    const before = readFileSync(join(dst, "big.bin"));
    const p = await push(src, "dry", ["--dry-run", "--no-whole-file"]);
    expect(p.code).toBe(0);
    expect(readFileSync(join(dst, "big.bin")).equals(before)).toBe(true);
    expect(temps(dst)).toEqual([]);
    const local = join(work, "dry-pull");
    mkdirSync(local);
    writeOld(join(local, "big.bin"), neu.subarray(0, 3 * MiB));
    const q = await pull("dry", local, ["--dry-run", "--no-whole-file"]);
    expect(q.code).toBe(0);
    expect(same(join(local, "big.bin"), neu.subarray(0, 3 * MiB))).toBe(true);
    expect(temps(local)).toEqual([]);
  });

  test("--whole-file with --no-whole-file is a usage error naming both; nothing is sent", async () => {
    const { src, dst } = await changed("both");
    const before = readFileSync(join(dst, "big.bin"));
    for (const cmd of [["push", src, `${url()}/both`], ["pull", `${url()}/both`, join(work, "both-pull")]]) {
      const r = await blit([...cmd, "--whole-file", "--no-whole-file"], env());
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("--whole-file");
      expect(r.stderr).toContain("--no-whole-file");
      expect(r.stderr).not.toMatch(/\n\s+at /); // one line, no stack
    }
    expect(readFileSync(join(dst, "big.bin")).equals(before)).toBe(true);
    expect(existsSync(join(work, "both-pull"))).toBe(false);
  });
});

describe("no half-updated file", () => {
  test("a delta push writes a new inode: an fd and a hard link on the old file still read the old content in full", async () => {
    const { src, dst } = scene("inode");
    const old = randomBytes(SIZE);
    const target = join(dst, "big.bin");
    writeOld(target, old);
    linkSync(target, join(work, "inode-old-link"));
    const ino = statSync(target).ino;
    const fd = openSync(target, "r");
    try {
      const neu = edited(old, scattered(SIZE));
      writeFileSync(join(src, "big.bin"), neu);
      const { code, rep } = await push(src, "inode", ["--no-whole-file"]);
      expect(code).toBe(0);
      expect(rep.transport.delta.files).toBe(1);
      expect(statSync(target).ino).not.toBe(ino);
      expect(same(target, neu)).toBe(true);
      // the reader's file is untouched: its size and every byte
      expect(fstatSync(fd).size).toBe(old.length);
      const back = Buffer.alloc(old.length);
      for (let at = 0; at < back.length; ) {
        const n = readSync(fd, back, at, back.length - at, at);
        if (n === 0) break;
        at += n;
      }
      expect(back.equals(old)).toBe(true);
      expect(same(join(work, "inode-old-link"), old)).toBe(true);
    } finally {
      closeSync(fd);
      rmSync(join(work, "inode-old-link"), { force: true });
    }
  });
});

const MKFS_XFS = Bun.which("mkfs.xfs");
if (!MKFS_XFS) console.warn("delta.test.ts: the reflink case is skipped: mkfs.xfs is not installed (apt-get install xfsprogs)");

/** Blocks of the filesystem at `dir` in use, in bytes (df). */
function usedBytes(dir: string): number {
  const out = Bun.spawnSync(["df", "-B1", "--output=used", dir]).stdout.toString().trim().split("\n").pop()!;
  return Number(out.trim());
}

describe("on a filesystem with reflinks", () => {
  test.skipIf(!MKFS_XFS)("the new file is a clone of the old one with only the changed blocks written: exact, and it shares the rest with the old inode", async () => {
    const t = tempDir("delta-xfs");
    const img = join(t, "xfs.img");
    const mnt = join(t, "mnt");
    mkdirSync(mnt);
    const fd = openSync(img, "w");
    ftruncateSync(fd, 400 * MiB);
    closeSync(fd);
    const mkfs = Bun.spawnSync(["mkfs.xfs", "-q", "-m", "reflink=1", img]);
    if (mkfs.exitCode !== 0) throw new Error(`mkfs.xfs -m reflink=1 failed: ${mkfs.stderr.toString()}`);
    const mount = Bun.spawnSync(["mount", "-o", "loop", img, mnt]);
    if (mount.exitCode !== 0) throw new Error(`loop mount of an XFS image failed: ${mount.stderr.toString()}`);
    let xd: Daemon | undefined;
    try {
      const m = join(mnt, "m");
      const src = join(t, "src");
      mkdirSync(m);
      mkdirSync(src);
      xd = await startBlitd(t, moduleToml({ x: { path: m, readOnly: false } }));
      const size = 64 * MiB;
      const old = randomBytes(size);
      writeOld(join(m, "disk.img"), old);
      await Bun.spawn(["sync"]).exited; // not spawnSync: the event loop keeps its timers
      // A hard link keeps the old inode: the new one should share all but the edited blocks with it.
      linkSync(join(m, "disk.img"), join(m, "old-link"));
      const neu = edited(old, [100, 20 * MiB, 40 * MiB + 3, size - 4096]);
      writeFileSync(join(src, "disk.img"), neu);
      const before = usedBytes(mnt);
      const r = await blit(["push", join(src, "disk.img"), `blit://127.0.0.1:${xd.port}/x/`, "--no-whole-file", "--json"], { BLIT_HOME: join(t, "home") });
      expect(r.code).toBe(0);
      const rep = json(r.stdout);
      expect(rep.transport.delta.files).toBe(1);
      expect(rep.transport.delta.literalBytes).toBeLessThan(MiB);
      expect(same(join(m, "disk.img"), neu)).toBe(true);
      expect(same(join(m, "old-link"), old)).toBe(true);
      await Bun.spawn(["sync"]).exited; // not spawnSync: the event loop keeps its timers
      // A copy would have taken another 64 MiB; the clone takes the changed blocks only.
      expect(usedBytes(mnt) - before).toBeLessThan(8 * MiB);
      expect(temps(m)).toEqual([]);
    } finally {
      await xd?.stop();
      const u = Bun.spawnSync(["umount", mnt]);
      if (u.exitCode !== 0) Bun.spawnSync(["umount", "-l", mnt]);
      rmSync(t, { recursive: true, force: true });
    }
  });
});

describe("--checksum with delta", () => {
  test("same size, content changed: exact (the file is compared by hash, then sent)", async () => {
    const { src, dst } = scene("sum-same");
    const old = randomBytes(4 * MiB);
    writeOld(join(dst, "big.bin"), old);
    const neu = edited(old, [MiB]);
    writeFileSync(join(src, "big.bin"), neu);
    utimesSync(join(src, "big.bin"), OLD, OLD); // same size and mtime: only --checksum sees it
    const { code } = await push(src, "sum-same", ["--checksum", "--no-whole-file"]);
    expect(code).toBe(0);
    expect(same(join(dst, "big.bin"), neu)).toBe(true);
  });

  test("size changed: a delta whose whole-file hash is checked, push and pull", async () => {
    const { src, dst } = scene("sum-delta");
    const old = randomBytes(4 * MiB);
    writeOld(join(dst, "big.bin"), old);
    const neu = Buffer.concat([edited(old, [MiB, 3 * MiB]), randomBytes(5000)]);
    writeFileSync(join(src, "big.bin"), neu);
    const { code, rep } = await push(src, "sum-delta", ["--checksum", "--no-whole-file"]);
    expect(code).toBe(0);
    expect(same(join(dst, "big.bin"), neu)).toBe(true);
    expect(rep.transport.delta.files).toBe(1);
    const local = join(work, "sum-delta-pull");
    mkdirSync(local);
    writeOld(join(local, "big.bin"), old);
    const p = await pull("sum-delta", local, ["--checksum", "--no-whole-file"]);
    expect(p.code).toBe(0);
    expect(same(join(local, "big.bin"), neu)).toBe(true);
    expect(p.rep.transport.delta.files).toBe(1);
  });
});

describe("sparse files stay sparse", () => {
  const why = holesUnsupported(tmpdir());
  if (why) console.warn(`delta.test.ts: sparse cases skipped: ${why}`);
  const allocated = (p: string) => statSync(p).blocks * 512;

  /** A 256 MiB image with 2 MiB of data (old and new differ in one data block), and with `grow` a new version longer by a hole and 1 MiB of data. */
  function images(oldPath: string, newPath: string, grow: boolean): void {
    const extents = [{ offset: 0, bytes: MiB }, { offset: 100 * MiB, bytes: MiB }];
    writeSparse(oldPath, 256 * MiB, extents);
    utimesSync(oldPath, OLD, OLD);
    const fd = openSync(newPath, "w");
    try {
      // the old image with one 4 KiB edit, its holes kept
      const before = readFileSync(oldPath);
      for (const e of extents) writeSync(fd, before, e.offset, e.bytes, e.offset);
      writeSync(fd, randomBytes(4096), 0, 4096, 100 * MiB + 8192);
      if (grow) writeSync(fd, randomBytes(MiB), 0, MiB, 511 * MiB);
      ftruncateSync(fd, grow ? 512 * MiB : 256 * MiB);
    } finally {
      closeSync(fd);
    }
  }

  for (const grow of [false, true]) {
    test.skipIf(!!why)(`a delta against a sparse old version keeps the result sparse (push and pull${grow ? ", grown by a hole" : ""})`, async () => {
      const name = `sparse-${grow}`;
      const { src, dst } = scene(name);
      images(join(dst, "img"), join(src, "img"), grow);
      const { code, rep } = await push(src, name, ["--no-whole-file"]);
      expect(code).toBe(0);
      expect(rep.transport.delta.files).toBe(1);
      expect(readFileSync(join(dst, "img")).equals(readFileSync(join(src, "img")))).toBe(true);
      expect(allocated(join(dst, "img"))).toBeLessThan(16 * MiB);
      const local = join(work, `${name}-pull`);
      mkdirSync(local);
      images(join(local, "img"), join(work, `${name}-unused`), false);
      const p = await pull(name, local, ["--no-whole-file"]);
      expect(p.code).toBe(0);
      expect(p.rep.transport.delta.files).toBe(1);
      expect(readFileSync(join(local, "img")).equals(readFileSync(join(src, "img")))).toBe(true);
      expect(allocated(join(local, "img"))).toBeLessThan(16 * MiB);
      rmSync(join(work, `${name}-unused`));
    });
  }
});

describe("attacks on the receiving side's files (hostile by default)", () => {
  /** A file outside the module (or another's file inside it) holding what the source will send: read through, it would show as kept bytes. */
  function bait(path: string, bytes: Uint8Array): { intact(): boolean } {
    writeOld(path, bytes);
    return { intact: () => same(path, bytes) && statSync(path).mtimeMs === OLD * 1000 };
  }

  /** Runs `argv` as nobody (the other user of a shared module). */
  function asNobody(argv: string[]): void {
    const r = Bun.spawnSync([SETPRIV!, "--reuid=nobody", "--regid=nogroup", "--clear-groups", ...argv], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`setpriv ${argv.join(" ")}: ${r.stderr.toString()}`);
  }

  test.skipIf(!SETPRIV)("a symlink another user put at the file's name is replaced (mirror), never read through", async () => {
    const { src, dst } = scene("sym-dst");
    chmodSync(dst, 0o777);
    const neu = randomBytes(4 * MiB);
    writeFileSync(join(src, "big.bin"), neu);
    writeFileSync(join(src, "in.bin"), neu);
    const outside = bait(join(work, "outside-dst.bin"), neu);
    mkdirSync(join(mod, "victim"), { recursive: true });
    const inside = bait(join(mod, "victim/secret.bin"), neu);
    asNobody(["ln", "-s", join(work, "outside-dst.bin"), join(dst, "big.bin")]);
    asNobody(["ln", "-s", "../victim/secret.bin", join(dst, "in.bin")]);
    const { code, rep } = await push(src, "sym-dst", ["--mirror", "--no-whole-file"]);
    expect(code).toBe(0);
    for (const n of ["big.bin", "in.bin"]) {
      expect(statSync(join(dst, n)).isFile()).toBe(true);
      expect(same(join(dst, n), neu)).toBe(true);
    }
    expect(rep.transport.delta).toBeUndefined(); // nothing was a basis
    expect(rep.transport.dataBytesOut).toBeGreaterThanOrEqual(2 * neu.length);
    expect(outside.intact()).toBe(true);
    expect(inside.intact()).toBe(true);
  });

  /** Plants `plant(path)` at big.bin's partial name in the module dir `name` (old version of big.bin there or not). */
  async function plantedPartial(name: string, plant: (at: string) => void, withOld: boolean) {
    const { src, dst } = scene(name);
    chmodSync(dst, 0o777);
    const old = randomBytes(4 * MiB);
    const neu = edited(old, [MiB]);
    if (withOld) writeOld(join(dst, "big.bin"), old);
    writeFileSync(join(src, "big.bin"), neu);
    plant(join(dst, partialName("big.bin")));
    return { src, dst, old, neu };
  }

  for (const withOld of [false, true]) {
    test.skipIf(!SETPRIV)(`a symlink at the partial name (outside the module, or to another's file in it) is not followed${withOld ? " (old version there)" : ""}`, async () => {
      for (const [k, target] of [[0, join(work, `outside-partial-${withOld}.bin`)], [1, `../victim/partial-${withOld}.bin`]] as const) {
        const name = `sym-partial-${withOld}-${k}`;
        const s = await plantedPartial(name, (at) => asNobody(["ln", "-s", target, at]), withOld);
        mkdirSync(join(mod, "victim"), { recursive: true });
        const baitFile = bait(k === 0 ? target : join(mod, "victim", `partial-${withOld}.bin`), s.neu);
        const { code, rep } = await push(s.src, name, ["--no-whole-file"]);
        expect(code).toBe(0);
        expect(same(join(s.dst, "big.bin"), s.neu)).toBe(true);
        expect(baitFile.intact()).toBe(true);
        // read through, the bait would have been a basis matching every block
        expect(rep.transport.delta?.resumedBytes ?? 0).toBe(0);
        expect(rep.transport.delta?.matchedBytes ?? 0).toBe(0);
        // (with the old version there too, the planted name still wins the planner's choice and the file travels whole: see the report)
        expect(rep.transport.dataBytesOut).toBeGreaterThanOrEqual(s.neu.length);
        expect(existsSync(join(s.dst, partialName("big.bin")))).toBe(false); // what was planted there is gone
      }
    });
  }

  test("a symlink at the partial name in a pull's destination is not followed", async () => {
    const { src: local, dst: remote } = scene("sym-partial-pull");
    const neu = randomBytes(4 * MiB);
    writeFileSync(join(remote, "big.bin"), neu);
    const outside = bait(join(work, "outside-pull.bin"), neu);
    symlinkSync(join(work, "outside-pull.bin"), join(local, partialName("big.bin")));
    const { code, rep } = await pull("sym-partial-pull", local, ["--no-whole-file"]);
    expect(code).toBe(0);
    expect(same(join(local, "big.bin"), neu)).toBe(true);
    expect(outside.intact()).toBe(true);
    expect(rep.transport.delta?.resumedBytes ?? 0).toBe(0);
    expect(rep.transport.delta?.matchedBytes ?? 0).toBe(0);
    expect(rep.transport.dataBytesIn).toBeGreaterThanOrEqual(neu.length);
  });

  test.skipIf(!MKFIFO || !SETPRIV)("a FIFO at the partial name does not hang the push (tree and single file)", async () => {
    for (const single of [false, true]) {
      const name = `fifo-partial-${single}`;
      const s = await plantedPartial(name, (at) => asNobody([MKFIFO!, at]), true);
      const target = single ? [join(s.src, "big.bin"), `${url()}/${name}/big.bin`] : [s.src, `${url()}/${name}`];
      const t0 = Date.now();
      const child = spawnBlit(["push", ...target, "--json", "--no-whole-file"], env());
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const [code, out] = await Promise.all([child.exited, new Response(child.stdout).text()]);
      clearTimeout(timer);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(code).toBe(0);
      expect(same(join(s.dst, "big.bin"), s.neu)).toBe(true);
      expect(json(out).transport.delta?.resumedBytes ?? 0).toBe(0);
    }
  });
});

describe("a hostile sender against the receiver (TreeReceiver driven frame by frame)", () => {
  interface Rig {
    dir: string;
    dst: string;
    root: RootedDir;
    src: Tree;
    plan: Plan;
    r: TreeReceiver;
    dec: FrameDecoder;
    old: Buffer;
    /** Source indices: big.bin (has a basis), new.bin (none). */
    big: number;
    fresh: number;
    /** SIGS the receiver sent so far. */
    sigs: SigsHeader[];
    /** Holds the signer's next send until release() (null: sends go at once). */
    gate: { release(): void } | null;
    signing?: Promise<void>;
  }

  /** big.bin: `oldSize` bytes at the receiver, `newSize` at the sender; new.bin only at the sender. */
  function rig(oldSize: number, newSize: number): Rig {
    const dir = tempDir("delta-proto-");
    const srcDir = join(dir, "src");
    const dst = join(dir, "dst");
    mkdirSync(srcDir);
    mkdirSync(dst);
    const old = randomBytes(oldSize);
    writeOld(join(dst, "big.bin"), old);
    writeFileSync(join(srcDir, "big.bin"), randomBytes(newSize));
    writeFileSync(join(srcDir, "new.bin"), randomBytes(300 << 10));
    const src = walkTree(srcDir, [], "source");
    const dstTree = walkTree(dst, [], "destination");
    const plan = planTrees(src, dstTree, { mirror: false, checksum: false, sizeOnly: false, ignoreTimes: false, delta: true });
    const big = src.paths.indexOf("big.bin");
    expect(plan.basis.has(big)).toBe(true);
    const root = openRooted(dst);
    const r = new TreeReceiver(root, src, dstTree, plan, { mirror: false, checksum: false, maxDelete: -1, force: false, singleFile: false, writers: null });
    r.prepare();
    return { dir, dst, root, src, plan, r, dec: new FrameDecoder(r), old, big, fresh: src.paths.indexOf("new.bin"), sigs: [], gate: null };
  }

  /** Starts the signer; with `hold`, its first send waits for the test. */
  function sign(x: Rig, hold = false): void {
    let release!: () => void;
    const held = new Promise<void>((res) => (release = res));
    x.gate = hold ? { release } : null;
    x.signing = x.r.sign((f) => {
      expect(f[0]).toBe(F_SIGS);
      x.sigs.push(readSigs(f.subarray(HEADER_BYTES)).h);
      return x.gate ? held : undefined;
    });
  }

  async function until(cond: () => boolean): Promise<void> {
    const end = Date.now() + 10_000;
    while (!cond()) {
      if (Date.now() > end) throw new Error("timed out");
      await Bun.sleep(2);
    }
  }

  /** After the violation: abort() leaves no temporary and the old file as it was. */
  async function ends(x: Rig): Promise<void> {
    try {
      x.r.abort("protocol error");
      x.gate?.release();
      await x.signing;
      expect(temps(x.dst)).toEqual([]);
      expect(same(join(x.dst, "big.bin"), x.old)).toBe(true);
      expect(readdirSync(x.dst)).toEqual(["big.bin"]);
    } finally {
      x.root.close();
      rmSync(x.dir, { recursive: true, force: true });
    }
  }

  const data = (n: number) => encodeFrame(F_DATA, randomBytes(n));

  test("KEEP or DATA for a delta file before its block hashes", async () => {
    for (const bad of [keepFrame(4096), data(4096)]) {
      const x = rig(2 * MiB, 2 * MiB);
      try {
        x.dec.feed(fileFrame(x.big, 2 * MiB));
        expect(() => x.dec.feed(bad)).toThrow(FrameError);
      } finally {
        await ends(x);
      }
    }
  });

  test("KEEP past the end of the basis (once it is built)", async () => {
    const x = rig(512 << 10, 900 << 10);
    try {
      sign(x);
      await until(() => x.sigs.some((h) => h.last));
      expect(x.sigs.at(-1)!.basisBytes).toBe(512 << 10);
      x.dec.feed(fileFrame(x.big, 900 << 10));
      x.dec.feed(keepFrame(512 << 10)); // all of the basis: fine
      expect(() => x.dec.feed(keepFrame(1))).toThrow(/past the end of its basis/);
    } finally {
      await ends(x);
    }
  });

  test("KEEP or DATA past the blocks signed while the basis is still being built", async () => {
    for (const bad of [keepFrame(8192), data(8192)]) {
      const x = rig(10 * MiB, 10 * MiB);
      try {
        sign(x, true); // the signer stops after its first 4 MiB step
        await until(() => x.sigs.length > 0);
        const built = x.sigs[0]!.firstBlock + 0; // first frame: blocks from 0
        expect(built).toBe(0);
        x.dec.feed(fileFrame(x.big, 10 * MiB));
        x.dec.feed(keepFrame(4 * MiB)); // every block signed so far: fine
        expect(() => x.dec.feed(bad)).toThrow(/past the blocks signed so far/);
      } finally {
        await ends(x);
      }
    }
  });

  test("KEEP for a file that has no basis (the signer's temporary is removed too)", async () => {
    const x = rig(2 * MiB, 2 * MiB);
    try {
      sign(x);
      await until(() => x.sigs.some((h) => h.last)); // big.bin's temporary is built and waits
      expect(temps(x.dst).length).toBe(1);
      x.dec.feed(fileFrame(x.fresh, 300 << 10));
      x.dec.feed(data(1000));
      expect(() => x.dec.feed(keepFrame(4096))).toThrow(/no basis/);
    } finally {
      await ends(x);
    }
  });

  test("HOLE in a delta file", async () => {
    const x = rig(2 * MiB, 2 * MiB);
    try {
      sign(x);
      await until(() => x.sigs.some((h) => h.last));
      x.dec.feed(fileFrame(x.big, 2 * MiB));
      expect(() => x.dec.feed(holeFrame(8192))).toThrow(/HOLE in a delta file/);
    } finally {
      await ends(x);
    }
  });

  test("KEEP of a bad length (zero, fractional, past the size)", async () => {
    for (const n of [0, 0.5, -1, Number.NaN, 3 * MiB]) {
      const x = rig(2 * MiB, 2 * MiB);
      try {
        sign(x);
        await until(() => x.sigs.some((h) => h.last));
        x.dec.feed(fileFrame(x.big, 2 * MiB));
        expect(() => x.dec.feed(keepFrame(n))).toThrow(FrameError);
      } finally {
        await ends(x);
      }
    }
  });

  test("the basis swapped for a symlink or a FIFO after the plan is not read: no blocks, the whole file follows", async () => {
    for (const kind of ["symlink", "fifo"] as const) {
      if (kind === "fifo" && !MKFIFO) continue;
      const x = rig(2 * MiB, 2 * MiB);
      const outside = join(x.dir, "outside.bin");
      try {
        writeOld(outside, x.old);
        rmSync(join(x.dst, "big.bin"));
        if (kind === "symlink") symlinkSync(outside, join(x.dst, "big.bin"));
        else Bun.spawnSync([MKFIFO!, join(x.dst, "big.bin")]);
        sign(x);
        await until(() => x.sigs.some((h) => h.last));
        expect(x.sigs.map((h) => [h.basisBytes, h.last])).toEqual([[0, true]]);
        // the sender, told of no blocks, sends it all
        const neu = readFileSync(join(x.dir, "src/big.bin"));
        x.dec.feed(fileFrame(x.big, neu.length));
        x.dec.feed(encodeFrame(F_DATA, neu));
        x.dec.feed(encodeFrame(12 /* F_FILE_END */));
        await x.signing;
        expect(x.r.summary.errors).toEqual([]);
        expect(lstatType(join(x.dst, "big.bin"))).toBe("file");
        expect(same(join(x.dst, "big.bin"), neu)).toBe(true);
        expect(same(outside, x.old)).toBe(true);
        expect(temps(x.dst)).toEqual([]);
      } finally {
        x.r.abort();
        x.root.close();
        rmSync(x.dir, { recursive: true, force: true });
      }
    }
  });
});

function lstatType(p: string): string {
  const st = lstatSync(p);
  return st.isSymbolicLink() ? "symlink" : st.isFile() ? "file" : st.isFIFO() ? "fifo" : "other";
}

describe("a hostile receiver against the sender (SigStore)", () => {
  const SEED = 0x1234_5678_9abc_def0n;
  /** The payload of a SIGS frame with `n` block hashes. */
  function sigs(h: Partial<SigsHeader>, n: number): Uint8Array {
    const full: SigsHeader = { index: 0, blockSize: 8192, basisBytes: MiB, firstBlock: 0, last: false, seed: SEED, ...h };
    return sigsFrame(full, new Uint8Array(n * SIG_BYTES)).subarray(HEADER_BYTES);
  }
  /** Entry 0 (1 MiB) and 2 (4 MiB) have a basis; 1 has none. */
  const store = () => new SigStore(new Set([0, 2]), (i) => [MiB, MiB, 4 * MiB][i]!);

  test("a well-formed sequence is taken", async () => {
    const s = store();
    s.add(sigs({}, 64));
    s.add(sigs({ firstBlock: 64, last: true }, 64));
    const f = await s.until(0, 127);
    expect([f.count, f.last, f.blockSize]).toEqual([128, true, 8192]);
  });

  test("SIGS for an entry without a basis, or past the list", () => {
    expect(() => store().add(sigs({ index: 1 }, 1))).toThrow(/no basis/);
    expect(() => store().add(sigs({ index: 7 }, 1))).toThrow(/no basis/);
  });

  test("SIGS out of order: a gap, a repeat, a block before the first", () => {
    const s = store();
    s.add(sigs({}, 10));
    expect(() => s.add(sigs({ firstBlock: 11 }, 1))).toThrow(/out of order/);
    const t = store();
    t.add(sigs({}, 10));
    expect(() => t.add(sigs({ firstBlock: 0 }, 10))).toThrow(/out of order/);
    expect(() => store().add(sigs({ firstBlock: 5 }, 1))).toThrow(/out of order/);
  });

  test("a block size that is not a power of two, too small, too large, or changed midway", () => {
    for (const blockSize of [12288, 8191, 2048, 0, 32 << 20, 0xffffffff]) expect(() => store().add(sigs({ blockSize }, 1))).toThrow(FrameError);
    const s = store();
    s.add(sigs({}, 1));
    expect(() => s.add(sigs({ firstBlock: 1, blockSize: 16384 }, 1))).toThrow(/another block size/);
    const t = store();
    t.add(sigs({}, 1));
    expect(() => t.add(sigs({ firstBlock: 1, seed: SEED + 1n }, 1))).toThrow(FrameError);
  });

  test("more blocks than the file's size allows, at once or over frames", () => {
    expect(() => store().add(sigs({}, 129))).toThrow(/more blocks than its size/);
    const s = store();
    s.add(sigs({}, 100));
    expect(() => s.add(sigs({ firstBlock: 100 }, 29))).toThrow(/more blocks than its size/);
    // 4 MiB in blocks of 8 KiB: 512 at most
    const t = store();
    t.add(sigs({ index: 2, basisBytes: 4 * MiB }, 512));
    expect(() => t.add(sigs({ index: 2, basisBytes: 4 * MiB, firstBlock: 512 }, 1))).toThrow(/more blocks than its size/);
  });

  test("a basis larger than the file, negative or not a whole number; SIGS after the last", () => {
    for (const basisBytes of [MiB + 1, -1, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => store().add(sigs({ basisBytes }, 1))).toThrow(FrameError);
    const s = store();
    s.add(sigs({ last: true }, 1));
    expect(() => s.add(sigs({ firstBlock: 1 }, 1))).toThrow(/after its last/);
  });

  test("a frame that does not hold whole block hashes", () => {
    const p = sigs({}, 2);
    expect(() => store().add(p.subarray(0, p.length - 3))).toThrow(/whole block hashes/);
  });
});

describe("a hostile receiver cannot make the sender hold unbounded block hashes", () => {
  const GiB = 2 ** 30;
  /** The payload of a SIGS frame of 65,536 blocks of 4 KiB (the smallest size the sender takes). */
  const frame = (index: number, firstBlock: number) =>
    sigsFrame({ index, blockSize: 4096, basisBytes: 16 * GiB, firstBlock, last: false, seed: 1n }, new Uint8Array(65536 * SIG_BYTES)).subarray(HEADER_BYTES);

  test("hashes far ahead of the sender (4 KiB blocks of many 16 GiB files) are refused past two files' worth, 64 MiB at least", () => {
    // a pull of a module of VM images: honest hashes are 2 MiB a file (128 KiB blocks); 4 KiB blocks would be 64 MiB a file
    const s = new SigStore(new Set(Array.from({ length: 64 }, (_, i) => i)), () => 16 * GiB);
    let fed = 0;
    const feed = () => {
      for (let i = 0; i < 64; i++) {
        for (let k = 0; k < 2; k++) {
          s.add(frame(i, k * 65536));
          fed += 65536 * SIG_BYTES;
        }
      }
    };
    expect(feed).toThrow(/block hashes/);
    expect(fed).toBeLessThanOrEqual(64 << 20);
  });

  test("an honest receiver, one file ahead, stays within it; what the sender is done with is let go", () => {
    // 4 TiB files: 1 MiB blocks, 64 MiB of hashes each; the receiver builds the next while the sender sends one
    const size = 4096 * GiB;
    const s = new SigStore(new Set([0, 1, 2, 3]), () => size);
    const all = (i: number) => {
      for (let k = 0; k < 64; k++) s.add(sigsFrame({ index: i, blockSize: MiB, basisBytes: size, firstBlock: k * 65536, last: k === 63, seed: 1n }, new Uint8Array(65536 * SIG_BYTES)).subarray(HEADER_BYTES));
    };
    all(0);
    all(1);
    s.forget(0);
    all(2);
    s.forget(1);
    // hashes for a file the sender gave up on (it could not read it) are dropped, not held
    s.forget(3);
    all(3);
    s.forget(2);
    all(1); // late hashes of a file already sent: dropped as well
  });
});

describe("a hostile pulling client against blitd (raw data plane)", () => {
  const GiB = 2 ** 30;

  /** A pull of module path `path` spoken by hand: HELLO, NEED and BASIS of `indices`, NEED_END, then `after` frames; resolves when blitd closes the connection. */
  async function rawPull(path: string, lists: { need: (ids: number[]) => number[]; basis: (ids: number[]) => number[][] }, after: (ids: number[]) => Iterable<Uint8Array>, port = d.port) {
    const c = rawClient(port, true);
    try {
      const neg = await rpc(c, "Negotiate", { direction: "pull", module: "data", path, features: ["delta", "sparse"] });
      const tree = decodeManifest(neg.manifest).tree;
      const ids = tree.paths.map((_, i) => i).filter((i) => tree.types[i] === T_FILE);
      const sock = netConnect({ host: "127.0.0.1", port: neg.data_port });
      sock.on("data", () => {}); // read and drop what blitd sends
      sock.on("error", () => {});
      const closed = new Promise<number>((r) => sock.on("close", () => r(Date.now())));
      await new Promise<void>((r) => sock.once("connect", () => r()));
      const t0 = Date.now();
      sock.write(encodeFrame(F_HELLO, neg.token));
      sock.write(encodeFrame(F_NEED, u32List(lists.need(ids))));
      for (const b of lists.basis(ids)) sock.write(encodeFrame(F_BASIS, u32List(b)));
      sock.write(encodeFrame(F_NEED_END));
      let sent = 0;
      let open = true;
      void closed.then(() => (open = false));
      for (const f of after(ids)) {
        if (!open) break;
        sent += f.length;
        if (!sock.write(f)) await Promise.race([new Promise((r) => sock.once("drain", r)), closed]);
      }
      const end = await Promise.race([closed, Bun.sleep(15_000).then(() => 0)]);
      sock.destroy();
      const done = await rpc(c, "Complete", { transfer_id: neg.transfer_id }).catch((e) => ({ status: String(e.message) }));
      return { closedAfterMs: end ? end - t0 : -1, sent, done };
    } finally {
      c.close();
    }
  }

  test("block hashes for every file at once, in 4 KiB blocks, end the transfer after a bounded amount", async () => {
    // a module of 16 GiB images (sparse: nothing on disk); honest hashes would be 2 MiB an image
    const dir = join(mod, "images");
    mkdirSync(dir);
    for (let k = 0; k < 8; k++) {
      writeFileSync(join(dir, `vm${k}.img`), "");
      truncateSync(join(dir, `vm${k}.img`), 16 * GiB);
    }
    const hashes = new Uint8Array(65536 * SIG_BYTES);
    const r = await rawPull("images", { need: (ids) => ids, basis: (ids) => [ids] }, function* (ids) {
      for (const i of ids) for (let k = 0; k < 16; k++) yield sigsFrame({ index: i, blockSize: 4096, basisBytes: 16 * GiB, firstBlock: k * 65536, last: false, seed: 1n }, hashes);
    });
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(0); // blitd hung up
    expect(r.sent).toBeLessThan(100 << 20); // before taking much more than 64 MiB of hashes
    expect(r.done.status).not.toBe("ok");
    const c = rawClient(d.port, true);
    try {
      expect((await rpc(c, "ListModules", {})).modules.length).toBeGreaterThan(0); // blitd serves on
    } finally {
      c.close();
    }
  });

  test("a client that lists a basis and never sends its block hashes: blitd keeps serving, and ends the transfer at idle_timeout", async () => {
    const dir = join(mod, "stalled-sigs");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.bin"), randomBytes(MiB));
    const idle = await startBlitd(work, moduleToml({ data: { path: mod, readOnly: false } }, "idle_timeout = 2"));
    try {
      const pending = rawPull("stalled-sigs", { need: (ids) => ids, basis: (ids) => [ids] }, () => [], idle.port);
      // while blitd's sender waits for the hashes, its event loop answers others
      await Bun.sleep(500);
      const c = rawClient(idle.port, true);
      try {
        const t0 = Date.now();
        expect((await rpc(c, "ListModules", {})).modules.length).toBe(1);
        expect(Date.now() - t0).toBeLessThan(1000);
      } finally {
        c.close();
      }
      const r = await pending;
      expect(r.closedAfterMs).toBeGreaterThanOrEqual(2000); // not before idle_timeout
      expect(r.closedAfterMs).toBeLessThan(10_000); // and not much after it
      expect(r.done.status).not.toBe("ok");
    } finally {
      await idle.stop();
    }
  }, 30_000);

  test("a BASIS list naming a file not asked for, a small file, or one twice ends the transfer", async () => {
    const dir = join(mod, "basis-lies");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.bin"), randomBytes(300 << 10));
    writeFileSync(join(dir, "b.bin"), randomBytes(300 << 10));
    writeFileSync(join(dir, "small.txt"), "small\n");
    const names = ["a.bin", "b.bin", "small.txt"];
    // ids are in walk order: a.bin, b.bin, small.txt
    for (const lists of [
      { need: (ids: number[]) => [ids[0]!], basis: (ids: number[]) => [[ids[1]!]] }, // not asked for
      { need: (ids: number[]) => ids, basis: (ids: number[]) => [[ids[2]!]] }, // too small for a basis
      { need: (ids: number[]) => ids, basis: (ids: number[]) => [[ids[0]!], [ids[0]!]] }, // twice
      { need: (ids: number[]) => ids, basis: () => [[4096]] }, // no such entry
    ]) {
      const r = await rawPull("basis-lies", lists, () => []);
      expect(r.closedAfterMs).toBeGreaterThanOrEqual(0);
      expect(r.closedAfterMs).toBeLessThan(5000);
      expect(r.done.status).not.toBe("ok");
    }
    expect(readdirSync(dir).sort()).toEqual(names);
  });
});
