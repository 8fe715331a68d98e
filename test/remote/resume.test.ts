// Resume (#15): a transfer broken off mid-file keeps what it received as
// `.blit-tmp-partial-<key>-<name>` beside the file (never under the final name); the next push or
// pull of that name continues from it, sending only what is missing, and leaves no temporary.
// Attacked over TCP, TLS and the gRPC data stream, with the client or blitd killed, with parts
// older than a day, parts of another version and parts planted by another local user.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { partialName } from "../../engine/index.ts";
import { blit, cleanup, moduleToml, spawnBlit, startBlitd, tempDir, type Daemon, temps } from "./helpers.ts";

const MiB = 1 << 20;
const SIZE = 48 * MiB;
/** What a resumed transfer may send beyond the missing bytes: frames, block hashes, the block cut mid-way. */
const SLACK = 2 * MiB;

let work: string;
/** One random file for the whole suite, made once (mode 0640, a fixed mtime); `big` is its content. */
let bigFile: string;
let big: Buffer;

beforeAll(() => {
  work = tempDir("resume-");
  bigFile = join(work, "big.bin");
  big = randomBytes(SIZE);
  writeFileSync(bigFile, big);
  chmodSync(bigFile, 0o640);
  utimesSync(bigFile, 1_600_000_000, 1_600_000_000);
});

afterAll(() => cleanup(work));

/** The size of the largest `.blit-tmp-*` in dir (0 when none). */
function tempBytes(dir: string): number {
  let most = 0;
  for (const t of temps(dir)) {
    try {
      most = Math.max(most, statSync(join(dir, t)).size);
    } catch {
      /* renamed meanwhile */
    }
  }
  return most;
}

function partialsOf(dir: string, name: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(".blit-tmp-partial-") && n.endsWith(`-${name}`)) : [];
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await Bun.sleep(10);
  }
  return cond();
}

async function finish(client: ReturnType<typeof spawnBlit>) {
  const [code, stdout, stderr] = await Promise.all([client.exited, new Response(client.stdout).text(), new Response(client.stderr).text()]);
  return { code, stdout, stderr };
}

function sameAsBig(path: string): boolean {
  return existsSync(path) && readFileSync(path).equals(big);
}

/** A resumed file gets its sender's mode and mtime like any other (none of the part's). */
function expectMetaOf(path: string, ref: string): void {
  const [a, b] = [statSync(path), statSync(ref)];
  expect((a.mode & 0o7777).toString(8)).toBe((b.mode & 0o7777).toString(8));
  expect(a.mtimeMs).toBe(b.mtimeMs);
}

/** A resumed run's report: one file resumed from `kept` bytes at least, and not much more than the rest on the wire. */
function expectResumed(report: any, direction: "dataBytesOut" | "dataBytesIn", kept = MiB): void {
  const d = report.transport.delta;
  expect(d).toBeDefined();
  expect(d.resumedFiles).toBe(1);
  expect(d.resumedBytes).toBeGreaterThanOrEqual(kept);
  expect(report.transport[direction]).toBeLessThan(SIZE - d.resumedBytes + SLACK);
}

const OPENSSL = Bun.which("openssl");
if (!OPENSSL) console.warn("resume.test.ts: TLS cases skipped: openssl is not installed (apt-get install openssl)");

