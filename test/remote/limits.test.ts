// Limits that hold before authentication, and deadlines on every slot and data port: strangers
// holding half-open HTTP/2 streams, abandoned negotiations, idle sockets on a data port.
import { afterEach, describe, expect, test } from "bun:test";
import http2 from "node:http2";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { emptyTree, T_FILE, type Tree } from "../../engine/index.ts";
import {
  doneFrame, encodeFrame, encodeManifest, fileFrame, FrameDecoder, F_DATA, F_DONE, F_FILE_END, F_HELLO, F_NEED, F_NEED_END, grpc, u32List,
} from "../../proto/index.ts";
import { blit, cleanup, moduleToml, rawClient, rpc, startBlitd, tempDir, type Daemon } from "./helpers.ts";

const TOKEN = "s3cret-token-0123456789abcdef";
let dirs: string[] = [];
let daemons: Daemon[] = [];
let sessions: http2.ClientHttp2Session[] = [];

afterEach(async () => {
  for (const s of sessions) s.destroy();
  for (const d of daemons) await d.stop();
  cleanup(...dirs);
  sessions = [];
  daemons = [];
  dirs = [];
});

/** A daemon with a token and module `m`; `extra` adds top-level keys. */
async function daemonWithToken(extra: string): Promise<{ d: Daemon; dir: string; tokenFile: string }> {
  const dir = tempDir("limits-");
  dirs.push(dir);
  mkdirSync(join(dir, "m"));
  writeFileSync(join(dir, "m/file.txt"), "hello\n");
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const d = await startBlitd(dir, moduleToml({ m: { path: join(dir, "m"), readOnly: false } }, `auth_token_file = ${JSON.stringify(tokenFile)}\n${extra}`));
  daemons.push(d);
  return { d, dir, tokenFile };
}

/**
 * A stranger: an HTTP/2 session that starts a `Data` call without the token and never sends a
 * message nor ends its side. Resolves `closed` when the daemon closes the session.
 */
function halfOpenDataStream(port: number): { closed: Promise<number> } {
  const t0 = Date.now();
  const s = http2.connect(`http://127.0.0.1:${port}`);
  sessions.push(s);
  s.on("error", () => {});
  const closed = new Promise<number>((r) => s.once("close", () => r(Date.now() - t0)));
  const st = s.request({ ":method": "POST", ":path": "/blit.v1.Blit/Data", "content-type": "application/grpc", te: "trailers" }, { endStream: false });
  st.on("error", () => {});
  st.on("data", () => {});
  return { closed };
}

