// The daemon and the client trust nothing they receive: traversal attempts, hostile manifests,
// garbage on the data port and on gRPC, auth tokens, token expiry.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  emptyTree, planTrees, T_DIR, T_FILE, T_LINK, TreeReceiver, type Tree,
} from "../../engine/index.ts";
import { openRooted } from "../../ffi/index.ts";
import { decodeManifest, encodeFrame, encodeManifest, F_FILE, F_HELLO, grpc, u32List } from "../../proto/index.ts";
import { blit, cleanup, moduleToml, rawClient, rpc, startBlitd, tempDir, type Daemon } from "./helpers.ts";

let work: string;
let mod: string;
let outside: string;
let d: Daemon;

function tree(entries: [string, number, string?][]): Tree {
  const t = emptyTree();
  const paths: string[] = [];
  const types: number[] = [];
  const sizes: number[] = [];
  const modes: number[] = [];
  const secs: number[] = [];
  const nsecs: number[] = [];
  entries.forEach(([p, type, link], i) => {
    paths.push(p);
    types.push(type);
    sizes.push(type === T_FILE ? 5 : 0);
    modes.push(type === T_DIR ? 0o755 : 0o644);
    secs.push(1_700_000_000);
    nsecs.push(0);
    if (link) t.links[i] = link;
  });
  return { ...t, paths, types, sizes, modes, mtimeSec: secs, mtimeNsec: nsecs, rootExists: true, rootMode: 0o755 };
}

/** Everything below `outside` (it must stay exactly as made: one file). */
function outsideListing(): string[] {
  return readdirSync(outside, { recursive: true }).map(String).sort();
}

