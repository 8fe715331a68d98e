// A lying or stalled daemon must not hang the client, and what it sends must not reach the
// terminal raw. The daemon here is a fake written with the real proto (blitService) on
// 127.0.0.1, port 0, with its own TCP data port where a test needs one; the client is the real
// CLI as its own process, with a wall-clock limit so that a hang fails the test instead of
// stalling the suite.
import { afterEach, describe, expect, test } from "bun:test";
import { createServer, type Server as NetServer, type Socket as NetSocket } from "node:net";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  blitService, doneFrame, encodeFrame, encodeManifest, fileFrame, F_DATA, F_FILE_END, FEATURES, grpc, TOKEN_BYTES,
} from "../../proto/index.ts";
import { emptyTree, T_FILE, type Tree } from "../../engine/index.ts";
import { listRuns } from "../../analytics/index.ts";
import { cleanup, REPO, spawnBlit, tempDir } from "./helpers.ts";

const BUN = process.execPath;
/** A run that takes longer than this is a hang (the fix answers within --timeout 2 plus a few seconds). */
const HANG_S = 15;
const FILE_BYTES = 8 << 20;

type Impl = grpc.UntypedServiceImplementation;
interface Fake {
  port: number;
  /** Calls of each RPC, in order. */
  calls: string[];
  stop(): void;
}

const stops: (() => void)[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
  cleanup(...dirs.splice(0));
});

/** A fake blitd: the handlers given, the rest answering UNIMPLEMENTED. */
async function fakeDaemon(impl: Partial<Record<"ListModules" | "ListDir" | "Negotiate" | "Complete" | "Data", (...a: any[]) => void>>): Promise<Fake> {
  const calls: string[] = [];
  const server = new grpc.Server();
  const handler = (name: string) => (call: any, cb?: any) => {
    calls.push(name);
    const fn = impl[name as keyof typeof impl];
    if (fn) return fn(call, cb);
    cb?.({ code: grpc.status.UNIMPLEMENTED, details: `${name} not in this fake` });
  };
  const service: Impl = {};
  for (const m of ["ListModules", "ListDir", "Negotiate", "Complete", "Data"]) service[m] = handler(m);
  server.addService(blitService(), service);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  const stop = () => server.forceShutdown();
  stops.push(stop);
  return { port, calls, stop };
}

/** A TCP data port that hands each connection to `onConn`; every socket is destroyed at the end. */
async function dataPort(onConn: (s: NetSocket) => void): Promise<number> {
  const sockets: NetSocket[] = [];
  const server: NetServer = createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  stops.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

/** The daemon's tree for a pull: one file `big.bin` of FILE_BYTES. */
function oneFileTree(): Tree {
  return { ...emptyTree(), rootExists: true, rootMode: 0o755, paths: ["big.bin"], types: [T_FILE], sizes: [FILE_BYTES], modes: [0o644], mtimeSec: [1_600_000_000], mtimeNsec: [0] };
}

function pullReply(port: number) {
  return { transfer_id: "t1", manifest: encodeManifest(oneFileTree()), data_port: port, token: new Uint8Array(TOKEN_BYTES), features: [...FEATURES] };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs the CLI (remote-cli.ts, or tui/blit.ts for `check`); fails the test if it runs past HANG_S. */
async function runWithin(args: string[], onStart?: (p: ReturnType<typeof spawnBlit>) => void | Promise<void>, env: Record<string, string> = {}): Promise<Run> {
  const t0 = performance.now();
  const p = args[0] === "check"
    ? Bun.spawn([BUN, join(REPO, "tui/blit.ts"), ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, BLIT_TELEMETRY: "off", ...env } })
    : spawnBlit(args, env);
  const out = new Response(p.stdout).text();
  const err = new Response(p.stderr).text();
  await onStart?.(p as ReturnType<typeof spawnBlit>);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), HANG_S * 1000)));
  const first = await Promise.race([p.exited, hung]);
  clearTimeout(timer);
  if (first === "hung") {
    p.kill("SIGKILL");
    await p.exited;
    throw new Error(`blit ${args.join(" ")} still running after ${HANG_S} s; stderr: ${await err}`);
  }
  return { code: first, stdout: await out, stderr: await err, seconds: (performance.now() - t0) / 1000 };
}