/** A CA and a leaf for 127.0.0.1, made once (the TLS cases only). */
function makePki(): { ca: string; cert: string; key: string } {
  const pki = join(work, "pki");
  if (!existsSync(join(pki, "leaf.crt"))) {
    mkdirSync(pki, { recursive: true });
    const ssl = (args: string[]) => {
      const r = Bun.spawnSync([OPENSSL!, ...args], { cwd: pki, stdout: "pipe", stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
    };
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    ssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=ca"]);
    ssl(["req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=leaf"]);
    writeFileSync(join(pki, "leaf.ext"), "subjectAltName=IP:127.0.0.1\n");
    ssl(["x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.crt", "-days", "2", "-extfile", "leaf.ext"]);
  }
  return { ca: join(pki, "ca.crt"), cert: join(pki, "leaf.crt"), key: join(pki, "leaf.key") };
}

type Kind = "tcp" | "tls" | "grpc";

/** A writable module `m` at `mod` over `kind`: the daemon's config, the URL scheme and the client's extra flags. */
function setup(kind: Kind, mod: string): { toml: string; scheme: string; flags: string[] } {
  const modules = moduleToml({ m: { path: mod, readOnly: false } });
  if (kind === "tls") {
    const p = makePki();
    return { toml: `tls_cert_file = ${JSON.stringify(p.cert)}\ntls_key_file = ${JSON.stringify(p.key)}\n${modules}`, scheme: "blits", flags: ["--tls-ca", p.ca] };
  }
  return { toml: modules, scheme: "blit", flags: kind === "grpc" ? ["--force-grpc"] : [] };
}

describe.each([["tcp"], ["tls"], ["grpc"]] as [Kind][])("push over %s", (kind) => {
  test.skipIf(kind === "tls" && !OPENSSL)("client interrupted (SIGINT) mid-file: blitd keeps the part although the client says the transfer was aborted; the next push resumes", { timeout: 90_000 }, async () => {
    const mod = join(work, `push-int-${kind}`);
    mkdirSync(mod);
    const { toml, scheme, flags } = setup(kind, mod);
    const d = await startBlitd(work, toml);
    const url = `${scheme}://127.0.0.1:${d.port}/m/big.bin`;
    try {
      const client = spawnBlit(["push", bigFile, url, "--bwlimit", "8M", "--no-progress", ...flags]);
      expect(await waitFor(() => tempBytes(mod) >= 12 * MiB, 30_000)).toBe(true);
      client.kill("SIGINT");
      expect(await client.exited).toBe(130);
      expect(await waitFor(() => partialsOf(mod, "big.bin").length === 1 && temps(mod).length === 1, 10_000)).toBe(true);
      const r = await blit(["push", bigFile, url, "--json", "--no-progress", ...flags]);
      expect(r.code).toBe(0);
      expect(sameAsBig(join(mod, "big.bin"))).toBe(true);
      expectResumed(JSON.parse(r.stdout), "dataBytesOut", 12 * MiB - SLACK);
      expect(temps(mod)).toEqual([]);
    } finally {
      await d.stop();
    }
  });

  test.skipIf(kind === "tls" && !OPENSSL)("client SIGKILLed mid-file: blitd keeps the part beside the file; the next push resumes from it and sends only the rest", { timeout: 90_000 }, async () => {
    const mod = join(work, `push-kill-${kind}`);
    mkdirSync(join(mod, "d"), { recursive: true });
    const { toml, scheme, flags } = setup(kind, mod);
    const d = await startBlitd(work, toml);
    const url = `${scheme}://127.0.0.1:${d.port}/m/d/big.bin`;
    try {
      const client = spawnBlit(["push", bigFile, url, "--bwlimit", "8M", "--retries", "0", "--no-progress", ...flags]);
      expect(await waitFor(() => tempBytes(join(mod, "d")) >= 12 * MiB, 30_000)).toBe(true);
      client.kill("SIGKILL");
      await client.exited;
      // blitd sees the connection go and keeps what it received under the partial name.
      expect(await waitFor(() => partialsOf(join(mod, "d"), "big.bin").length === 1 && temps(mod).length === 1, 10_000)).toBe(true);
      expect(existsSync(join(mod, "d/big.bin"))).toBe(false);
      const kept = statSync(join(mod, "d", partialsOf(join(mod, "d"), "big.bin")[0]!)).size;
      expect(kept).toBeGreaterThanOrEqual(MiB);
      expect(kept).toBeLessThan(SIZE);

      const r = await blit(["push", bigFile, url, "--json", "--no-progress", ...flags]);
      expect(r.code).toBe(0);
      expect(sameAsBig(join(mod, "d/big.bin"))).toBe(true);
      const report = JSON.parse(r.stdout);
      expectResumed(report, "dataBytesOut", kept - SLACK);
      expectMetaOf(join(mod, "d/big.bin"), bigFile);
      expect(temps(mod)).toEqual([]);
    } finally {
      await d.stop();
    }
  });
});

/** A read-only module `m` at `mod` holding the big file as tree/big.bin (for pulls). */
function pullModule(name: string): string {
  const mod = join(work, name);
  mkdirSync(join(mod, "tree"), { recursive: true });
  writeFileSync(join(mod, "tree/big.bin"), big);
  chmodSync(join(mod, "tree/big.bin"), 0o640);
  utimesSync(join(mod, "tree/big.bin"), 1_600_000_000, 1_600_000_000);
  writeFileSync(join(mod, "tree/small.txt"), "small\n");
  return mod;
}

describe.each([["tcp"], ["tls"], ["grpc"]] as [Kind][])("pull over %s", (kind) => {
  test.skipIf(kind === "tls" && !OPENSSL)("client interrupted (SIGINT) mid-file: the destination keeps the part; the next pull resumes from it and receives only the rest", { timeout: 90_000 }, async () => {
    const mod = pullModule(`pull-int-${kind}`);
    const { toml, scheme, flags } = setup(kind, mod);
    const d = await startBlitd(work, toml.replace("read_only = false", "read_only = true"));
    const dst = join(work, `pull-int-dst-${kind}`);
    mkdirSync(dst);
    const url = `${scheme}://127.0.0.1:${d.port}/m/tree/big.bin`;
    try {
      const client = spawnBlit(["pull", url, dst, "--bwlimit", "8M", "--retries", "0", "--no-progress", ...flags]);
      expect(await waitFor(() => tempBytes(dst) >= 12 * MiB, 30_000)).toBe(true);
      client.kill("SIGINT");
      expect(await client.exited).toBe(130);
      expect(partialsOf(dst, "big.bin")).toHaveLength(1);
      expect(temps(dst)).toHaveLength(1);
      expect(existsSync(join(dst, "big.bin"))).toBe(false);
      const kept = statSync(join(dst, partialsOf(dst, "big.bin")[0]!)).size;
      expect(kept).toBeGreaterThanOrEqual(MiB);

      const r = await blit(["pull", url, dst, "--json", "--no-progress", ...flags]);
      expect(r.code).toBe(0);
      expect(sameAsBig(join(dst, "big.bin"))).toBe(true);
      expectResumed(JSON.parse(r.stdout), "dataBytesIn", kept - SLACK);
      expectMetaOf(join(dst, "big.bin"), join(mod, "tree/big.bin"));
      expect(temps(dst)).toEqual([]);
      expect(temps(mod)).toEqual([]);
    } finally {
      await d.stop();
    }
  });
});

test("pull client SIGKILLed mid-file: the temporary it left is adopted by the next tree pull into that directory and resumed", { timeout: 90_000 }, async () => {
  const mod = pullModule("pull-kill");
  const d = await startBlitd(work, moduleToml({ m: { path: mod } }));
  const dst = join(work, "pull-kill-dst");
  const url = `blit://127.0.0.1:${d.port}/m/tree`;
  try {
    const client = spawnBlit(["pull", url, dst, "--bwlimit", "8M", "--retries", "0", "--no-progress"]);
    expect(await waitFor(() => tempBytes(dst) >= 12 * MiB, 30_000)).toBe(true);
    client.kill("SIGKILL");
    await client.exited;
    // A killed process keeps nothing by itself: its temporary stays under its random name.
    const left = temps(dst);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^\.blit-tmp-(?!partial-)[0-9a-f]+-big\.bin$/);
    const kept = statSync(join(dst, left[0]!)).size;

    const r = await blit(["pull", url, dst, "--json", "--no-progress"]);
    expect(r.code).toBe(0);
    expect(sameAsBig(join(dst, "big.bin"))).toBe(true);
    expect(readFileSync(join(dst, "small.txt"), "utf8")).toBe("small\n");
    expectResumed(JSON.parse(r.stdout), "dataBytesIn", kept - SLACK);
    expect(temps(dst)).toEqual([]);
  } finally {
    await d.stop();
  }
});

test("one-file pull SIGKILLed mid-file, twice: the next one-file pull adopts what the killed one was writing and resumes; a part it keeps is not thrown away", { timeout: 90_000 }, async () => {
  const mod = pullModule("pull-kill-one");
  const d = await startBlitd(work, moduleToml({ m: { path: mod } }));
  const dst = join(work, "pull-kill-one-dst");
  mkdirSync(dst, { recursive: true });
  const url = `blit://127.0.0.1:${d.port}/m/tree/big.bin`;
  try {
    let client = spawnBlit(["pull", url, dst, "--bwlimit", "8M", "--retries", "0", "--no-progress"]);
    expect(await waitFor(() => tempBytes(dst) >= 12 * MiB, 30_000)).toBe(true);
    client.kill("SIGKILL");
    await client.exited;
    const first = temps(dst);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatch(/^\.blit-tmp-(?!partial-)[0-9a-f]+-big\.bin$/);
    const kept = statSync(join(dst, first[0]!)).size;
    // Interrupted again (SIGINT this time): it resumed, and keeps its own part.
    client = spawnBlit(["pull", url, dst, "--bwlimit", "8M", "--retries", "0", "--no-progress"]);
    expect(await waitFor(() => temps(dst).some((n) => !n.includes("partial-")), 30_000)).toBe(true);
    await Bun.sleep(500);
    client.kill("SIGINT");
    await client.exited;
    expect(temps(dst).every((n) => n.includes("partial-"))).toBe(true);

    const r = await blit(["pull", url, dst, "--json", "--no-progress"]);
    expect(r.code).toBe(0);
    expect(sameAsBig(join(dst, "big.bin"))).toBe(true);
    expectResumed(JSON.parse(r.stdout), "dataBytesIn", kept - SLACK);
    expect(temps(dst)).toEqual([]);
  } finally {
    await d.stop();
  }
});

describe.each([["tcp"], ["tls"], ["grpc"]] as [Kind][])("blitd restarted, %s", (kind) => {
  test.skipIf(kind === "tls" && !OPENSSL)("blitd SIGKILLed mid-push and started again on the same port: the client reconnects, the retry resumes from what blitd had written, exact, nothing temporary left", { timeout: 90_000 }, async () => {
    const mod = join(work, `daemon-kill-${kind}`);
    mkdirSync(mod);
    const { toml, scheme, flags } = setup(kind, mod);
    let d: Daemon = await startBlitd(work, toml);
    try {
      const client = spawnBlit(["push", bigFile, `${scheme}://127.0.0.1:${d.port}/m/big.bin`, "--bwlimit", "8M", "--retries", "3", "--json", "--no-progress", ...flags]);
      expect(await waitFor(() => tempBytes(mod) >= 12 * MiB, 30_000)).toBe(true);
      await d.stop("SIGKILL");
      const written = tempBytes(mod);
      d = await startBlitd(work, toml, ["--bind", `127.0.0.1:${d.port}`]);
      // At its start blitd made what it had been writing the part of big.bin.
      expect(partialsOf(mod, "big.bin")).toHaveLength(1);
      const r = await finish(client);
      expect(r.code).toBe(0);
      expect(sameAsBig(join(mod, "big.bin"))).toBe(true);
      const report = JSON.parse(r.stdout);
      expect(report.transport.retries.length).toBeGreaterThanOrEqual(1);
      expect(report.transport.delta.resumedFiles).toBeGreaterThanOrEqual(1);
      expect(report.transport.delta.resumedBytes).toBeGreaterThanOrEqual(written - SLACK);
      // The report's bytes are the run's: the lost attempt's too.
      expect(report.transport.dataBytesOut).toBeGreaterThanOrEqual(written + SIZE - report.transport.delta.resumedBytes);
      expect(temps(mod)).toEqual([]);
    } finally {
      await d.stop();
    }
  });
});

/** Plants a kept part of `name` in `dir` (`bytes` of `content`), `ageDays` old. */
function plantPartial(dir: string, name: string, content: Uint8Array, ageDays = 0): string {
  const p = join(dir, partialName(name));
  writeFileSync(p, content);
  const t = Date.now() / 1000 - ageDays * 86_400;
  utimesSync(p, t, t);
  return p;
}

test("a part older than a day is removed by the next push into its directory even when its file is not needed, and by blitd at its start; a younger part of a file not pushed again stays", { timeout: 90_000 }, async () => {
  const mod = join(work, "aged");
  const src = join(work, "aged-src");
  mkdirSync(join(mod, "d"), { recursive: true });
  mkdirSync(src);
  writeFileSync(join(src, "x.bin"), big.subarray(0, 2 * MiB));
  writeFileSync(join(src, "other.txt"), "other\n");
  const toml = moduleToml({ m: { path: mod, readOnly: false } });
  let d = await startBlitd(work, toml);
  try {
    const url = `blit://127.0.0.1:${d.port}/m/d`;
    expect((await blit(["push", src, url])).code).toBe(0);
    const oldX = plantPartial(join(mod, "d"), "x.bin", big.subarray(0, 2 * MiB), 2);
    const youngY = plantPartial(join(mod, "d"), "y.bin", big.subarray(0, 2 * MiB));
    // x.bin is up to date: nothing to send, and still its two-day-old part goes.
    const r = await blit(["push", src, url, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).counts.copied).toBe(0);
    expect(existsSync(oldX)).toBe(false);
    expect(existsSync(youngY)).toBe(true);

    await d.stop();
    const oldZ = plantPartial(join(mod, "d"), "z.bin", big.subarray(0, 2 * MiB), 2);
    const oldTop = plantPartial(mod, "top.bin", big.subarray(0, 2 * MiB), 2);
    d = await startBlitd(work, toml);
    expect(existsSync(oldZ)).toBe(false);
    expect(existsSync(oldTop)).toBe(false);
    expect(existsSync(youngY)).toBe(true);
    expect(readFileSync(join(mod, "d/x.bin")).equals(big.subarray(0, 2 * MiB))).toBe(true);

    // A pull does the same in its own destination.
    const back = join(work, "aged-back");
    mkdirSync(back);
    const oldB = plantPartial(back, "x.bin", big.subarray(0, 2 * MiB), 2);
    const youngB = plantPartial(back, "gone.bin", big.subarray(0, 2 * MiB));
    expect((await blit(["pull", `blit://127.0.0.1:${d.port}/m/d`, back])).code).toBe(0);
    expect(existsSync(oldB)).toBe(false);
    expect(existsSync(youngB)).toBe(true);
    expect(readFileSync(join(back, "x.bin")).equals(big.subarray(0, 2 * MiB))).toBe(true);
  } finally {
    await d.stop();
  }
});

/** A part of another version of the big file: its first 16 MiB with 4 MiB in the middle changed, then `tail` more bytes of neither. */
function otherVersion(tail = 0): Buffer {
  const part = Buffer.concat([big.subarray(0, 16 * MiB), randomBytes(tail)]);
  randomBytes(4 * MiB).copy(part, 4 * MiB);
  return part;
}

test("a part of another version of the file (same name, other bytes in the middle, longer than the file): the next push and pull give the exact new content, only the matching blocks kept", { timeout: 90_000 }, async () => {
  const mod = join(work, "other-version");
  mkdirSync(mod);
  writeFileSync(join(mod, "pulled.bin"), big);
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  try {
    plantPartial(mod, "big.bin", otherVersion());
    const r = await blit(["push", bigFile, `blit://127.0.0.1:${d.port}/m/big.bin`, "--json"]);
    expect(r.code).toBe(0);
    expect(sameAsBig(join(mod, "big.bin"))).toBe(true);
    const delta = JSON.parse(r.stdout).transport.delta;
    expect(delta.resumedFiles).toBe(1);
    // 12 of the part's 16 MiB match what the file has now; the changed 4 MiB travel again.
    expect(delta.resumedBytes).toBeLessThanOrEqual(12 * MiB);
    expect(delta.resumedBytes).toBeGreaterThan(10 * MiB);
    expect(temps(mod)).toEqual([]);

    // Longer than the file, and on the pulling side.
    const back = join(work, "other-version-back");
    mkdirSync(back);
    plantPartial(back, "pulled.bin", otherVersion(SIZE));
    const p = await blit(["pull", `blit://127.0.0.1:${d.port}/m/pulled.bin`, back, "--json"]);
    expect(p.code).toBe(0);
    expect(sameAsBig(join(back, "pulled.bin"))).toBe(true);
    expect(JSON.parse(p.stdout).transport.delta.resumedBytes).toBeLessThanOrEqual(12 * MiB);
    expect(temps(back)).toEqual([]);
  } finally {
    await d.stop();
  }
});

const SETPRIV = Bun.which("setpriv");
const asRoot = process.getuid?.() === 0;
if (!SETPRIV || !asRoot) console.warn("resume.test.ts: the planted-part case is skipped: it needs root and setpriv (util-linux) to act as user nobody");

/** Runs `sh -c script` as user nobody; throws on failure. */
function asNobody(script: string): void {
  const r = Bun.spawnSync([SETPRIV!, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "sh", "-c", script], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`as nobody: ${script}: ${r.stderr.toString()}`);
}

test.skipIf(!SETPRIV || !asRoot)("parts planted by another local user (garbage, a symlink to a file outside the module, a hard link to one, a FIFO): the push is exact, nothing hangs, and the outside file is never written nor followed", { timeout: 90_000 }, async () => {
  // Its own tree: nobody must reach it, and the test's work dir is root's alone.
  const top = tempDir("resume-planted-");
  const SMALL = 16 * MiB;
  try {
    chmodSync(top, 0o755);
    const mod = join(top, "mod");
    const shared = join(mod, "shared");
    const outside = join(top, "outside");
    mkdirSync(shared, { recursive: true });
    mkdirSync(outside);
    chownSync(shared, 65534, 65534); // a directory user nobody may write
    chownSync(outside, 65534, 65534);
    const src = join(top, "src");
    mkdirSync(src);
    const want = big.subarray(0, SMALL);
    for (const n of ["g.bin", "s.bin", "h.bin", "f.bin"]) writeFileSync(join(src, n), want);
    // nobody's own file outside the module, mostly the same bytes as what is pushed (blocks that would match).
    const secret = join(outside, "secret.bin");
    const secretBytes = otherVersion();
    writeFileSync(secret, secretBytes);
    chownSync(secret, 65534, 65534);
    const before = statSync(secret);
    asNobody(`head -c ${8 * MiB} /dev/urandom > '${join(shared, partialName("g.bin"))}'`);
    asNobody(`ln -s '${secret}' '${join(shared, partialName("s.bin"))}'`);
    asNobody(`ln '${secret}' '${join(shared, partialName("h.bin"))}'`);
    asNobody(`mkfifo '${join(shared, partialName("f.bin"))}'`);
    expect(statSync(secret).nlink).toBe(2);

    const d = await startBlitd(top, moduleToml({ m: { path: mod, readOnly: false } }));
    try {
      const r = await blit(["push", src, `blit://127.0.0.1:${d.port}/m/shared`, "--json"]);
      expect(r.code).toBe(0);
      // Only the hard link's blocks matched: the garbage part reused nothing, so nothing of it was resumed.
      expect(JSON.parse(r.stdout).transport.delta).toMatchObject({ resumedFiles: 1, resumedBytes: 12 * MiB });
      for (const n of ["g.bin", "s.bin", "h.bin", "f.bin"]) {
        expect(readFileSync(join(shared, n)).equals(want)).toBe(true);
        expect(statSync(join(shared, n)).ino).not.toBe(before.ino);
        expect(statSync(join(shared, n)).uid).toBe(0); // blitd's own file, not the planter's
      }
      const after = statSync(secret);
      expect(readFileSync(secret).equals(secretBytes)).toBe(true);
      expect(after.mtimeMs).toBe(before.mtimeMs);
      expect(after.size).toBe(before.size);
      expect(temps(shared)).toEqual([]);

      // The same parts in a pull's destination.
      const back = join(top, "back");
      mkdirSync(back);
      chownSync(back, 65534, 65534);
      asNobody(`head -c ${8 * MiB} /dev/urandom > '${join(back, partialName("g.bin"))}'`);
      asNobody(`ln -s '${secret}' '${join(back, partialName("s.bin"))}'`);
      asNobody(`ln '${secret}' '${join(back, partialName("h.bin"))}'`);
      asNobody(`mkfifo '${join(back, partialName("f.bin"))}'`);
      const p = await blit(["pull", `blit://127.0.0.1:${d.port}/m/shared`, back]);
      expect(p.code).toBe(0);
      for (const n of ["g.bin", "s.bin", "h.bin", "f.bin"]) expect(readFileSync(join(back, n)).equals(want)).toBe(true);
      expect(readFileSync(secret).equals(secretBytes)).toBe(true);
      expect(statSync(secret).mtimeMs).toBe(before.mtimeMs);
      expect(temps(back)).toEqual([]);
    } finally {
      await d.stop();
    }
  } finally {
    cleanup(top);
  }
});

test("under 1 MiB received, nothing is kept: a killed push and an interrupted pull leave no partial and no temporary", { timeout: 90_000 }, async () => {
  const mod = join(work, "tiny");
  mkdirSync(mod);
  writeFileSync(join(mod, "pulled.bin"), big);
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  try {
    const client = spawnBlit(["push", bigFile, `blit://127.0.0.1:${d.port}/m/big.bin`, "--bwlimit", "256K", "--retries", "0", "--no-progress"]);
    expect(await waitFor(() => tempBytes(mod) > 0, 30_000)).toBe(true);
    expect(tempBytes(mod)).toBeLessThan(MiB);
    client.kill("SIGKILL");
    await client.exited;
    expect(await waitFor(() => temps(mod).length === 0, 10_000)).toBe(true);
    expect(existsSync(join(mod, "big.bin"))).toBe(false);

    const back = join(work, "tiny-back");
    mkdirSync(back);
    const pulling = spawnBlit(["pull", `blit://127.0.0.1:${d.port}/m/pulled.bin`, back, "--bwlimit", "256K", "--retries", "0", "--no-progress"]);
    expect(await waitFor(() => tempBytes(back) > 0, 30_000)).toBe(true);
    expect(tempBytes(back)).toBeLessThan(MiB);
    pulling.kill("SIGINT");
    expect(await pulling.exited).toBe(130);
    expect(readdirSync(back)).toEqual([]);
  } finally {
    await d.stop();
  }
});

test("a part is removed once its file is in place even when nothing resumed from it: a new version too small for a basis, and a file already up to date", { timeout: 90_000 }, async () => {
  const mod = join(work, "spent");
  mkdirSync(mod);
  const f = join(work, "spent.bin");
  writeFileSync(f, big);
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  try {
    const url = `blit://127.0.0.1:${d.port}/m/big.bin`;
    const client = spawnBlit(["push", f, url, "--bwlimit", "8M", "--retries", "0", "--no-progress"]);
    expect(await waitFor(() => tempBytes(mod) >= 4 * MiB, 30_000)).toBe(true);
    client.kill("SIGKILL");
    await client.exited;
    expect(await waitFor(() => partialsOf(mod, "big.bin").length === 1, 10_000)).toBe(true);
    // The file changed meanwhile to one sent whole (under 256 KiB: no basis).
    writeFileSync(f, "now small\n");
    const r = await blit(["push", f, url]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(mod, "big.bin"), "utf8")).toBe("now small\n");
    expect(temps(mod)).toEqual([]);

    // Up to date already (pushed by someone else since): the tree push sends nothing, and the part goes.
    mkdirSync(join(mod, "t"));
    const src = join(work, "spent-src");
    mkdirSync(src);
    writeFileSync(join(src, "x.bin"), big.subarray(0, 2 * MiB));
    expect((await blit(["push", src, `blit://127.0.0.1:${d.port}/m/t`])).code).toBe(0);
    plantPartial(join(mod, "t"), "x.bin", big.subarray(0, 2 * MiB));
    const again = await blit(["push", src, `blit://127.0.0.1:${d.port}/m/t`, "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).counts.copied).toBe(0);
    expect(temps(mod)).toEqual([]);

    // And the same on a pull's side.
    const back = join(work, "spent-back");
    mkdirSync(back);
    plantPartial(back, "x.bin", big.subarray(0, 2 * MiB));
    writeFileSync(join(src, "tiny.txt"), "tiny\n");
    expect((await blit(["push", src, `blit://127.0.0.1:${d.port}/m/t`])).code).toBe(0);
    plantPartial(back, "tiny.txt", big.subarray(0, 2 * MiB));
    expect((await blit(["pull", `blit://127.0.0.1:${d.port}/m/t`, back])).code).toBe(0);
    expect(readFileSync(join(back, "tiny.txt"), "utf8")).toBe("tiny\n");
    expect(temps(back)).toEqual([]);
  } finally {
    await d.stop();
  }
});

/** True once the temporary being written in dir holds `want` at `at` (the receiver wrote past it). */
function tempHolds(dir: string, at: number, want: Uint8Array): boolean {
  for (const t of temps(dir)) {
    if (t.split("/").pop()!.startsWith(".blit-tmp-partial-")) continue;
    try {
      const fd = openSync(join(dir, t), "r");
      try {
        const buf = Buffer.alloc(want.length);
        if (readSync(fd, buf, 0, buf.length, at) === buf.length && buf.equals(want)) return true;
      } finally {
        closeSync(fd);
      }
    } catch {
      /* renamed meanwhile */
    }
  }
  return false;
}

test("an interrupted delta update keeps the old file's blocks past the break: the next push sends no more than the update needed", { timeout: 90_000 }, async () => {
  const mod = join(work, "delta-broken");
  mkdirSync(mod);
  // The daemon's old version differs from the new one in [4 MiB, 28 MiB); the rest matches.
  const old = Buffer.from(big);
  randomBytes(24 * MiB).copy(old, 4 * MiB);
  writeFileSync(join(mod, "big.bin"), old);
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  try {
    const url = `blit://127.0.0.1:${d.port}/m/big.bin`;
    const client = spawnBlit(["push", bigFile, url, "--bwlimit", "8M", "--retries", "0", "--no-progress"]);
    // The blocks after 12 MiB are new in the temporary: the update is half done.
    expect(await waitFor(() => tempHolds(mod, 12 * MiB, big.subarray(12 * MiB, 12 * MiB + 4096)), 30_000)).toBe(true);
    client.kill("SIGKILL");
    await client.exited;
    expect(await waitFor(() => partialsOf(mod, "big.bin").length === 1 && temps(mod).length === 1, 10_000)).toBe(true);
    expect(readFileSync(join(mod, "big.bin")).equals(old)).toBe(true); // the final name still holds the old file

    const r = await blit(["push", bigFile, url, "--json", "--no-progress"]);
    expect(r.code).toBe(0);
    expect(sameAsBig(join(mod, "big.bin"))).toBe(true);
    const report = JSON.parse(r.stdout);
    expect(report.transport.delta.resumedFiles).toBe(1);
    // What is left of the changed 24 MiB, not everything past the break.
    expect(report.transport.dataBytesOut).toBeLessThan(16 * MiB + SLACK);
    expect(temps(mod)).toEqual([]);
  } finally {
    await d.stop();
  }
});

test("blitd stopped (SIGTERM) mid-push and SIGKILLed mid-pull, started again: each retry resumes from the part the receiving side kept", { timeout: 90_000 }, async () => {
  const mod = pullModule("restart-both");
  const toml = moduleToml({ m: { path: mod, readOnly: false } });
  let d: Daemon = await startBlitd(work, toml);
  try {
    const pushing = spawnBlit(["push", bigFile, `blit://127.0.0.1:${d.port}/m/pushed.bin`, "--bwlimit", "8M", "--retries", "3", "--json", "--no-progress"]);
    expect(await waitFor(() => tempBytes(mod) >= 12 * MiB, 30_000)).toBe(true);
    await d.stop("SIGTERM"); // a clean stop keeps the part as a broken connection does
    expect(partialsOf(mod, "pushed.bin")).toHaveLength(1);
    d = await startBlitd(work, toml, ["--bind", `127.0.0.1:${d.port}`]);
    const p = await finish(pushing);
    expect(p.code).toBe(0);
    expect(sameAsBig(join(mod, "pushed.bin"))).toBe(true);
    expect(JSON.parse(p.stdout).transport.delta.resumedFiles).toBe(1);
    expect(temps(mod)).toEqual([]);

    const dst = join(work, "restart-both-dst");
    mkdirSync(dst);
    const pulling = spawnBlit(["pull", `blit://127.0.0.1:${d.port}/m/tree/big.bin`, dst, "--bwlimit", "8M", "--retries", "3", "--json", "--no-progress"]);
    expect(await waitFor(() => tempBytes(dst) >= 12 * MiB, 30_000)).toBe(true);
    await d.stop("SIGKILL");
    d = await startBlitd(work, toml, ["--bind", `127.0.0.1:${d.port}`]);
    const q = await finish(pulling);
    expect(q.code).toBe(0);
    expect(sameAsBig(join(dst, "big.bin"))).toBe(true);
    const report = JSON.parse(q.stdout);
    expect(report.transport.retries.length).toBeGreaterThanOrEqual(1);
    expect(report.transport.delta.resumedFiles).toBe(1);
    expect(report.transport.delta.resumedBytes).toBeGreaterThanOrEqual(12 * MiB - SLACK);
    expect(temps(dst)).toEqual([]);
  } finally {
    await d.stop();
  }
});

test("what a killed process was writing is adopted whatever its name holds (a newline, spaces, accents): by the next tree pull and by blitd's start", { timeout: 90_000 }, async () => {
  const name = "été 2\nfichier.bin";
  const mod = join(work, "odd-names");
  mkdirSync(join(mod, "t"), { recursive: true });
  writeFileSync(join(mod, "t", name), big);
  const dst = join(work, "odd-names-dst");
  mkdirSync(dst);
  // As a killed pull leaves it: its random key, the name, the first 8 MiB.
  writeFileSync(join(dst, `.blit-tmp-0123456789abcdef-${name}`), big.subarray(0, 8 * MiB));
  // As a killed blitd leaves it in a module.
  const crashed = join(mod, "u");
  mkdirSync(crashed);
  writeFileSync(join(crashed, `.blit-tmp-fedcba9876543210-${name}`), big.subarray(0, 8 * MiB));
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  try {
    expect(readdirSync(crashed)).toEqual([partialName(name)]);
    const r = await blit(["pull", `blit://127.0.0.1:${d.port}/m/t`, dst, "--json"]);
    expect(r.code).toBe(0);
    expect(sameAsBig(join(dst, name))).toBe(true);
    expectResumed(JSON.parse(r.stdout), "dataBytesIn", 8 * MiB);
    expect(temps(dst)).toEqual([]);
  } finally {
    await d.stop();
  }
});

test("broken off twice: the second attempt's part replaces the first once it holds more, and the third push sends only the last stretch", { timeout: 90_000 }, async () => {
  const mod = join(work, "twice");
  mkdirSync(mod);
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  const url = `blit://127.0.0.1:${d.port}/m/big.bin`;
  const killAt = async (bytes: number) => {
    const client = spawnBlit(["push", bigFile, url, "--bwlimit", "8M", "--retries", "0", "--no-progress"]);
    expect(await waitFor(() => tempHolds(mod, bytes, big.subarray(bytes, bytes + 4096)), 30_000)).toBe(true);
    client.kill("SIGKILL");
    await client.exited;
    expect(await waitFor(() => temps(mod).length === 1 && partialsOf(mod, "big.bin").length === 1, 10_000)).toBe(true);
    return statSync(join(mod, partialsOf(mod, "big.bin")[0]!)).size;
  };
  try {
    expect(await killAt(8 * MiB)).toBeGreaterThan(8 * MiB);
    expect(await killAt(24 * MiB)).toBeGreaterThan(24 * MiB);
    const r = await blit(["push", bigFile, url, "--json"]);
    expect(r.code).toBe(0);
    expect(sameAsBig(join(mod, "big.bin"))).toBe(true);
    expectResumed(JSON.parse(r.stdout), "dataBytesOut", 24 * MiB);
    expect(temps(mod)).toEqual([]);
  } finally {
    await d.stop();
  }
});