beforeAll(async () => {
  work = tempDir("security-");
  mod = join(work, "module");
  outside = join(work, "outside");
  mkdirSync(join(mod, "inside"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.txt"), "secret\n");
  symlinkSync(outside, join(mod, "escape-link"));
  symlinkSync("../../outside/secret.txt", join(mod, "inside/secret-link"));
  d = await startBlitd(work, moduleToml({ data: { path: mod, readOnly: false } }, "token_ttl = 1"));
});

afterAll(async () => {
  try {
    if (process.env.BLIT_TEST_DEBUG) console.error(d?.stderr(), d?.proc.exitCode, d?.proc.signalCode);
    await d?.stop();
  } finally {
    cleanup(work);
  }
});

describe("traversal attempts are refused and nothing is written outside the module", () => {
  const badPaths = [
    "../outside", "a/../../outside", "/etc", "/", "C:/Windows", "C:\\x", "c:evil", "\\\\server\\share", "a\\..\\..\\x",
    "a\0b", "./a", "a//b", "a/./b", "..", ".blit-tmp-x", "x".repeat(300),
  ];
  test(`${badPaths.length} bad remote paths, for push, pull and ls`, async () => {
    const c = rawClient(d.port);
    try {
      for (const path of badPaths) {
        for (const direction of ["push", "pull"]) {
          const req = { direction, module: "data", path, manifest: encodeManifest(tree([["f", T_FILE]])) };
          const err = await rpc(c, "Negotiate", req).then(() => null, (e) => e);
          expect(err?.code, `${direction} ${JSON.stringify(path)}`).toBe(grpc.status.INVALID_ARGUMENT);
        }
        const err = await rpc(c, "ListDir", { module: "data", path }).then(() => null, (e) => e);
        expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      }
    } finally {
      c.close();
    }
    expect(outsideListing()).toEqual(["secret.txt"]);
  });

  test("a symlink inside the module cannot lead out (push, pull, ls through it)", async () => {
    const c = rawClient(d.port);
    try {
      for (const path of ["escape-link", "escape-link/new", "inside/secret-link"]) {
        const push = await rpc(c, "Negotiate", { direction: "push", module: "data", path, manifest: encodeManifest(tree([["evil.txt", T_FILE]])) }).then(() => null, (e) => e);
        expect(push?.code, `push ${path}`).toBe(grpc.status.INVALID_ARGUMENT);
        const pull = await rpc(c, "Negotiate", { direction: "pull", module: "data", path }).then(() => null, (e) => e);
        expect(pull?.code, `pull ${path}`).toBe(grpc.status.INVALID_ARGUMENT);
        const ls = await rpc(c, "ListDir", { module: "data", path }).then(() => null, (e) => e);
        expect(ls?.code, `ls ${path}`).toBe(grpc.status.INVALID_ARGUMENT);
      }
      const single = await rpc(c, "Negotiate", { direction: "push", module: "data", path: "escape-link/x.txt", manifest: encodeManifest(tree([["x.txt", T_FILE]]), true) }).then(() => null, (e) => e);
      expect(single?.code).toBe(grpc.status.INVALID_ARGUMENT);
      const mod2 = await rpc(c, "Negotiate", { direction: "pull", module: "../data", path: "" }).then(() => null, (e) => e);
      expect(mod2?.code).toBe(grpc.status.NOT_FOUND);
    } finally {
      c.close();
    }
    expect(outsideListing()).toEqual(["secret.txt"]);
  });

  const badManifests: [string, [string, number, string?][]][] = [
    ["parent escape", [["../evil", T_FILE]]],
    ["absolute", [["/tmp/evil", T_FILE]]],
    ["nested escape", [["a", T_DIR], ["a/../../evil", T_FILE]]],
    ["drive letter", [["C:evil", T_FILE]]],
    ["UNC", [["\\\\srv\\share\\evil", T_FILE]]],
    ["backslash", [["x\\..\\evil", T_FILE]]],
    ["through a symlink entry", [["l", T_LINK, "../../outside"], ["l/evil", T_FILE]]],
    ["parent missing", [["nodir/evil", T_FILE]]],
    ["temp name", [[".blit-tmp-1-x", T_FILE]]],
    ["duplicate", [["f", T_FILE], ["f", T_FILE]]],
    ["dot", [["./f", T_FILE]]],
  ];
  test(`${badManifests.length} hostile push manifests are refused`, async () => {
    const c = rawClient(d.port);
    try {
      for (const [name, entries] of badManifests) {
        const err = await rpc(c, "Negotiate", { direction: "push", module: "data", path: "", manifest: encodeManifest(tree(entries)) }).then(() => null, (e) => e);
        expect(err?.code, name).toBe(grpc.status.INVALID_ARGUMENT);
      }
      // A NUL inside a path splits it: the count no longer matches.
      const m = encodeManifest(tree([["ev", T_FILE]]));
      m.paths = new TextEncoder().encode("e\0v");
      const err = await rpc(c, "Negotiate", { direction: "push", module: "data", path: "", manifest: m }).then(() => null, (e) => e);
      expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    } finally {
      c.close();
    }
    expect(outsideListing()).toEqual(["secret.txt"]);
  });

  test("a source directory where the module has an escaping symlink is not written through", async () => {
    const src = join(work, "src-escape");
    mkdirSync(join(src, "escape-link"), { recursive: true });
    writeFileSync(join(src, "escape-link/evil.txt"), "evil\n");
    const r = await blit(["push", src, `blit://127.0.0.1:${d.port}/data`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("TYPE_CONFLICT");
    expect(outsideListing()).toEqual(["secret.txt"]);
    // --mirror replaces the link itself, never its target.
    const m = await blit(["push", src, `blit://127.0.0.1:${d.port}/data/mirror-target`, "--mirror"]);
    expect(m.code).toBe(0);
    expect(outsideListing()).toEqual(["secret.txt"]);
  });

  test("the pulling client refuses daemon paths that would escape its destination", async () => {
    for (const [, entries] of badManifests) expect(() => decodeManifest(encodeManifest(tree(entries)))).toThrow();
    // Even a manifest that passes (dir 'out' + file) cannot write through a symlink in the destination.
    const dst = join(work, "client-dst");
    mkdirSync(dst);
    symlinkSync(outside, join(dst, "out"));
    const src = decodeManifest(encodeManifest(tree([["out", T_DIR], ["out/evil.txt", T_FILE]]))).tree;
    const lying = tree([["out", T_DIR]]); // pretend the destination already has a directory there
    const plan = planTrees(src, lying, { mirror: false, checksum: false, sizeOnly: false, ignoreTimes: false });
    const root = openRooted(dst);
    try {
      // shards written by the writer threads, and on the receiving thread
      for (const writers of [undefined, null]) {
        const r = new TreeReceiver(root, src, lying, { ...plan, blocked: new Set() }, { mirror: false, checksum: false, maxDelete: -1, force: false, singleFile: false, writers });
        r.prepare();
        r.frame(13, shard(1, "evil\n"));
        await r.settle();
        const s = r.finish();
        expect(s.filesWritten).toBe(0);
        // No symlink below the root is followed at all: ELOOP (openat2 RESOLVE_NO_SYMLINKS, or the O_NOFOLLOW walk).
        expect(s.errors.map((e) => e.code)).toContain("ELOOP");
      }
    } finally {
      root.close();
    }
    expect(outsideListing()).toEqual(["secret.txt"]);
  });
});

function shard(index: number, text: string): Uint8Array {
  const data = new TextEncoder().encode(text);
  const p = new Uint8Array(5 + 8 + data.length);
  const dv = new DataView(p.buffer);
  p[0] = 0;
  dv.setUint32(1, 1, true);
  dv.setUint32(5, index, true);
  dv.setUint32(9, data.length, true);
  p.set(data, 13);
  return p;
}

async function rawSend(port: number, bytes: Uint8Array[], waitMs = 200): Promise<boolean> {
  let closed = false;
  const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, close() { closed = true; }, error() {} } });
  for (const b of bytes) s.write(b);
  await Bun.sleep(waitMs);
  if (!closed) s.end();
  return closed;
}

async function serving(port: number): Promise<boolean> {
  const c = rawClient(port);
  try {
    const r = await rpc(c, "ListModules", {});
    return r.modules.length > 0;
  } finally {
    c.close();
  }
}

describe("garbage leaves the daemon serving", () => {
  test("random bytes and truncated frames on the data port end that transfer only", async () => {
    const c = rawClient(d.port);
    try {
      const neg = await rpc(c, "Negotiate", { direction: "push", module: "data", path: "garbage", manifest: encodeManifest(tree([["f", T_FILE]])) });
      expect(neg.data_port).toBeGreaterThan(0);
      const random = crypto.getRandomValues(new Uint8Array(65536));
      expect(await rawSend(neg.data_port, [random])).toBe(true); // closed on us
      expect(await rawSend(neg.data_port, [encodeFrame(F_HELLO, new Uint8Array(32))])).toBe(true); // wrong token
      // The right token, then a FILE frame cut in the middle, then the connection drops.
      const file = new Uint8Array(17);
      file.set([F_FILE, 12, 0, 0, 0]);
      await rawSend(neg.data_port, [encodeFrame(F_HELLO, neg.token), file.subarray(0, 9)], 100);
      const done = await rpc(c, "Complete", { transfer_id: neg.transfer_id });
      expect(done.status).not.toBe("ok");
      expect(existsSync(join(mod, "garbage/f"))).toBe(false);
      expect(readdirSync(join(mod, "garbage")).filter((n) => n.startsWith(".blit-tmp-"))).toEqual([]);
      // A frame of an absurd length and an unknown type.
      const neg2 = await rpc(c, "Negotiate", { direction: "pull", module: "data", path: "" });
      const huge = new Uint8Array([2, 0xff, 0xff, 0xff, 0xff]);
      expect(await rawSend(neg2.data_port, [encodeFrame(F_HELLO, neg2.token), huge])).toBe(true);
      const neg3 = await rpc(c, "Negotiate", { direction: "pull", module: "data", path: "" });
      expect(await rawSend(neg3.data_port, [encodeFrame(F_HELLO, neg3.token), new Uint8Array([99, 0, 0, 0, 0])])).toBe(true);
      await rpc(c, "Complete", { transfer_id: neg2.transfer_id });
      await rpc(c, "Complete", { transfer_id: neg3.transfer_id });
    } finally {
      c.close();
    }
    expect(await serving(d.port)).toBe(true);
  });

  test("random bytes on the gRPC port and garbage in the Data stream", { timeout: 20_000 }, async () => {
    for (let k = 0; k < 3; k++) await rawSend(d.port, [crypto.getRandomValues(new Uint8Array(4096))], 50);
    await rawSend(d.port, [new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), crypto.getRandomValues(new Uint8Array(100))], 50);
    const c = rawClient(d.port);
    try {
      for (const junk of [crypto.getRandomValues(new Uint8Array(1000)), encodeFrame(F_HELLO, new Uint8Array(32)), new Uint8Array([1, 32])]) {
        const call = c.Data(new grpc.Metadata());
        const ended = new Promise<void>((r) => {
          call.on("error", () => r());
          call.on("status", () => r());
          call.on("end", () => r());
        });
        call.on("data", () => {});
        call.write({ frames: junk });
        call.end();
        await Promise.race([ended, Bun.sleep(4000)]);
      }
    } finally {
      c.close();
    }
    expect(await serving(d.port)).toBe(true);
    expect(d.alive()).toBe(true);
  });

  test("a data connection that never arrives times out and frees its port", async () => {
    const c = rawClient(d.port);
    try {
      const neg = await rpc(c, "Negotiate", { direction: "push", module: "data", path: "never", manifest: encodeManifest(tree([["f", T_FILE]])) });
      await Bun.sleep(1500); // token_ttl = 1
      const refused = await Bun.connect({ hostname: "127.0.0.1", port: neg.data_port, socket: { data() {} } }).then((s) => (s.end(), false), () => true);
      expect(refused).toBe(true);
      const done = await rpc(c, "Complete", { transfer_id: neg.transfer_id });
      expect(done.error_count).toBeGreaterThan(0); // the file never arrived
      void u32List;
    } finally {
      c.close();
    }
  });
});