/** Names under `dir` (recursively) that are temporaries or `name`. */
/**
 * What a broken pull left besides the part of the file in flight it keeps for resume
 * (`.blit-tmp-partial-*`, never under the final name): temporaries and final names.
 */
function leftovers(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).filter((n) => !n.includes(".blit-tmp-partial-") && (n.includes(".blit-tmp") || n.endsWith("big.bin")));
}

function workDir(label: string): string {
  const d = tempDir(label);
  dirs.push(d);
  return d;
}

describe("a stalled daemon: each phase gives up after --timeout with words, not a hang", () => {
  test("Negotiate never answered: pull, push, ls and check end with the address, the phase and the timeout", { timeout: 90_000 }, async () => {
    const fake = await fakeDaemon({ Negotiate: () => {}, ListModules: () => {}, ListDir: () => {} });
    const url = `blit://127.0.0.1:${fake.port}`;
    const work = workDir("hostile-neg-");
    const dst = join(work, "dst");
    writeFileSync(join(work, "src.txt"), "x\n");
    for (const args of [
      ["pull", `${url}/m`, dst, "--timeout", "2", "--retries", "0"],
      ["push", join(work, "src.txt"), `${url}/m`, "--timeout", "2", "--retries", "0"],
      ["ls", url, "--timeout", "2", "--retries", "0"],
      ["ls", `${url}/m/dir`, "--timeout", "2", "--retries", "0"],
      ["check", `${url}/m`, work, "--timeout", "2", "--retries", "0"],
    ]) {
      const r = await runWithin(args);
      expect(r.code).toBe(2);
      expect(r.seconds).toBeLessThan(10);
      expect(r.stderr).toContain(`127.0.0.1:${fake.port}`);
      expect(r.stderr).toContain("--timeout 2");
      expect(r.stderr).toMatch(/Negotiate|ListModules|ListDir/);
      expect(r.stderr).not.toContain("    at "); // words, no stack trace
    }
    expect(leftovers(dst)).toEqual([]);
  });

  test("a stalled Negotiate is retried (--retries) on a new connection, then given up with the count", { timeout: 60_000 }, async () => {
    const fake = await fakeDaemon({ Negotiate: () => {}, ListModules: (_c: any, cb: any) => cb(null, { modules: [] }) });
    const dst = join(workDir("hostile-retry-"), "dst");
    const r = await runWithin(["pull", `blit://127.0.0.1:${fake.port}/m`, dst, "--timeout", "1", "--retries", "1"]);
    expect(r.code).toBe(2);
    expect(r.seconds).toBeLessThan(10);
    expect(fake.calls.filter((c) => c === "Negotiate").length).toBe(2);
    expect(r.stderr).toContain(`pull: attempt 1 of 2 failed: no progress from 127.0.0.1:${fake.port} for 1 s while negotiating (Negotiate)`);
    expect(r.stderr).toContain(`gave up after 2 attempts (--retries 1): no progress from 127.0.0.1:${fake.port}`);
    expect(leftovers(dst)).toEqual([]);
  });

  test("--timeout takes seconds and says so when it gets something else", async () => {
    const r = await runWithin(["pull", "blit://127.0.0.1:1/m", workDir("hostile-arg-"), "--timeout", "soon"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--timeout needs seconds");
    expect(r.stderr).toContain("'soon'");
  });

  test("pull: the data port accepts, then stalls mid-file: exit 2 in words, no partial file, no temporaries", { timeout: 60_000 }, async () => {
    const port = await dataPort((s) => {
      s.once("data", () => {
        // Half the file, then nothing: the socket stays open.
        s.write(fileFrame(0, FILE_BYTES));
        s.write(encodeFrame(F_DATA, new Uint8Array(FILE_BYTES / 2)));
      });
    });
    const fake = await fakeDaemon({ Negotiate: (_c: any, cb: any) => cb(null, pullReply(port)), Complete: (_c: any, cb: any) => cb(null, { status: "failed" }) });
    const dst = join(workDir("hostile-stall-"), "dst");
    const r = await runWithin(["pull", `blit://127.0.0.1:${fake.port}/m`, dst, "--timeout", "2", "--retries", "0"]);
    expect(r.code).toBe(2);
    expect(r.seconds).toBeLessThan(10);
    expect(r.stderr).toContain(`no progress from 127.0.0.1:${fake.port} for 2 s while receiving data`);
    expect(r.stderr).toContain("raise --timeout");
    expect(leftovers(dst)).toEqual([]);
  });

  test("pull: all data but no DONE, and Complete never answered: exit 2 within the timeouts", { timeout: 60_000 }, async () => {
    const port = await dataPort((s) => {
      s.once("data", () => {
        s.write(fileFrame(0, FILE_BYTES));
        s.write(encodeFrame(F_DATA, new Uint8Array(FILE_BYTES / 2)));
        s.write(encodeFrame(F_DATA, new Uint8Array(FILE_BYTES / 2)));
        s.write(encodeFrame(F_FILE_END));
      });
    });
    const fake = await fakeDaemon({ Negotiate: (_c: any, cb: any) => cb(null, pullReply(port)), Complete: () => {} });
    const dst = join(workDir("hostile-nodone-"), "dst");
    const r = await runWithin(["pull", `blit://127.0.0.1:${fake.port}/m`, dst, "--timeout", "2", "--retries", "0"]);
    expect(r.code).toBe(2);
    expect(r.seconds).toBeLessThan(12);
    expect(r.stderr).toContain(`127.0.0.1:${fake.port}`);
    expect(r.stderr).toContain("--timeout 2");
    expect(leftovers(dst).filter((n) => n.includes(".blit-tmp"))).toEqual([]);
    expect(fake.calls).toContain("Complete");
  });

  test("pull over the gRPC data stream: a stream that stalls mid-file gives up after --timeout", { timeout: 60_000 }, async () => {
    const fake = await fakeDaemon({
      Negotiate: (_c: any, cb: any) => cb(null, pullReply(0)),
      Data: (call: any) => {
        call.on("data", () => {});
        call.on("error", () => {});
        call.write({ frames: fileFrame(0, FILE_BYTES) });
        call.write({ frames: encodeFrame(F_DATA, new Uint8Array(1 << 20)) });
      },
      Complete: (_c: any, cb: any) => cb(null, { status: "failed" }),
    });
    const dst = join(workDir("hostile-grpc-"), "dst");
    const r = await runWithin(["pull", `blit://127.0.0.1:${fake.port}/m`, dst, "--timeout", "2", "--retries", "0", "--force-grpc"]);
    expect(r.code).toBe(2);
    expect(r.seconds).toBeLessThan(10);
    expect(r.stderr).toContain(`no progress from 127.0.0.1:${fake.port} for 2 s while receiving data`);
    expect(leftovers(dst)).toEqual([]);
  });

  test("push: the data port accepts and never reads, or reads all and never confirms: exit 2 within the timeout", { timeout: 90_000 }, async () => {
    const work = workDir("hostile-push-");
    mkdirSync(join(work, "src"));
    // Larger than what loopback socket buffers absorb, so that the writes block.
    writeFileSync(join(work, "src/big.bin"), new Uint8Array(64 << 20));
    const pushReply = (port: number) => ({ transfer_id: "t1", need: new Uint8Array([0, 0, 0, 0]), data_port: port, token: new Uint8Array(TOKEN_BYTES), features: [...FEATURES] });

    const deaf = await dataPort((s) => s.pause());
    const a = await fakeDaemon({ Negotiate: (_c: any, cb: any) => cb(null, pushReply(deaf)), Complete: (_c: any, cb: any) => cb(null, { status: "failed" }) });
    const r1 = await runWithin(["push", join(work, "src"), `blit://127.0.0.1:${a.port}/m`, "--timeout", "2", "--retries", "0"]);
    expect(r1.code).toBe(2);
    expect(r1.seconds).toBeLessThan(10);
    expect(r1.stderr).toContain(`no progress from 127.0.0.1:${a.port} for 2 s while sending data`);

    const silent = await dataPort((s) => s.on("data", () => {}));
    const b = await fakeDaemon({ Negotiate: (_c: any, cb: any) => cb(null, pushReply(silent)), Complete: () => {} });
    const r2 = await runWithin(["push", join(work, "src"), `blit://127.0.0.1:${b.port}/m`, "--timeout", "2", "--retries", "0"]);
    expect(r2.code).toBe(2);
    expect(r2.seconds).toBeLessThan(12);
    expect(r2.stderr).toContain(`no progress from 127.0.0.1:${b.port} for 2 s while waiting for the daemon to confirm the data (DONE)`);
  });
});

describe("SIGTERM ends a push or pull at once", () => {
  /** Sends SIGTERM once `ready()` holds, and measures from then to the exit. */
  async function terminateWhen(args: string[], ready: () => boolean, env: Record<string, string> = {}): Promise<Run & { afterSignal: number }> {
    let signalled = 0;
    const r = await runWithin(args, async (p) => {
      const until = Date.now() + 10_000;
      while (!ready() && Date.now() < until) await Bun.sleep(50);
      await Bun.sleep(300); // the client is now inside the phase, not on its way to it
      signalled = performance.now();
      p.kill("SIGTERM");
    }, env);
    return { ...r, afterSignal: (performance.now() - signalled) / 1000 };
  }

  test("a pull stalled mid-file (default --timeout) exits 130 within 3 s and leaves no temporaries", { timeout: 60_000 }, async () => {
    let sent = false;
    const port = await dataPort((s) => {
      s.once("data", () => {
        s.write(fileFrame(0, FILE_BYTES));
        s.write(encodeFrame(F_DATA, new Uint8Array(FILE_BYTES / 2)), () => (sent = true));
      });
    });
    const fake = await fakeDaemon({ Negotiate: (_c: any, cb: any) => cb(null, pullReply(port)), Complete: () => {} });
    const dst = join(workDir("hostile-term-"), "dst");
    const r = await terminateWhen(["pull", `blit://127.0.0.1:${fake.port}/m`, dst], () => sent);
    expect(r.code).toBe(130);
    expect(r.afterSignal).toBeLessThan(3);
    expect(r.stderr).toContain("interrupted");
    expect(leftovers(dst)).toEqual([]);
  });

  test("a SIGTERMed pull over the gRPC data stream is recorded as interrupted", { timeout: 60_000 }, async () => {
    let streaming = false;
    const fake = await fakeDaemon({
      Negotiate: (_c: any, cb: any) => cb(null, pullReply(0)),
      Data: (call: any) => {
        call.on("data", () => {});
        call.on("error", () => {});
        call.write({ frames: fileFrame(0, FILE_BYTES) });
        call.write({ frames: encodeFrame(F_DATA, new Uint8Array(1 << 20)) });
        streaming = true;
      },
      Complete: () => {},
    });
    const work = workDir("hostile-term-grpc-");
    const env = { BLIT_TELEMETRY: "on", BLIT_HOME: join(work, "home") };
    const r = await terminateWhen(["pull", `blit://127.0.0.1:${fake.port}/m`, join(work, "dst")], () => streaming, env);
    expect(r.code).toBe(130);
    expect(r.afterSignal).toBeLessThan(5); // the telemetry store is written before the exit
    expect(leftovers(join(work, "dst"))).toEqual([]);
    const runs = await listRuns({ path: join(work, "home", "telemetry.duckdb") });
    expect(runs.map((x) => x.status)).toEqual(["interrupted"]);
  });

  test("a pull or push waiting for Negotiate exits 130 within 3 s", { timeout: 60_000 }, async () => {
    const fake = await fakeDaemon({ Negotiate: () => {} });
    const work = workDir("hostile-term-neg-");
    writeFileSync(join(work, "src.txt"), "x\n");
    for (const args of [["pull", `blit://127.0.0.1:${fake.port}/m`, join(work, "dst")], ["push", join(work, "src.txt"), `blit://127.0.0.1:${fake.port}/m`]]) {
      const before = fake.calls.length;
      const r = await terminateWhen(args, () => fake.calls.length > before);
      expect(r.code).toBe(130);
      expect(r.afterSignal).toBeLessThan(3);
    }
  });
});

describe("what a daemon sends reaches the terminal with control characters escaped", () => {
  // Clear screen, a window title, a colour, carriage return, backspace, BEL and the C1 CSI.
  const EVIL = "\x1b[2J\x1b]0;owned\x07\x1b[8mhidden\r\x08\x9b31m";
  const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/; // any control character but \t and \n

  function expectClean(r: Run): void {
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stderr).not.toMatch(RAW);
  }

  test("blit ls: module names, comments and entries, in text and in --json", async () => {
    const fake = await fakeDaemon({
      ListModules: (_c: any, cb: any) => cb(null, { modules: [{ name: `m${EVIL}`, comment: `c${EVIL}`, read_only: true }] }),
      ListDir: (_c: any, cb: any) => cb(null, { entries: [{ name: `e${EVIL}`, type: `file${EVIL}`, size: 1, mode: 0o644, mtime_sec: 0 }] }),
    });
    const url = `blit://127.0.0.1:${fake.port}`;
    const modules = await runWithin(["ls", url]);
    expect(modules.code).toBe(0);
    expectClean(modules);
    expect(modules.stdout).toContain("m\\x1b[2J\\x1b]0;owned\\x07");
    expect(modules.stdout).toContain("c\\x1b[2J");
    const entries = await runWithin(["ls", `${url}/m`]);
    expect(entries.code).toBe(0);
    expectClean(entries);
    expect(entries.stdout).toContain("e\\x1b[2J");
    for (const args of [["ls", url, "--json"], ["ls", `${url}/m`, "--json"]]) {
      const j = await runWithin(args);
      expect(j.code).toBe(0);
      expectClean(j);
      const parsed = JSON.parse(j.stdout);
      const texts: string[] = [...(parsed.modules ?? []).flatMap((m: any) => [m.name, m.comment]), ...(parsed.entries ?? []).flatMap((e: any) => [e.name, e.type])];
      expect(texts.length).toBeGreaterThan(0);
      for (const t of texts) expect(t).not.toMatch(RAW);
    }
  });

  test("errors, error details and notes from the daemon, in pull, push, ls and check", async () => {
    const work = workDir("hostile-esc-");
    writeFileSync(join(work, "src.txt"), "x\n");
    const refusing = await fakeDaemon({
      Negotiate: (_c: any, cb: any) => cb({ code: grpc.status.INTERNAL, details: `boom${EVIL}` }),
      ListModules: (_c: any, cb: any) => cb({ code: grpc.status.NOT_FOUND, details: `module ${EVIL}` }),
      ListDir: (_c: any, cb: any) => cb({ code: grpc.status.PERMISSION_DENIED, details: `no${EVIL}` }),
    });
    const r = `blit://127.0.0.1:${refusing.port}`;
    for (const args of [["pull", `${r}/m`, join(work, "dst")], ["push", join(work, "src.txt"), `${r}/m`], ["ls", r], ["ls", `${r}/m`], ["check", `${r}/m`, work]]) {
      const run = await runWithin(args);
      expect(run.code).toBe(2);
      expectClean(run);
      expect(run.stderr).toContain("\\x1b[2J");
    }

    // A pull whose manifest is empty but whose errors and notes are hostile; a push with hostile notes and errors.
    const errs = [{ path: `p${EVIL}`, code: `C${EVIL}`, message: `msg${EVIL}` }];
    const lying = await fakeDaemon({
      Negotiate: (c: any, cb: any) =>
        cb(null, c.request.direction === "pull"
          ? { transfer_id: "t", manifest: encodeManifest({ ...emptyTree(), rootExists: true, rootMode: 0o755 }), errors: errs, error_count: 1, features: [...FEATURES] }
          : { transfer_id: "t", need: new Uint8Array(0), errors: errs, error_count: 1, not_kept: { [`owners${EVIL}`]: `why${EVIL}` }, features: [...FEATURES] }),
      Complete: (_c: any, cb: any) => cb(null, { status: "ok", errors: errs, error_count: 1 }),
    });
    const l = `blit://127.0.0.1:${lying.port}`;
    for (const args of [["pull", `${l}/m`, join(work, "dst2"), "-v"], ["push", join(work, "src.txt"), `${l}/m`, "-v"], ["pull", `${l}/m`, join(work, "dst3"), "--json"]]) {
      const run = await runWithin(args);
      expect(run.code).toBe(1);
      expectClean(run);
      expect(run.stdout + run.stderr).toContain("msg\\x1b[2J");
    }
  });
});
