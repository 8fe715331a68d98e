// Limits that hold before authentication, and deadlines on every slot and data port: strangers
// holding half-open HTTP/2 streams, abandoned negotiations, idle sockets on a data port.
import { afterEach, describe, expect, test } from "bun:test";
import http2 from "node:http2";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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
