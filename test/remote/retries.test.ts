// --retries: a daemon killed or restarted mid-transfer makes the client reconnect and finish on
// its own with an exact tree and no temporaries; what cannot succeed (a rejected token) is not
// retried; retries give up after N with the count in the error; --retries 0 fails at once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { getRun, listRuns } from "../../analytics/index.ts";
import { backoffMs, MAX_RETRIES, normalizeOptions } from "../../engine/index.ts";
import { blit, cleanup, diffR, moduleToml, spawnBlit, startBlitd, tempDir, type Daemon, temps } from "./helpers.ts";

let work: string;
let src: string;
const FILES = 6;
const SIZE = 3 << 20;

beforeAll(() => {
  work = tempDir("retries-");
  src = join(work, "src");
  mkdirSync(join(src, "sub"), { recursive: true });
  for (let i = 0; i < FILES; i++) writeFileSync(join(src, `sub/f${i}.bin`), randomBytes(SIZE));
  for (let i = 0; i < 200; i++) writeFileSync(join(src, `small${i}.txt`), `small ${i}\n`);
});

afterAll(() => cleanup(work));

function finished(dir: string): number {
  return existsSync(join(dir, "sub")) ? readdirSync(join(dir, "sub")).filter((n) => !n.startsWith(".blit-tmp-")).length : 0;
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await Bun.sleep(5);
  }
  return cond();
}

/** The same daemon again on the same port (as after a crash and a restart by systemd). */
function restart(d: Daemon, toml: string): Promise<Daemon> {
  return startBlitd(work, toml, ["--bind", `127.0.0.1:${d.port}`]);
}

async function finish(client: ReturnType<typeof spawnBlit>, err?: { text: string; done: Promise<void> }) {
  if (err) {
    const [code, stdout] = await Promise.all([client.exited, new Response(client.stdout).text(), err.done]);
    return { code, stdout, stderr: err.text };
  }
  const [code, stdout, stderr] = await Promise.all([client.exited, new Response(client.stdout).text(), new Response(client.stderr).text()]);
  return { code, stdout, stderr };
}

/** A client's stderr as it arrives (text grows; done resolves at its end). */
function firstLines(client: ReturnType<typeof spawnBlit>): { text: string; done: Promise<void> } {
  const out = { text: "", done: Promise.resolve() };
  out.done = (async () => {
    for await (const c of client.stderr as ReadableStream<Uint8Array>) out.text += new TextDecoder().decode(c);
  })();
  return out;
}

test("blitd killed and restarted mid-push: the client reconnects, finishes with an exact tree, reports the retry, no temporaries", { timeout: 90_000 }, async () => {
  const mod = join(work, "push-module");
  mkdirSync(mod);
  const toml = moduleToml({ m: { path: mod, readOnly: false } });
  let d = await startBlitd(work, toml);
  try {
    const client = spawnBlit(["push", src, `blit://127.0.0.1:${d.port}/m/dst`, "--bwlimit", "4M", "--retries", "5", "--json", "--no-progress"]);
    // In flight: some files landed, one is being written under a temporary name.
    expect(await waitFor(() => finished(join(mod, "dst")) >= 1 && temps(mod).length > 0, 30_000)).toBe(true);
    await d.stop("SIGKILL");
    d = await restart(d, toml);
    const r = await finish(client);
    expect(r.code).toBe(0);
    expect((await diffR(src, join(mod, "dst"))).same).toBe(true);
    const report = JSON.parse(r.stdout);
    expect(report.status).toBe("ok");
    expect(report.transport.retries.length).toBeGreaterThanOrEqual(1);
    expect(report.transport.attempts).toBe(report.transport.retries.length + 1);
    expect(report.transport.retries[0].reason).toContain(`127.0.0.1:${d.port}`);
    // the advice "then run again (--retries N retries by itself)" belongs to a final failure, not to a retried one
    expect(report.transport.retries[0].reason).not.toContain("retries by itself");
    expect(report.transport.retries[0].delayMs).toBeGreaterThanOrEqual(500);
    // The retry skipped what had landed: the last attempt sent fewer than all the files.
    expect(report.counts.copied).toBeLessThan(FILES + 200);
    expect(r.stderr).toMatch(/push: attempt 1 of 6 failed: .*127\.0\.0\.1.*; retrying in/);
    expect(r.stderr).not.toContain("Resolution note");
    expect(temps(mod)).toEqual([]);
    expect(temps(src)).toEqual([]);
  } finally {
    await d.stop();
  }
});

