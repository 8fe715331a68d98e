// Helpers for the remote suites: a real blitd on 127.0.0.1 (port 0), temp trees, the CLI as a
// separate process, and a raw gRPC client for playing a hostile peer.
import type { Subprocess } from "bun";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AUTH_METADATA_KEY, blitClient, grpc } from "../../proto/index.ts";

export const REPO = join(import.meta.dir, "..", "..");
const BUN = process.execPath;

export function tempDir(label = ""): string {
  return mkdtempSync(join(tmpdir(), `blit-test-${label}`));
}

export interface Daemon {
  port: number;
  /** The metrics listener's port, when the daemon serves metrics (metrics_bind / --metrics-bind). */
  metricsPort?: number;
  proc: Subprocess;
  stderr(): string;
  stop(signal?: NodeJS.Signals | number): Promise<void>;
  alive(): boolean;
}

/** Starts blitd with `toml` as its config (written into `dir`); resolves once it printed its port. */
export async function startBlitd(dir: string, toml: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Daemon> {
  const cfg = join(dir, `blitd-${Math.random().toString(16).slice(2)}.toml`);
  writeFileSync(cfg, toml);
  const proc = Bun.spawn([BUN, join(REPO, "daemon/main.ts"), "--config", cfg, "--bind", "127.0.0.1:0", ...extra], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, BLIT_TELEMETRY: "off", ...env },
  });
  let err = "";
  void (async () => {
    for await (const c of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(c);
  })();
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  const deadline = Date.now() + 15_000;
  while (!/listening on .*:(\d+)/.test(out)) {
    if (Date.now() > deadline) throw new Error(`blitd did not start: ${out} ${err}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`blitd exited: ${out} ${err}`);
    out += new TextDecoder().decode(value);
  }
  // With metrics_bind, a second line names the metrics listener's port.
  const metricsLine = /metrics on http:\/\/.*:(\d+)\/metrics/;
  while ((/^\s*metrics_bind\s*=/m.test(toml) || extra.includes("--metrics-bind")) && !metricsLine.test(out)) {
    if (Date.now() > deadline) throw new Error(`blitd did not print its metrics address: ${out} ${err}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`blitd exited: ${out} ${err}`);
    out += new TextDecoder().decode(value);
  }
  const port = Number(/listening on .*:(\d+)/.exec(out)![1]);
  const metricsPort = metricsLine.test(out) ? Number(metricsLine.exec(out)![1]) : undefined;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  return {
    port,
    metricsPort,
    proc,
    stderr: () => err,
    alive: () => !exited,
    async stop(signal: NodeJS.Signals | number = "SIGTERM") {
      if (!exited) proc.kill(signal);
      await proc.exited;
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `blit push|pull|ls ...` as its own process. */
export async function blit(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const proc = Bun.spawn([BUN, join(REPO, "test/remote/remote-cli.ts"), ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, BLIT_TELEMETRY: "off", ...env },
  });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr };
}

export function spawnBlit(args: string[], env: Record<string, string> = {}): Subprocess<"ignore", "pipe", "pipe"> {
  return Bun.spawn([BUN, join(REPO, "test/remote/remote-cli.ts"), ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, BLIT_TELEMETRY: "off", ...env },
  });
}

/** A small tree with nested dirs, an empty file, a symlink, odd modes and a fixed mtime. */
export function makeTree(root: string, opts: { files?: number; big?: number } = {}): void {
  mkdirSync(join(root, "a/b/c"), { recursive: true });
  mkdirSync(join(root, "empty-dir"), { recursive: true });
  writeFileSync(join(root, "top.txt"), "top\n");
  writeFileSync(join(root, "a/empty"), "");
  writeFileSync(join(root, "a/b/c/deep.txt"), "deep\n".repeat(100));
  writeFileSync(join(root, "a/exec.sh"), "#!/bin/sh\necho hi\n", { mode: 0o750 });
  symlinkSync("../top.txt", join(root, "a/link-to-top"));
  for (let i = 0; i < (opts.files ?? 50); i++) writeFileSync(join(root, `a/b/f${i}.dat`), `file ${i} `.repeat(i + 1));
  if (opts.big) {
    const buf = new Uint8Array(opts.big);
    crypto.getRandomValues(buf.subarray(0, Math.min(buf.length, 65536)));
    for (let o = 65536; o < buf.length; o += 65536) buf.copyWithin(o, 0, Math.min(65536, buf.length - o));
    buf[buf.length - 1] = 7;
    writeFileSync(join(root, "a/big.bin"), buf);
  }
  utimesSync(join(root, "top.txt"), 1_600_000_000, 1_600_000_000);
}

/** `diff -r` (with --no-dereference, so symlinks compare as links). */
export async function diffR(a: string, b: string): Promise<{ same: boolean; out: string }> {
  const p = Bun.spawn(["diff", "-r", "--no-dereference", a, b], { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { same: code === 0, out: out + err };
}

/** A raw client for speaking to blitd directly, as a hostile or broken peer would. */
export function rawClient(port: number, ownConnection = false) {
  // grpc-js shares one connection per target across clients unless told otherwise
  return blitClient(`127.0.0.1:${port}`, ownConnection ? { "grpc.use_local_subchannel_pool": 1 } : {});
}

export function rpc<T = any>(client: ReturnType<typeof blitClient>, method: string, req: unknown, token?: string): Promise<T> {
  const md = new grpc.Metadata();
  if (token) md.set(AUTH_METADATA_KEY, token);
  return new Promise((resolve, reject) => {
    client[method](req, md, { deadline: Date.now() + 10_000 }, (err: Error | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/** Names (relative, any depth) of blit's temporaries and kept parts (`.blit-tmp-*`) beneath dir. */
export function temps(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((n) => n.split("/").pop()!.startsWith(".blit-tmp-")) : [];
}

export function cleanup(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

export function moduleToml(modules: Record<string, { path: string; readOnly?: boolean; keepOwners?: boolean }>, extra = ""): string {
  let s = `${extra}\n`;
  for (const [name, m] of Object.entries(modules)) {
    s += `[modules.${name}]\npath = ${JSON.stringify(m.path)}\nread_only = ${m.readOnly ?? true}\ncomment = "test ${name}"\n`;
    if (m.keepOwners !== undefined) s += `keep_owners = ${m.keepOwners}\n`;
  }
  return s;
}