describe("connection limit", () => {
  test("one client connection over max_connections is answered 'at its limit' in words; a freed slot serves again", async () => {
    const dir = tempDir("conns-");
    let daemon: Daemon | undefined;
    const clients: ReturnType<typeof rawClient>[] = [];
    try {
      mkdirSync(join(dir, "m"));
      daemon = await startBlitd(dir, moduleToml({ m: { path: join(dir, "m") } }, "max_connections = 2"));
      for (let k = 0; k < 2; k++) {
        const c = rawClient(daemon.port, true);
        clients.push(c);
        expect((await rpc(c, "ListModules", {})).modules.map((m: { name: string }) => m.name)).toEqual(["m"]);
      }
      // both connections stay open; a third gets the answer, in words, from the CLI too
      const third = rawClient(daemon.port, true);
      clients.push(third);
      const err = await rpc(third, "ListModules", {}).then(() => undefined, (e: { code: number; details: string }) => e);
      expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(err?.details).toContain("at its limit of 2 client connections (max_connections)");
      const cli = await blit(["ls", `blit://127.0.0.1:${daemon.port}`]);
      expect(cli.code).toBe(2);
      expect(cli.stderr).toContain("at its limit of 2 client connections");
      // closing one frees its slot
      clients.shift()!.close();
      let listed = "";
      for (let tries = 0; tries < 30 && !listed.includes("m"); tries++) {
        await Bun.sleep(100);
        const r = await blit(["ls", `blit://127.0.0.1:${daemon.port}`]);
        if (r.code === 0) listed = r.stdout;
      }
      expect(listed).toContain("m");
      expect(daemon.alive()).toBe(true);
    } finally {
      for (const c of clients) c.close();
      await daemon?.stop();
      cleanup(dir);
    }
  });
});