test("blitd stopped and restarted mid-pull: the client reconnects and finishes, no temporaries on either side", { timeout: 90_000 }, async () => {
  const mod = join(work, "pull-module");
  mkdirSync(mod);
  const toml = moduleToml({ m: { path: mod, readOnly: false } });
  let d = await startBlitd(work, toml);
  const dst = join(work, "pull-dst");
  try {
    expect((await blit(["push", src, `blit://127.0.0.1:${d.port}/m`])).code).toBe(0);
    const home = join(work, "pull-home");
    const client = spawnBlit(["pull", `blit://127.0.0.1:${d.port}/m`, dst, "--bwlimit", "4M", "--json", "--no-progress"], { BLIT_TELEMETRY: "on", BLIT_HOME: home });
    expect(await waitFor(() => finished(dst) >= 1 && temps(dst).length > 0, 30_000)).toBe(true);
    await d.stop("SIGTERM");
    d = await restart(d, toml);
    const r = await finish(client);
    expect(r.code).toBe(0);
    expect((await diffR(src, dst)).same).toBe(true);
    const report = JSON.parse(r.stdout);
    expect(report.transport.retries.length).toBeGreaterThanOrEqual(1);
    expect(report.transport.retries[0].reason).toContain("127.0.0.1");
    expect(report.options.retries).toBe(3);
    // The stored run keeps them too.
    const store = join(home, "telemetry.duckdb");
    const stored = await getRun((await listRuns({ path: store }))[0]!.id, { path: store });
    expect(stored!.transport!.retries).toEqual(report.transport.retries);
    expect(stored!.transport!.attempts).toBe(report.transport.attempts);
    expect(r.stderr).not.toContain("Resolution note");
    expect(temps(dst)).toEqual([]);
    expect(temps(mod)).toEqual([]);
  } finally {
    await d.stop();
  }
});

test.each([["tcp"], ["grpc"]])("--retries 0: a daemon killed mid-push (data over %s) fails the run at once, one line naming the host and what failed", async (kind) => {
  const mod = join(work, `once-module-${kind}`);
  mkdirSync(mod);
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  try {
    const client = spawnBlit(["push", src, `blit://127.0.0.1:${d.port}/m`, "--bwlimit", "4M", "--retries", "0", "--no-progress", ...(kind === "grpc" ? ["--force-grpc"] : [])]);
    expect(await waitFor(() => temps(mod).length > 0, 30_000)).toBe(true);
    await d.stop("SIGKILL");
    const t0 = Date.now();
    const r = await finish(client);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain("retrying");
    expect(r.stderr).not.toContain("Resolution note");
    expect(r.stderr).toMatch(new RegExp(`connection to 127\\.0\\.0\\.1:${d.port} lost while`));
    expect(r.stderr).not.toMatch(/\d+ [A-Z_]+: /); // no gRPC status prefix
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("check that blitd still runs on that host");
  } finally {
    await d.stop();
  }
});

test("a missing module, a read-only module and a path outside the module are not retried", { timeout: 60_000 }, async () => {
  const ro = join(work, "ro-module");
  mkdirSync(ro);
  const d = await startBlitd(work, moduleToml({ ro: { path: ro, readOnly: true } }));
  try {
    for (const [url, words] of [["nope", "not found"], ["ro", "read-only"], ["ro/../..", ""]] as const) {
      const t0 = Date.now();
      const r = await blit(["push", src, `blit://127.0.0.1:${d.port}/${url}`, "--retries", "5"]);
      expect(r.code).toBe(2);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(r.stderr).not.toContain("retrying");
      expect(r.stderr).toContain(words);
    }
  } finally {
    await d.stop();
  }
});

test("a wrong auth token is not retried: one attempt, fast, the token named as the fix", { timeout: 60_000 }, async () => {
  const mod = join(work, "auth-module");
  mkdirSync(mod);
  const tokenFile = join(work, "token");
  writeFileSync(tokenFile, "right-token-0123456789abcdef\n", { mode: 0o600 });
  const wrong = join(work, "wrong-token");
  writeFileSync(wrong, "wrong-token-0123456789abcdef\n", { mode: 0o600 });
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }, `auth_token_file = ${JSON.stringify(tokenFile)}`));
  try {
    const t0 = Date.now();
    const r = await blit(["push", src, `blit://127.0.0.1:${d.port}/m`, "--auth-token-file", wrong, "--retries", "5", "--json"]);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("auth token rejected");
    expect(r.stderr).not.toContain("retrying");
    expect(JSON.parse(r.stdout).transport.retries).toEqual([]);
  } finally {
    await d.stop();
  }
});