describe("limits before authentication", () => {
  test("8 half-open Data streams from strangers: an authenticated `blit ls` is served meanwhile, and the strangers are closed at the handshake deadline", { timeout: 30_000 }, async () => {
    const { d, tokenFile } = await daemonWithToken("max_connections = 8\nidle_timeout = 20\nhandshake_timeout = 2");
    const strangers = Array.from({ length: 8 }, () => halfOpenDataStream(d.port));
    await Bun.sleep(300); // the streams are open and answered "auth token rejected"
    const t0 = Date.now();
    const ls = await blit(["ls", `blit://127.0.0.1:${d.port}`, "--auth-token-file", tokenFile]);
    expect(ls.stderr).toBe("");
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain("m");
    expect(Date.now() - t0).toBeLessThan(5000);
    // every stranger is closed by the daemon soon after handshake_timeout (2 s)
    const closedAfter = await Promise.race([Promise.all(strangers.map((s) => s.closed)), Bun.sleep(10_000).then(() => [] as number[])]);
    expect(closedAfter.length).toBe(8);
    for (const ms of closedAfter) expect(ms).toBeLessThan(6000);
    expect(d.stderr()).toContain("no authenticated call within 2 s (handshake_timeout)");
    // an authenticated connection is not held to the handshake deadline
    const c = rawClient(d.port, true);
    try {
      expect((await rpc(c, "ListModules", {}, TOKEN)).modules.length).toBe(1);
      await Bun.sleep(2500);
      expect((await rpc(c, "ListModules", {}, TOKEN)).modules.length).toBe(1);
    } finally {
      c.close();
    }
    expect(d.alive()).toBe(true);
  });

  test("strangers beyond max_unauthenticated push out the oldest stranger; a client still gets in", { timeout: 30_000 }, async () => {
    const { d, tokenFile } = await daemonWithToken("max_connections = 2\nmax_unauthenticated = 3\nhandshake_timeout = 20");
    const strangers = Array.from({ length: 6 }, () => halfOpenDataStream(d.port));
    // the first three are closed to make room for the next three, long before the deadline
    const early = await Promise.race([Promise.all(strangers.slice(0, 3).map((s) => s.closed)), Bun.sleep(8000).then(() => [] as number[])]);
    expect(early.length).toBe(3);
    const ls = await blit(["ls", `blit://127.0.0.1:${d.port}/m`, "--auth-token-file", tokenFile]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain("file.txt");
    expect(d.stderr()).toContain("(max_unauthenticated)");
  });
});

/** A daemon without a token (loopback) serving module `m` (writable, one file). */
async function plainDaemon(extra: string): Promise<{ d: Daemon; dir: string }> {
  const dir = tempDir("deadlines-");
  dirs.push(dir);
  mkdirSync(join(dir, "m"));
  writeFileSync(join(dir, "m/file.txt"), "hello\n");
  const d = await startBlitd(dir, moduleToml({ m: { path: join(dir, "m"), readOnly: false } }, extra));
  daemons.push(d);
  return { d, dir };
}

/** Waits until `cond` holds, polling, for at most `ms`. */
async function eventually(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await Bun.sleep(50)) if (cond()) return true;
  return cond();
}

/** Connects to a data port; `frames` collects what the daemon sends, `closed` resolves on close. */
async function dataSocket(port: number) {
  let closedAt = 0;
  const seen: number[] = [];
  const dec = new FrameDecoder({ frame: (type) => void seen.push(type), data: () => {} });
  const t0 = Date.now();
  const s = await Bun.connect({
    hostname: "127.0.0.1", port,
    socket: {
      data(_s, b) {
        try {
          dec.feed(b);
        } catch {}
      },
      close() {
        closedAt = Date.now() - t0;
      },
      error() {},
    },
  });
  return { s, seen, closedAfter: () => closedAt };
}

const oneFile = (name: string, size: number): Tree => ({
  ...emptyTree(), rootExists: true, rootMode: 0o755, paths: [name], types: [T_FILE], sizes: [size], modes: [0o644],
  mtimeSec: [1_700_000_000], mtimeNsec: [0],
});

