// The contract of RootedDir (ffi/rooted.ts), the one interface for sandboxed file access: the
// SAME cases run against the Linux implementation (openat2 beneath a directory fd) and the
// portable one (node:fs with an lstat of every component). Normal behaviour of every operation,
// the refusals (`..`, absolute paths, a symlink on the way: nothing created outside), and an
// attack: as root, while `nobody` swaps a directory below the root for a symlink to a root-only
// directory outside it, the implementation creates, renames, chmods and unlinks beneath it many
// times; nothing outside may be created, changed or removed. The portable implementation cannot
// promise that (its header documents the race), so its attack case is skipped with that reason.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rootedImplementations, type RootedDir } from "../../ffi/index.ts";
import { tempDirs } from "../helpers/index.ts";
import { startSwapper } from "../trust/helpers.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const NOBODY = spawnSync("id", ["-u", "nobody"], { encoding: "utf8" });
const NOBODY_UID = Number.parseInt(NOBODY.stdout, 10);
const NOGROUP_GID = Number.parseInt(spawnSync("getent", ["group", "nogroup"], { encoding: "utf8" }).stdout.split(":")[2] ?? "", 10);
const CAN_DROP = process.getuid?.() === 0 && NOBODY.status === 0 && Number.isFinite(NOGROUP_GID) && spawnSync("setpriv", ["--version"]).status === 0;
const HAVE_MKFIFO = spawnSync("mkfifo", ["--version"]).status === 0;