test("retries give up after N with the count in the error (no daemon listening)", { timeout: 60_000 }, async () => {
  const d = await startBlitd(work, moduleToml({ m: { path: work } }));
  await d.stop();
  const r = await blit(["pull", `blit://127.0.0.1:${d.port}/m`, join(work, "never"), "--retries", "2", "--no-progress"]);
  expect(r.code).toBe(2);
  expect(r.stderr.match(/retrying in/g)?.length).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`gave up after 3 attempts \\(--retries 2\\): cannot reach 127\\.0\\.0\\.1:${d.port}`));
  expect(existsSync(join(work, "never"))).toBe(false);
});

test("ls and a remote check ask again while blitd restarts, and answer once it is back", { timeout: 60_000 }, async () => {
  const mod = join(work, "ls-module");
  mkdirSync(join(mod, "d"), { recursive: true });
  writeFileSync(join(mod, "d", "x.txt"), "x\n");
  const toml = moduleToml({ m: { path: mod } });
  let d = await startBlitd(work, toml);
  try {
    await d.stop("SIGKILL");
    // Both start while nothing listens; blitd comes back on the same port during their backoff.
    const ls = spawnBlit(["ls", `blit://127.0.0.1:${d.port}/m/d`, "--retries", "5"]);
    const check = spawnBlit(["check", `blit://127.0.0.1:${d.port}/m`, mod, "--retries", "5"]);
    const lsErr = firstLines(ls);
    const checkErr = firstLines(check);
    // blitd comes back once both have failed a first time (their stderr says so)
    expect(await waitFor(() => lsErr.text.includes("retrying") && checkErr.text.includes("retrying"), 20_000)).toBe(true);
    d = await restart(d, toml);
    const [l, c] = await Promise.all([finish(ls, lsErr), finish(check, checkErr)]);
    expect(l.code).toBe(0);
    expect(l.stdout).toContain("x.txt");
    expect(l.stderr).toMatch(/ls: attempt 1 of 6 failed: cannot reach 127\.0\.0\.1:\d+/);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/check: attempt 1 of 6 failed/);
  } finally {
    await d.stop();
  }
  // --retries 0: the first loss is final, at once.
  const r = await blit(["ls", `blit://127.0.0.1:${d.port}/m`, "--retries", "0"]);
  expect(r.code).toBe(2);
  expect(r.stderr).not.toContain("retrying");
});