describe("every transfer slot and data port has a deadline", () => {
  test("8 negotiated and abandoned transfers give their slots back at the token TTL, and are ended at complete_timeout", { timeout: 30_000 }, async () => {
    const { d, dir } = await plainDaemon("max_connections = 8\nidle_timeout = 60\ntoken_ttl = 1\ncomplete_timeout = 2");
    const c = rawClient(d.port, true);
    try {
      for (let k = 0; k < 8; k++) expect((await rpc(c, "Negotiate", { direction: "pull", module: "m", path: "" })).data_port).toBeGreaterThan(0);
      const busy = await rpc(c, "Negotiate", { direction: "pull", module: "m", path: "" }).then(() => undefined, (e: { code: number; details: string }) => e);
      expect(busy?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(busy?.details).toContain("at its limit of 8 concurrent transfers");
      await Bun.sleep(1300); // token_ttl = 1: no data connection came, the slots are free
      const t0 = Date.now();
      const pull = await blit(["pull", `blit://127.0.0.1:${d.port}/m`, join(dir, "dst")]);
      expect(pull.stderr).toBe("");
      expect(pull.code).toBe(0);
      expect(readFileSync(join(dir, "dst/file.txt"), "utf8")).toBe("hello\n");
      expect(Date.now() - t0).toBeLessThan(8000);
      // and the 8 are ended complete_timeout after their tokens expired
      expect(await eventually(() => (d.stderr().match(/after its data connection never came \(complete_timeout\); ended/g) ?? []).length === 8, 5000)).toBe(true);
    } finally {
      c.close();
    }
  });

  test("a transfer whose data is done but whose Complete never comes is ended after complete_timeout", { timeout: 30_000 }, async () => {
    const { d } = await plainDaemon("idle_timeout = 60\ncomplete_timeout = 1");
    const c = rawClient(d.port, true);
    try {
      const neg = await rpc(c, "Negotiate", { direction: "pull", module: "m", path: "" });
      const sock = await dataSocket(neg.data_port);
      sock.s.write(encodeFrame(F_HELLO, neg.token));
      sock.s.write(encodeFrame(F_NEED, u32List([0])));
      sock.s.write(encodeFrame(F_NEED_END));
      expect(await eventually(() => sock.seen.includes(F_DONE), 5000)).toBe(true);
      sock.s.end();
      // no Complete: the daemon ends it about a second later, not after idle_timeout (60 s)
      expect(await eventually(() => d.stderr().includes(`transfer ${neg.transfer_id}: no Complete within 1 s after its data ended (complete_timeout); ended`), 5000)).toBe(true);
      const late = await rpc(c, "Complete", { transfer_id: neg.transfer_id }).then(() => undefined, (e: { code: number }) => e);
      expect(late?.code).toBe(grpc.status.NOT_FOUND);
    } finally {
      c.close();
    }
  });

  test("idle sockets on a transfer's data port do not stop the client that holds the token; each is closed at its HELLO deadline", { timeout: 30_000 }, async () => {
    const { d, dir } = await plainDaemon("handshake_timeout = 2\ntoken_ttl = 20");
    const c = rawClient(d.port, true);
    try {
      const body = new TextEncoder().encode("pushed through\n");
      const neg = await rpc(c, "Negotiate", { direction: "push", module: "m", path: "in", manifest: encodeManifest(oneFile("f.txt", body.length)) });
      const idle: Awaited<ReturnType<typeof dataSocket>>[] = [];
      for (let k = 0; k < 8; k++) idle.push(await dataSocket(neg.data_port));
      await Bun.sleep(100);
      const real = await dataSocket(neg.data_port);
      real.s.write(encodeFrame(F_HELLO, neg.token));
      real.s.write(fileFrame(0, body.length));
      real.s.write(encodeFrame(F_DATA, body));
      real.s.write(encodeFrame(F_FILE_END));
      real.s.write(doneFrame(1, 0));
      expect(await eventually(() => real.seen.includes(F_DONE), 5000)).toBe(true);
      real.s.end();
      const done = await rpc(c, "Complete", { transfer_id: neg.transfer_id });
      expect(done.status).toBe("ok");
      expect(readFileSync(join(dir, "m/in/f.txt"), "utf8")).toBe("pushed through\n");
      // the idle ones: the oldest made room for the client at once, the rest met their HELLO deadline
      expect(await eventually(() => idle.every((s) => s.closedAfter() > 0), 6000)).toBe(true);
      for (const s of idle) expect(s.closedAfter()).toBeLessThan(4000);
    } finally {
      c.close();
    }
  });
});

describe("a client that walks before it negotiates", () => {
  test("a push whose source walk outlasts handshake_timeout is not cut off (the client authenticates its connection first)", { timeout: 60_000 }, async () => {
    const { d, dir } = await plainDaemon("handshake_timeout = 0.05");
    // a source walk far longer than 0.05 s: 2000 entries, each matched against 900 --exclude globs
    const src = join(dir, "src");
    for (let k = 0; k < 4; k++) {
      mkdirSync(join(src, `d${k}`), { recursive: true });
      for (let i = 0; i < 500; i++) writeFileSync(join(src, `d${k}`, `f${i}`), "");
    }
    const excludes = Array.from({ length: 900 }, (_, k) => ["--exclude", `*.nomatch-${k}-*[0-9]`]).flat();
    const push = await blit(["push", src, `blit://127.0.0.1:${d.port}/m/big`, "--dry-run", ...excludes]);
    expect(push.stderr).toBe("");
    expect(push.code).toBe(0);
  });
});