describe("auth token", () => {
  test("off on loopback; on: every RPC needs it, in words", async () => {
    const dir = tempDir("auth-");
    let daemon: Daemon | undefined;
    try {
      mkdirSync(join(dir, "m"));
      const tokenFile = join(dir, "token");
      writeFileSync(tokenFile, "s3cret-token-0123456789abcdef\n");
      writeFileSync(join(dir, "wrong"), "wrong-token-0123456789abcdef\n");
      daemon = await startBlitd(dir, moduleToml({ m: { path: join(dir, "m"), readOnly: false } }, `auth_token_file = ${JSON.stringify(tokenFile)}`));
      const url = `blit://127.0.0.1:${daemon.port}`;
      const none = await blit(["ls", url]);
      expect(none.code).toBe(2);
      // No token and a wrong token need different fixes, and say so.
      expect(none.stderr).toBe(`blit: the daemon at 127.0.0.1:${daemon.port} requires an auth token: give --auth-token-file FILE, or set BLIT_AUTH_TOKEN\n`);
      const wrong = await blit(["ls", url, "--auth-token-file", join(dir, "wrong")]);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toBe(`blit: auth token rejected by 127.0.0.1:${daemon.port}: the token given (--auth-token-file or BLIT_AUTH_TOKEN) is not the one in the daemon's auth_token_file\n`);
      const src = join(dir, "src");
      mkdirSync(src);
      writeFileSync(join(src, "f.txt"), "hi\n");
      const denied = await blit(["push", src, `${url}/m`]);
      expect(denied.code).toBe(2);
      expect(denied.stderr).toContain("requires an auth token");
      expect(readdirSync(join(dir, "m"))).toEqual([]);
      const ok = await blit(["push", src, `${url}/m`, "--auth-token-file", tokenFile]);
      expect(ok.code).toBe(0);
      const env = await blit(["ls", `${url}/m`], { BLIT_AUTH_TOKEN: "s3cret-token-0123456789abcdef" });
      expect(env.stdout).toContain("f.txt");
      // A Data stream without the token is refused too.
      const c = rawClient(daemon.port);
      try {
        const call = c.Data(new grpc.Metadata());
        const code = await new Promise<number>((r) => {
          call.on("error", (e: { code: number }) => r(e.code));
          call.on("data", () => {});
        });
        expect(code).toBe(grpc.status.UNAUTHENTICATED);
      } finally {
        c.close();
      }
    } finally {
      await daemon?.stop();
      cleanup(dir);
    }
  });

  test("a non-loopback bind without auth_token_file refuses to start", async () => {
    const dir = tempDir("bind-");
    try {
      mkdirSync(join(dir, "m"));
      writeFileSync(join(dir, "c.toml"), moduleToml({ m: { path: join(dir, "m") } }));
      const p = Bun.spawn([process.execPath, join(import.meta.dir, "../../daemon/main.ts"), "--config", join(dir, "c.toml"), "--bind", "0.0.0.0:0"], { stdout: "pipe", stderr: "pipe" });
      const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      expect(code).toBe(2);
      expect(err).toContain("requires 'auth_token_file'");
    } finally {
      cleanup(dir);
    }
  });
});