test("--retries takes a whole number from 0 to 100", async () => {
  for (const bad of ["-1", "1.5", "x", "101"]) {
    const r = await blit(["push", src, "blit://127.0.0.1:1/m", `--retries=${bad}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--retries");
    expect(r.stderr).toContain(bad === "101" ? "from 0 to 100" : bad);
  }
});

test("20,000 small files pushed over the gRPC data stream, blitd killed and restarted mid-push: an exact tree, no temporaries", { timeout: 120_000 }, async () => {
  const many = join(work, "many");
  for (let d = 0; d < 100; d++) {
    mkdirSync(join(many, `d${d}`), { recursive: true });
    for (let f = 0; f < 200; f++) writeFileSync(join(many, `d${d}/f${f}.txt`), `file ${d}/${f} `.repeat(40));
  }
  const mod = join(work, "many-module");
  mkdirSync(mod);
  const toml = moduleToml({ m: { path: mod, readOnly: false } });
  let d = await startBlitd(work, toml);
  try {
    const client = spawnBlit(["push", many, `blit://127.0.0.1:${d.port}/m/dst`, "--force-grpc", "--bwlimit", "4M", "--retries", "5", "--json", "--no-progress"]);
    const landed = () => (existsSync(join(mod, "dst")) ? readdirSync(join(mod, "dst"), { recursive: true }).length : 0);
    expect(await waitFor(() => landed() > 2000, 60_000)).toBe(true);
    await d.stop("SIGKILL");
    d = await restart(d, toml);
    const r = await finish(client);
    expect(r.code).toBe(0);
    expect((await diffR(many, join(mod, "dst"))).same).toBe(true);
    const report = JSON.parse(r.stdout);
    expect(report.transport.kind).toBe("grpc");
    expect(report.transport.retries.length).toBeGreaterThanOrEqual(1);
    expect(report.counts.copied).toBeLessThan(20_000); // the retry skipped what had landed
    expect(temps(mod)).toEqual([]);
  } finally {
    await d.stop();
  }
});

const OPENSSL = Bun.which("openssl");
if (!OPENSSL) console.warn("retries.test.ts: TLS tests skipped: openssl is not installed (apt-get install openssl)");

describe.skipIf(!OPENSSL)("over TLS (blits://)", () => {
  let pki: string;
  const leaf = (name: string) => ({ cert: join(pki, `${name}.crt`), key: join(pki, `${name}.key`) });
  const tlsToml = (name: string, mod: string) =>
    `tls_cert_file = ${JSON.stringify(leaf(name).cert)}\ntls_key_file = ${JSON.stringify(leaf(name).key)}\n${moduleToml({ m: { path: mod, readOnly: false } })}`;

  beforeAll(() => {
    pki = join(work, "pki");
    mkdirSync(pki);
    const ssl = (args: string[]) => {
      const r = Bun.spawnSync([OPENSSL!, ...args], { cwd: pki, stdout: "pipe", stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
    };
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    ssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=ca"]);
    // Two daemon keys for the same address: the second is "the key changed".
    for (const name of ["one", "two"]) {
      ssl(["req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
      writeFileSync(join(pki, `${name}.ext`), "subjectAltName=IP:127.0.0.1\n");
      ssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`]);
    }
  });

  test("blitd killed and restarted mid-push: the client reconnects over TLS and finishes", { timeout: 90_000 }, async () => {
    const mod = join(work, "tls-module");
    mkdirSync(mod);
    let d = await startBlitd(work, tlsToml("one", mod));
    try {
      const client = spawnBlit(["push", src, `blits://127.0.0.1:${d.port}/m/dst`, "--tls-ca", join(pki, "ca.crt"), "--bwlimit", "4M", "--retries", "5", "--no-progress"]);
      expect(await waitFor(() => finished(join(mod, "dst")) >= 1 && temps(mod).length > 0, 30_000)).toBe(true);
      await d.stop("SIGKILL");
      d = await startBlitd(work, tlsToml("one", mod), ["--bind", `127.0.0.1:${d.port}`]);
      const r = await finish(client);
      expect(r.code).toBe(0);
      expect((await diffR(src, join(mod, "dst"))).same).toBe(true);
      // The summary says it: TLS, how many retries and attempts, and why.
      expect(r.stdout).toContain("data via tcp+tls");
      expect(r.stdout).toMatch(new RegExp(`retried \\d+ times? \\(\\d+ attempts\\): connection to 127\\.0\\.0\\.1:${d.port} lost while sending data`));
      expect(temps(mod)).toEqual([]);
    } finally {
      await d.stop();
    }
  });

  test("a daemon back with another key than the one pinned: the retry stops at the TLS check, not retried again", { timeout: 90_000 }, async () => {
    const mod = join(work, "tls-pin-module");
    mkdirSync(mod);
    const home = join(work, "tls-home");
    mkdirSync(home);
    let d = await startBlitd(work, tlsToml("one", mod));
    try {
      await waitFor(() => /key fingerprint SHA256:\S+/.test(d.stderr()), 5000);
      const fp = /key fingerprint (SHA256:\S+)/.exec(d.stderr())![1]!;
      const client = spawnBlit(["push", src, `blits://127.0.0.1:${d.port}/m/dst`, "--tls-fingerprint", fp, "--bwlimit", "4M", "--retries", "5", "--no-progress"], { BLIT_HOME: home });
      expect(await waitFor(() => temps(mod).length > 0, 30_000)).toBe(true);
      await d.stop("SIGKILL");
      d = await startBlitd(work, tlsToml("two", mod), ["--bind", `127.0.0.1:${d.port}`]);
      const r = await finish(client);
      expect(r.code).toBe(2);
      // Retried while the daemon was away; then the changed key ends the run, at once, as the last line.
      expect(r.stderr).toContain("retrying in");
      const last = r.stderr.trim().split("\n").pop()!;
      expect(last).toContain(`the key of the daemon at 127.0.0.1:${d.port} has CHANGED`);
      expect(r.stderr).not.toContain("gave up");
    } finally {
      await d.stop();
    }
  });
});

test("SIGTERM while waiting to retry ends the run at once as interrupted (exit 130)", { timeout: 60_000 }, async () => {
  const d = await startBlitd(work, moduleToml({ m: { path: work } }));
  await d.stop();
  const client = spawnBlit(["pull", `blit://127.0.0.1:${d.port}/m`, join(work, "never-2"), "--retries", "10", "--no-progress"]);
  const reader = client.stderr.getReader();
  let err = "";
  // The 4th retry waits 4 s or more: a signal during it must not wait that out.
  while ((err.match(/retrying in/g)?.length ?? 0) < 4) {
    const { value, done } = await reader.read();
    if (done) break;
    err += new TextDecoder().decode(value);
  }
  expect(err).toContain("attempt 4 of 11 failed");
  const t0 = Date.now();
  client.kill("SIGTERM");
  expect(await client.exited).toBe(130);
  expect(Date.now() - t0).toBeLessThan(2500);
  expect(existsSync(join(work, "never-2"))).toBe(false);
});

test("normalizeOptions: retries is a whole number 0..100, absent unless given; the backoff doubles from 0.5 s to 30 s with up to 25% jitter", () => {
  expect("retries" in normalizeOptions({})).toBe(false);
  expect(normalizeOptions({ retries: 0 }).retries).toBe(0);
  expect(normalizeOptions({ retries: MAX_RETRIES }).retries).toBe(100);
  for (const bad of [-1, 1.5, 101, Number.NaN]) expect(() => normalizeOptions({ retries: bad })).toThrow(`--retries must be a whole number from 0 to 100, got ${bad}`);
  for (let i = 0; i < 50; i++) {
    for (const [attempt, base] of [[1, 500], [2, 1000], [3, 2000], [7, 30_000], [40, 30_000]] as const) {
      const ms = backoffMs(attempt);
      expect(ms).toBeGreaterThanOrEqual(base);
      expect(ms).toBeLessThanOrEqual(base * 1.25);
    }
  }
});

/** A TCP relay to `port` whose connections can be cut at once (a network that drops), while it keeps accepting. */
async function relay(port: number) {
  const open = new Set<Socket>();
  const server = createServer((c) => {
    const up = connect(port, "127.0.0.1");
    for (const s of [c, up]) {
      open.add(s);
      s.on("error", () => {});
      s.on("close", () => open.delete(s));
    }
    c.pipe(up);
    up.pipe(c);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      for (const s of open) s.destroy();
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test("the network drops mid-pull and mid-push (blitd stays up): the client reconnects and finishes; blitd keeps no temporaries", { timeout: 90_000 }, async () => {
  const mod = join(work, "drop-module");
  mkdirSync(mod);
  const d = await startBlitd(work, moduleToml({ m: { path: mod, readOnly: false } }));
  const net = await relay(d.port);
  try {
    // Through the relay, data and all (--force-grpc: one connection to cut).
    const url = `blit://127.0.0.1:${net.port}/m/dst`;
    const pushing = spawnBlit(["push", src, url, "--force-grpc", "--bwlimit", "4M", "--json", "--no-progress"]);
    expect(await waitFor(() => finished(join(mod, "dst")) >= 1 && temps(mod).length > 0, 30_000)).toBe(true);
    net.cut();
    const p = await finish(pushing);
    expect(p.code).toBe(0);
    expect((await diffR(src, join(mod, "dst"))).same).toBe(true);
    expect(JSON.parse(p.stdout).transport.retries[0].reason).toContain(`127.0.0.1:${net.port}`);
    expect(await waitFor(() => temps(mod).length === 0, 5000)).toBe(true);

    const back = join(work, "drop-back");
    const pulling = spawnBlit(["pull", url, back, "--force-grpc", "--bwlimit", "4M", "--json", "--no-progress"]);
    expect(await waitFor(() => finished(back) >= 1 && temps(back).length > 0, 30_000)).toBe(true);
    net.cut();
    const q = await finish(pulling);
    expect(q.code).toBe(0);
    expect((await diffR(src, back)).same).toBe(true);
    expect(JSON.parse(q.stdout).transport.retries.length).toBeGreaterThanOrEqual(1);
    expect(temps(back)).toEqual([]);
    expect(d.alive()).toBe(true);
  } finally {
    await net.close();
    await d.stop();
  }
});