const enc = (s: string) => new TextEncoder().encode(s);
/** What an operation threw, as its FsError code. */
function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}
/** A fingerprint of everything under `dir`: names, types, modes, sizes, mtimes, contents. */
function fingerprint(dir: string): string[] {
  const out: string[] = [];
  const visit = (p: string, rel: string) => {
    const st = lstatSync(p, { bigint: true });
    out.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeNs}${st.isFile() ? " " + readFileSync(p, "hex") : ""}`);
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) visit(join(p, n), `${rel}/${n}`);
  };
  visit(dir, ".");
  return out;
}

for (const impl of ["linux", "portable"] as const) {
  const open = rootedImplementations[impl];
  describe(`RootedDir contract: ${impl}`, () => {
    /** A root `r` beside a directory `outside` holding one file, and the handle on r. */
    function setup(): { root: string; outside: string; dir: RootedDir; done(): void } {
      const t = temps.make();
      const root = t.join("r");
      const outside = t.join("outside");
      mkdirSync(root);
      mkdirSync(outside);
      writeFileSync(join(outside, "secret"), "outside\n");
      chmodSync(join(outside, "secret"), 0o600);
      const dir = open(root);
      return { root, outside, dir, done: () => dir.close() };
    }

    test("create exclusive, write, read back; modes and times on the open file", () => {
      const { root, dir, done } = setup();
      try {
        dir.mkdir("a", 0o755);
        const f = dir.createFile("a/f", 0o640);
        f.write(enc("hello "), 0, 6);
        f.write(enc("world"));
        f.setMode(0o604, true);
        f.setTimes(1_000_000_000, 5_000);
        f.close();
        f.close();
        expect(readFileSync(join(root, "a/f"), "utf8")).toBe("hello world");
        const st = dir.lstat("a/f");
        expect([st.type, st.size, st.mode, st.mtimeSec]).toEqual(["file", 11, 0o604, 1_000_000_000]);
        expect(codeOf(() => dir.createFile("a/f", 0o600))).toBe("EEXIST");
        const r = dir.openFile("a/f");
        const buf = new Uint8Array(64);
        const n = r.read(buf, 0, 64);
        expect(new TextDecoder().decode(buf.subarray(0, n))).toBe("hello world");
        expect(r.read(buf, 0, 64)).toBe(0);
        r.close();
        expect(dir.names().sort()).toEqual(["a"]);
        expect(dir.names("a")).toEqual(["f"]);
        expect(dir.lstat("").type).toBe("dir");
      } finally {
        done();
      }
    });

    test("positional reads and writes leave the file offset alone; cloneFrom either shares the content or changes nothing", () => {
      const { root, dir, done } = setup();
      try {
        const f = dir.createFile("p", 0o600);
        f.write(enc("0123456789"));
        f.writeAt(enc("AB"), 0, 2, 3); // over bytes 3..4
        f.writeAt(enc("xyz"), 1, 2, 12); // past the end: a gap of zeros at 10..11
        f.write(enc("!")); // the sequential offset is still 10
        const buf = new Uint8Array(32);
        expect(f.readAt(buf, 0, 32, 0)).toBe(14);
        expect(Buffer.from(buf.subarray(0, 14)).toString("latin1")).toBe("012AB56789!\0yz");
        expect(f.readAt(buf, 5, 4, 3)).toBe(4);
        expect(Buffer.from(buf.subarray(5, 9)).toString()).toBe("AB56");
        expect(f.readAt(buf, 0, 8, 100)).toBe(0);
        f.close();
        const src = dir.openFile("p");
        const c = dir.createFile("c", 0o600);
        const cloned = c.cloneFrom(src);
        c.close();
        src.close();
        // A filesystem with reflinks shares the blocks; any other leaves the new file empty.
        expect(readFileSync(join(root, "c"), "latin1")).toBe(cloned ? "012AB56789!\0yz" : "");
        if (impl === "portable") expect(cloned).toBe(false);
      } finally {
        done();
      }
    });

    test.skipIf(!HAVE_MKFIFO)("openFile refuses a FIFO (NOT_REGULAR, without blocking) and a directory", () => {
      const { root, dir, done } = setup();
      try {
        expect(spawnSync("mkfifo", [join(root, "fifo")]).status).toBe(0);
        mkdirSync(join(root, "d"));
        expect(codeOf(() => dir.openFile("fifo"))).toBe("NOT_REGULAR");
        expect(codeOf(() => dir.openFile("d"))).toBe("NOT_REGULAR");
        expect(codeOf(() => dir.openFile("missing"))).toBe("ENOENT");
      } finally {
        done();
      }
    });

    test("rename, link, unlink (file, empty dir; a full dir is ENOTEMPTY), names with undecodable bytes", () => {
      const { root, dir, done } = setup();
      try {
        dir.mkdir("d", 0o700);
        dir.mkdir("e", 0o700);
        dir.createFile("d/x", 0o644).close();
        dir.rename("d/x", "e/y");
        expect(readdirSync(join(root, "e"))).toEqual(["y"]);
        dir.link("e/y", "d/z");
        expect(dir.lstat("d/z").nlink).toBe(2);
        expect(codeOf(() => dir.unlink("e", true))).toBe("ENOTEMPTY");
        dir.unlink("e/y");
        dir.unlink("e", true);
        dir.unlinkQuiet("nothing-here");
        const odd = "caf\udce9"; // the byte 0xE9 alone: not UTF-8
        dir.createFile(`d/${odd}`, 0o644).close();
        expect(dir.names("d").sort()).toEqual([odd, "z"].sort());
        expect(readdirSync(join(root, "d"), { encoding: "buffer" }).map((b) => b.toString("hex")).sort()).toEqual(
          [Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString("hex"), Buffer.from("z").toString("hex")].sort(),
        );
        expect(readdirSync(root)).toEqual(["d"]);
      } finally {
        done();
      }
    });

    test("exchange swaps two entries of any type atomically, or reports that it cannot and changes nothing", () => {
      const { root, dir, done } = setup();
      try {
        dir.mkdir("dir", 0o755);
        dir.createFile("dir/inner", 0o644).close();
        dir.symlink("somewhere", "link");
        const swapped = dir.exchange("dir", "link");
        if (impl === "linux") expect(swapped).toBe(true);
        else expect(swapped).toBe(false);
        const [isLink, isDir] = swapped ? ["dir", "link"] : ["link", "dir"];
        expect(lstatSync(join(root, isLink)).isSymbolicLink()).toBe(true);
        expect(readdirSync(join(root, isDir))).toEqual(["inner"]);
      } finally {
        done();
      }
    });

    test("a symlink is stored and described, never followed: readlink, lstat, chmod refused, utimes and chown on the link itself", () => {
      const { root, outside, dir, done } = setup();
      const before = fingerprint(outside);
      try {
        dir.symlink("../outside/secret", "l");
        dir.symlink("../outside", "ld");
        expect(dir.readlink("l")).toBe("../outside/secret");
        expect(dir.lstat("l").type).toBe("symlink");
        expect(codeOf(() => dir.chmod("l", 0o777))).toBe("EOPNOTSUPP");
        dir.utimes("l", 1_234_567_890, 0);
        expect(lstatSync(join(root, "l")).mtimeMs).toBe(1_234_567_890_000);
        if (process.getuid?.() === 0 && Number.isFinite(NOBODY_UID)) {
          dir.chown("l", NOBODY_UID, undefined);
          expect(lstatSync(join(root, "l")).uid).toBe(NOBODY_UID);
        }
        expect(["ELOOP", "NOT_REGULAR"]).toContain(codeOf(() => dir.openFile("l"))!);
        expect(["ELOOP", "ENOTDIR"]).toContain(codeOf(() => dir.openDir("ld"))!);
        expect(["ELOOP", "ENOTDIR"]).toContain(codeOf(() => dir.names("ld"))!);
        dir.rename("l", "l2");
        expect(lstatSync(join(root, "l2")).isSymbolicLink()).toBe(true);
        dir.link("l2", "l3");
        expect(lstatSync(join(root, "l3")).isSymbolicLink()).toBe(true);
        dir.unlink("l2");
        dir.unlink("l3");
        expect(fingerprint(outside)).toEqual(before);
      } finally {
        done();
      }
    });

    test("chmod, utimes, chown of a file, a directory and the root itself", () => {
      const { root, dir, done } = setup();
      try {
        dir.mkdir("d", 0o755);
        dir.createFile("d/f", 0o644).close();
        dir.chmod("d/f", 0o4711);
        dir.chmod("d", 0o701);
        dir.utimes("d/f", 1_500_000_000, 250_000_000);
        dir.utimes("", 1_600_000_000, 0);
        expect(statSync(join(root, "d/f")).mode & 0o7777).toBe(0o4711);
        expect(statSync(join(root, "d")).mode & 0o7777).toBe(0o701);
        expect(dir.lstat("d/f").mtimeSec).toBe(1_500_000_000);
        expect(statSync(root).mtimeMs).toBe(1_600_000_000_000);
        dir.chmod("", 0o750);
        expect(statSync(root).mode & 0o7777).toBe(0o750);
        expect([dir.lstat("").type, dir.lstat("").mode, dir.lstat("").mtimeSec]).toEqual(["dir", 0o750, 1_600_000_000]);
        if (process.getuid?.() === 0 && Number.isFinite(NOBODY_UID)) {
          dir.chown("d/f", NOBODY_UID, NOGROUP_GID);
          expect([statSync(join(root, "d/f")).uid, statSync(join(root, "d/f")).gid]).toEqual([NOBODY_UID, NOGROUP_GID]);
        }
        const sub = dir.openDir("d");
        try {
          expect(sub.names()).toEqual(["f"]);
          sub.rename("f", "g");
          expect(readdirSync(join(root, "d"))).toEqual(["g"]);
        } finally {
          sub.close();
        }
      } finally {
        done();
      }
    });

    test("openRootBelow follows a symlink that stays beneath the root, refuses one that leads out, and follows nothing below its result", () => {
      const { root, outside, dir, done } = setup();
      try {
        dir.mkdir("a", 0o755);
        dir.mkdir("a/b", 0o755);
        dir.symlink("a", "in");
        dir.symlink("../outside", "out");
        dir.symlink("../../../outside", "a/b/up");
        const below = dir.openRootBelow("in");
        try {
          expect(below.names().sort()).toEqual(["b"]);
          expect(["ELOOP", "ENOTDIR"]).toContain(codeOf(() => below.names("b/up"))!);
        } finally {
          below.close();
        }
        expect(["EXDEV", "ELOOP"]).toContain(codeOf(() => dir.openRootBelow("out"))!);
        expect(["EXDEV", "ELOOP"]).toContain(codeOf(() => dir.openRootBelow("a/b/up"))!);
        expect(codeOf(() => dir.openRootBelow("../outside"))).toBe("EXDEV");
        expect(readdirSync(outside)).toEqual(["secret"]);
        expect(readdirSync(root).sort()).toEqual(["a", "in", "out"]);
      } finally {
        done();
      }
    });

    test("mknod makes a FIFO on Linux; the portable implementation says it cannot", () => {
      const { root, dir, done } = setup();
      try {
        if (impl === "linux") {
          dir.mknod("p", "fifo", 0o640);
          expect(lstatSync(join(root, "p")).isFIFO()).toBe(true);
          expect(lstatSync(join(root, "p")).mode & 0o7777).toBe(0o640);
        } else {
          expect(codeOf(() => dir.mknod("p", "fifo", 0o640))).toBe("EOPNOTSUPP");
        }
      } finally {
        done();
      }
    });

    test("refusals: '..', an absolute path, empty components, a symlink on the way; nothing created outside", () => {
      const { root, outside, dir, done } = setup();
      const before = fingerprint(outside);
      try {
        dir.mkdir("a", 0o755);
        symlinkSync(outside, join(root, "a/link"));
        const ops: [string, (p: string) => unknown][] = [
          ["createFile", (p) => dir.createFile(p, 0o644)],
          ["mkdir", (p) => dir.mkdir(p, 0o755)],
          ["symlink", (p) => dir.symlink("x", p)],
          ["rename", (p) => dir.rename("a", p)],
          ["link", (p) => dir.link("a/link", p)],
          ["unlink", (p) => dir.unlink(p)],
          ["chmod", (p) => dir.chmod(p, 0o777)],
          ["utimes", (p) => dir.utimes(p, 1, 0)],
          ["openFile", (p) => dir.openFile(p)],
          ["openDir", (p) => dir.openDir(p)],
          ["lstat", (p) => dir.lstat(p)],
        ];
        for (const [name, op] of ops) {
          expect(`${name} ../outside/new: ${codeOf(() => op("../outside/new"))}`).toBe(`${name} ../outside/new: EXDEV`);
          expect(`${name} a/../../outside/secret: ${codeOf(() => op("a/../../outside/secret"))}`).toBe(`${name} a/../../outside/secret: EXDEV`);
          expect(`${name} abs: ${codeOf(() => op(join(outside, "secret")))}`).toBe(`${name} abs: EXDEV`);
          expect(`${name} a//x: ${codeOf(() => op("a//x"))}`).toBe(`${name} a//x: EINVAL`);
          // A single name takes a shorter path on Linux: the same refusals hold there.
          expect(`${name} ..: ${codeOf(() => op(".."))}`).toBe(`${name} ..: EXDEV`);
          expect(`${name} .: ${codeOf(() => op("."))}`).toBe(`${name} .: EINVAL`);
          expect(`${name} NUL: ${codeOf(() => op("x\0y"))}`).toBe(`${name} NUL: EINVAL`);
          const mid = codeOf(() => op("a/link/secret"));
          expect(`${name} a/link/secret: ${mid}`).toMatch(/: (ELOOP|ENOTDIR)$/);
        }
        // The message names the component that was a symlink.
        expect(() => dir.createFile("a/link/new", 0o644)).toThrow(/a\/link: /);
        expect(fingerprint(outside)).toEqual(before);
        expect(readdirSync(root)).toEqual(["a"]);
      } finally {
        done();
      }
    });

    const attack = (impl === "linux" || process.env.ATTACK_PORTABLE) && CAN_DROP ? test : test.skip;
    // The portable implementation checks each component with lstat and then uses the path: a swap
    // in between is followed (ffi/rooted-portable.ts documents it), so the attack would succeed
    // against it some of the time (ATTACK_PORTABLE=1 runs it anyway: files appear in and vanish from
    // the root-only directory). Known limit, not a guarantee it makes.
    attack(
      `attack: nobody swaps a directory below the root for a symlink to a root-only directory while root creates, renames, chmods and unlinks beneath it (${impl === "portable" ? "skipped: the portable implementation's documented race" : "nothing outside changes"})`,
      async () => {
        const top = mkdtempSync(join(tmpdir(), "blit-test-"));
        const t = { path: top };
        try {
          chmodSync(top, 0o755);
          const root = join(t.path, "root");
          const secret = join(t.path, "secret");
          mkdirSync(join(root, "p", "d"), { recursive: true });
          chmodSync(root, 0o755);
          mkdirSync(secret, { mode: 0o700 });
          writeFileSync(join(secret, "keep"), "root only\n");
          chmodSync(join(secret, "keep"), 0o600);
          chownSync(join(root, "p"), NOBODY_UID, NOGROUP_GID);
          chownSync(join(root, "p", "d"), NOBODY_UID, NOGROUP_GID);
          chmodSync(join(root, "p", "d"), 0o777);
          const before = fingerprint(secret);
          const swapper = startSwapper(t.path, join(root, "p"), "d", secret, { seconds: 30 });
          const dir = open(root);
          let done = 0;
          let refused = 0;
          try {
            await Bun.sleep(200); // let the swapper start
            const until = performance.now() + 4_000;
            for (let i = 0; i < 200_000 && performance.now() < until; i++) {
              const n = `f${i}`;
              for (const op of [
                () => dir.createFile(`p/d/${n}`, 0o644).close(),
                () => dir.rename(`p/d/${n}`, `p/d/${n}.r`),
                () => dir.chmod(`p/d/${n}.r`, 0o666),
                () => dir.utimes(`p/d/${n}.r`, 1, 0),
                () => dir.unlink(`p/d/${n}.r`),
                () => dir.mkdir(`p/d/m${i}`, 0o777),
                () => dir.unlink(`p/d/m${i}`, true),
                () => dir.unlink("p/d/keep"),
                () => dir.chmod("p/d/keep", 0o666),
              ]) {
                try {
                  op();
                  done++;
                } catch {
                  refused++;
                }
              }
              if (i % 64 === 0) await Bun.sleep(0);
            }
          } finally {
            dir.close();
          }
          const exchanges = await swapper.stop();
          expect(exchanges).toBeGreaterThan(100); // the race really ran
          expect(done).toBeGreaterThan(100);
          expect(refused).toBeGreaterThan(0); // some operations met the symlink and were refused
          expect(fingerprint(secret)).toEqual(before);
        } finally {
          spawnSync("rm", ["-rf", t.path]);
        }
      },
      60_000,
    );
  });
}
