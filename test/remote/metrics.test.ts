// blitd's Prometheus metrics (metrics_bind): off by default and never on the gRPC port; with it,
// real pushes and pulls show up with their module, direction and transport, failures and auth
// failures count, a bad metrics_bind is refused in words, a slowloris peer holds nothing, and a
// real Prometheus scrapes the daemon and answers a PromQL query with the pushed bytes.
import { expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { existsSync, mkdirSync, readdirSync, readlinkSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { blit, cleanup, moduleToml, rawClient, REPO, rpc, spawnBlit, startBlitd, tempDir, temps } from "./helpers.ts";

const SIZES = [100_000, 250_000, 1];
const TOTAL = SIZES.reduce((a, b) => a + b, 0);

/** A source tree of SIZES.length files with known sizes. */
function makeSource(dir: string): string {
  const src = join(dir, "src");
  mkdirSync(src);
  SIZES.forEach((n, i) => writeFileSync(join(src, `f${i}.bin`), crypto.getRandomValues(new Uint8Array(n))));
  return src;
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of the sample `name` whose labels are exactly `labels`; undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    const want = Object.entries(labels);
    if (want.length === Object.keys(got).length && want.every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** TCP ports process `pid` listens on, from its socket fds and /proc/<pid>/net/tcp{,6}. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {}
  }
  const ports = new Set<number>();
  for (const table of ["tcp", "tcp6"]) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === "0A" && inodes.has(f[9]!)) ports.add(parseInt(f[1]!.split(":")[1]!, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** What an HTTP GET /metrics on `port` gets back within 3 s: the body, or why there was none. */
async function httpGet(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) });
    return `${res.status} ${await res.text()}`;
  } catch (err) {
    return `no answer: ${(err as Error).message}`;
  }
}

/** A value for a failure message: of a scrape, blitd's own samples only (not the process's). */
function shown(v: unknown): string {
  return typeof v === "string" ? v.split("\n").filter((l) => /^blitd_(?!process_|nodejs_)/.test(l)).join("\n") : JSON.stringify(v);
}

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  let v = await get();
  while (!ok(v)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${shown(v)}`);
    await Bun.sleep(200);
    v = await get();
  }
  return v;
}

test("metrics are off by default: no extra listening port, and the gRPC port does not answer GET /metrics", { timeout: 30_000 }, async () => {
  const dir = tempDir("metrics-off-");
  const mod = join(dir, "m");
  mkdirSync(mod);
  const d = await startBlitd(dir, moduleToml({ m: { path: mod, readOnly: false } }));
  try {
    expect(d.metricsPort).toBeUndefined();
    expect(listeningPorts(d.proc.pid)).toEqual([d.port]);
    expect(await httpGet(d.port)).not.toContain("blitd_");
    expect(d.alive()).toBe(true);
  } finally {
    await d.stop();
    cleanup(dir);
  }
});

test("pushes and pulls are counted by module, direction and transport; bytes equal what was pushed; a read-only push is counted as rejected", { timeout: 60_000 }, async () => {
  const dir = tempDir("metrics-on-");
  const mod = join(dir, "m");
  mkdirSync(mod);
  const src = makeSource(dir);
  const d = await startBlitd(dir, moduleToml({ m: { path: mod, readOnly: false }, ro: { path: mod } }, `metrics_bind = "127.0.0.1:0"`));
  try {
    const port = d.metricsPort!;
    expect(port).toBeGreaterThan(0);
    // Exactly two listeners: gRPC and metrics; neither answers for the other.
    expect(listeningPorts(d.proc.pid)).toEqual([d.port, port].sort((a, b) => a - b));
    expect(await httpGet(d.port)).not.toContain("blitd_");
    const url = `blit://127.0.0.1:${d.port}`;
    expect((await blit(["push", src, `${url}/m/tcp`])).code).toBe(0);
    expect((await blit(["push", src, `${url}/m/grpc`, "--force-grpc"])).code).toBe(0);
    expect((await blit(["pull", `${url}/m/tcp`, join(dir, "back")])).code).toBe(0);
    const ro = await blit(["push", src, `${url}/ro/x`]);
    expect(ro.code).not.toBe(0);

    const m = await scrape(port);
    expect(sample(m, "blitd_transfers_started_total", { module: "m", direction: "push" })).toBe(2);
    expect(sample(m, "blitd_transfers_started_total", { module: "m", direction: "pull" })).toBe(1);
    expect(sample(m, "blitd_transfers_finished_total", { module: "m", direction: "push", transport: "tcp", status: "ok" })).toBe(1);
    expect(sample(m, "blitd_transfers_finished_total", { module: "m", direction: "push", transport: "grpc", status: "ok" })).toBe(1);
    expect(sample(m, "blitd_transfers_finished_total", { module: "m", direction: "pull", transport: "tcp", status: "ok" })).toBe(1);
    expect(sample(m, "blitd_bytes_received_total", { module: "m", transport: "tcp" })).toBe(TOTAL);
    expect(sample(m, "blitd_bytes_received_total", { module: "m", transport: "grpc" })).toBe(TOTAL);
    expect(sample(m, "blitd_bytes_sent_total", { module: "m", transport: "tcp" })).toBe(TOTAL);
    expect(sample(m, "blitd_files_total", { module: "m", direction: "push" })).toBe(2 * SIZES.length);
    expect(sample(m, "blitd_files_total", { module: "m", direction: "pull" })).toBe(SIZES.length);
    expect(sample(m, "blitd_transfer_duration_seconds_count", { module: "m", direction: "push" })).toBe(2);
    expect(sample(m, "blitd_transfer_duration_seconds_bucket", { module: "m", direction: "push", le: "3600" })).toBe(2);
    expect(sample(m, "blitd_transfers_rejected_total", { module: "ro", direction: "push", reason: "read_only" })).toBe(1);
    expect(sample(m, "blitd_transfers_started_total", { module: "ro", direction: "push" })).toBeUndefined();
    expect(sample(m, "blitd_active_transfers")).toBe(0);
    expect(sample(m, "blitd_auth_failures_total")).toBe(0);
    expect(sample(m, "blitd_process_resident_memory_bytes")).toBeGreaterThan(0); // collectDefaultMetrics, prefixed

    const other = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
    expect(other.status).toBe(404);
    await other.text();
    const post = await fetch(`http://127.0.0.1:${port}/metrics`, { method: "POST", body: "x", signal: AbortSignal.timeout(5000) });
    expect(post.status).toBe(405);
    await post.text();

    // A transfer's data port does not answer /metrics either.
    const c = rawClient(d.port);
    try {
      const neg = await rpc<{ data_port: number }>(c, "Negotiate", { direction: "pull", module: "m", path: "" });
      expect(neg.data_port).toBeGreaterThan(0);
      expect(await httpGet(neg.data_port)).not.toContain("blitd_");
    } finally {
      c.close();
    }
    expect(d.alive()).toBe(true);
  } finally {
    await d.stop();
    cleanup(dir);
  }
});

test("a push whose client is killed mid-transfer counts as failed, and a wrong auth token as an auth failure", { timeout: 60_000 }, async () => {
  const dir = tempDir("metrics-fail-");
  const mod = join(dir, "m");
  mkdirSync(mod);
  const src = join(dir, "src");
  mkdirSync(src);
  const chunk = crypto.getRandomValues(new Uint8Array(65536));
  const big = new Uint8Array(8 << 20);
  for (let o = 0; o < big.length; o += chunk.length) big.set(chunk, o);
  writeFileSync(join(src, "big.bin"), big); // 8 s at --bwlimit 1M: time to kill its client mid-transfer
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "a-token-of-at-least-16-chars\n", { mode: 0o600 });
  writeFileSync(join(dir, "wrong"), "not-the-token-of-this-daemon\n", { mode: 0o600 });
  const d = await startBlitd(dir, moduleToml({ m: { path: mod, readOnly: false } }, `metrics_bind = "127.0.0.1:0"\ncomplete_timeout = 1\nauth_token_file = ${JSON.stringify(tokenFile)}`));
  try {
    const port = d.metricsPort!;
    const url = `blit://127.0.0.1:${d.port}/m`;
    const wrong = await blit(["push", src, url, "--auth-token-file", join(dir, "wrong")]);
    expect(wrong.code).not.toBe(0);
    expect(sample(await scrape(port), "blitd_auth_failures_total")).toBe(1);

    const client = spawnBlit(["push", src, url, "--bwlimit", "1M", "--auth-token-file", tokenFile]);
    await until("a temporary in the module", async () => temps(mod).length, (n) => n > 0, 20_000);
    expect(sample(await scrape(port), "blitd_active_transfers")).toBe(1);
    client.kill("SIGKILL");
    await client.exited;
    // No Complete comes: the reaper ends it after complete_timeout, and it counts as failed.
    const m = await until("the failed transfer counted", () => scrape(port),
      (t) => sample(t, "blitd_transfers_finished_total", { module: "m", direction: "push", transport: "tcp", status: "failed" }) === 1, 15_000);
    expect(sample(m, "blitd_transfers_started_total", { module: "m", direction: "push" })).toBe(1);
    expect(sample(m, "blitd_active_transfers")).toBe(0);
    // Bytes count the files written, as the run report's copiedBytes: the one file never finished.
    expect(sample(m, "blitd_bytes_received_total", { module: "m", transport: "tcp" })).toBe(0);
    expect(sample(m, "blitd_transfer_duration_seconds_count", { module: "m", direction: "push" })).toBe(1);
  } finally {
    await d.stop();
    cleanup(dir);
  }
});

const OPENSSL = Bun.which("openssl");
if (!OPENSSL) console.warn("metrics.test.ts: TLS metrics test skipped: openssl is not installed (apt-get install openssl)");

test.skipIf(!OPENSSL)("a TLS push is labelled tcp+tls, an interrupted push interrupted, and a connection that never authenticates is counted refused (handshake_timeout)", { timeout: 60_000 }, async () => {
  const dir = tempDir("metrics-tls-");
  const mod = join(dir, "m");
  mkdirSync(mod);
  const src = makeSource(dir);
  const slowSrc = join(dir, "slow");
  mkdirSync(slowSrc);
  writeFileSync(join(slowSrc, "big.bin"), new Uint8Array(16 << 20)); // about 8 s at --bwlimit 2M
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  const made = Bun.spawnSync([OPENSSL!, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"], { stderr: "pipe" });
  expect(made.exitCode).toBe(0);
  const extra = `metrics_bind = "127.0.0.1:0"\nhandshake_timeout = 0.5\ntls_cert_file = ${JSON.stringify(cert)}\ntls_key_file = ${JSON.stringify(key)}`;
  const d = await startBlitd(dir, moduleToml({ m: { path: mod, readOnly: false } }, extra));
  const env = { BLIT_HOME: join(dir, "home") };
  let client: ReturnType<typeof spawnBlit> | undefined;
  try {
    const port = d.metricsPort!;
    const url = `blits://127.0.0.1:${d.port}/m`;
    const pushed = await blit(["push", src, `${url}/tls`, "--tls-accept-new"], env);
    expect(pushed.code).toBe(0);
    let m = await scrape(port);
    expect(sample(m, "blitd_transfers_finished_total", { module: "m", direction: "push", transport: "tcp+tls", status: "ok" })).toBe(1);
    expect(sample(m, "blitd_bytes_received_total", { module: "m", transport: "tcp+tls" })).toBe(TOTAL);

    // A stranger that connects and says nothing: unauthenticated while open, refused at its deadline.
    const stranger = connect(d.port, "127.0.0.1");
    stranger.on("error", () => {});
    const strangerClosed = new Promise<void>((r) => stranger.once("close", () => r()));
    await until("the stranger counted as unauthenticated", () => scrape(port), (t) => sample(t, "blitd_connections_active", { state: "unauthenticated" }) === 1, 5000);
    await strangerClosed;
    m = await until("the stranger counted as refused", () => scrape(port), (t) => sample(t, "blitd_connections_refused_total", { reason: "handshake_timeout" }) === 1, 5000);
    expect(sample(m, "blitd_connections_active", { state: "unauthenticated" })).toBe(0);

    client = spawnBlit(["push", slowSrc, `${url}/slow`, "--bwlimit", "2M", "--no-progress"], env);
    await until("a temporary in the module", async () => temps(mod).length, (n) => n > 0, 20_000);
    client.kill("SIGINT");
    expect(await client.exited).toBe(130);
    m = await until("the interrupted push counted", () => scrape(port),
      (t) => sample(t, "blitd_transfers_finished_total", { module: "m", direction: "push", transport: "tcp+tls", status: "interrupted" }) === 1, 10_000);
    expect(sample(m, "blitd_active_transfers")).toBe(0);
  } finally {
    client?.kill("SIGKILL");
    await d.stop();
    cleanup(dir);
  }
});

/** Runs blitd with `toml` and `flags` to its exit; its code and stderr. */
async function blitdExit(dir: string, toml: string, flags: string[] = []): Promise<{ code: number; stderr: string }> {
  const cfg = join(dir, "blitd.toml");
  writeFileSync(cfg, toml);
  const proc = Bun.spawn([process.execPath, join(REPO, "daemon/main.ts"), "--config", cfg, ...flags], { stdout: "pipe", stderr: "pipe", env: { ...process.env, BLIT_TELEMETRY: "off" } });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000); // a daemon that started anyway must not hang the test
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  clearTimeout(timer);
  return { code, stderr };
}

/** A TCP port free right now on 127.0.0.1. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test("a metrics_bind on the gRPC port, or not an address, is refused in words with exit 2; one in use, exit 1; one off loopback, a warning", { timeout: 30_000 }, async () => {
  const dir = tempDir("metrics-cfg-");
  mkdirSync(join(dir, "m"));
  const mods = moduleToml({ m: { path: join(dir, "m") } });
  try {
    const port = await freePort();
    const same = await blitdExit(dir, `bind = "127.0.0.1:${port}"\nmetrics_bind = "127.0.0.1:${port}"\n${mods}`);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain(`'metrics_bind' = '127.0.0.1:${port}' uses port ${port}, the gRPC port of bind '127.0.0.1:${port}'`);
    const flag = await blitdExit(dir, mods, ["--bind", `127.0.0.1:${port}`, "--metrics-bind", `localhost:${port}`]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain(`'metrics_bind' = 'localhost:${port}' uses port ${port}`);
    const bad = await blitdExit(dir, `metrics_bind = "nope"\n${mods}`, ["--bind", "127.0.0.1:0"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'metrics_bind' = 'nope' is not a valid address (expected HOST:PORT");
    expect(bad.stderr).not.toContain("    at ");
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    try {
      const busy = (taken.address() as { port: number }).port;
      const inUse = await blitdExit(dir, `metrics_bind = "127.0.0.1:${busy}"\n${mods}`, ["--bind", "127.0.0.1:0"]);
      expect(inUse.code).toBe(1);
      expect(inUse.stderr).toContain(`cannot serve metrics on 127.0.0.1:${busy} (metrics_bind)`);
    } finally {
      taken.close();
    }
    // Off loopback is allowed (Prometheus scrapes from elsewhere), with a warning naming the risk.
    const wide = await startBlitd(dir, mods, ["--metrics-bind", "0.0.0.0:0"]);
    try {
      expect(wide.metricsPort).toBeGreaterThan(0);
      const warning = "warning: metrics_bind '0.0.0.0:0' is not loopback: whoever can reach it reads module names and traffic counts (no auth)";
      expect(await until("the warning", async () => wide.stderr(), (e) => e.includes(warning), 5000)).toContain(warning);
      expect(sample(await scrape(wide.metricsPort!), "blitd_active_transfers")).toBe(0);
    } finally {
      await wide.stop();
    }
  } finally {
    cleanup(dir);
  }
});

/** Opens a connection to `port` that sends half a request (and, dripping, a header line every 300 ms); resolves with when it was closed (ms after open). */
function slowClient(port: number, drip: boolean): { closed: Promise<number>; sock: Socket } {
  const t0 = Date.now();
  const sock = connect(port, "127.0.0.1", () => sock.write("GET /metrics HTTP/1.1\r\nHost: x\r\n"));
  sock.on("error", () => {});
  const timer = drip ? setInterval(() => sock.writable && sock.write("X-Slow: 1\r\n"), 300) : undefined;
  const closed = new Promise<number>((resolve) => sock.once("close", () => {
    clearInterval(timer);
    resolve(Date.now() - t0);
  }));
  return { closed, sock };
}

test("slowloris on the metrics port: half a request, or one dripped, is closed within seconds while a scrape is answered", { timeout: 30_000 }, async () => {
  const dir = tempDir("metrics-slow-");
  mkdirSync(join(dir, "m"));
  const d = await startBlitd(dir, moduleToml({ m: { path: join(dir, "m") } }, `metrics_bind = "127.0.0.1:0"`));
  const slow = [slowClient(d.metricsPort!, false), slowClient(d.metricsPort!, true)];
  try {
    await Bun.sleep(500);
    const t0 = Date.now();
    expect(sample(await scrape(d.metricsPort!), "blitd_active_transfers")).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
    const limit = new Promise<number>((r) => setTimeout(() => r(-1), 10_000));
    const [half, dripped] = await Promise.all(slow.map((s) => Promise.race([s.closed, limit])));
    expect(half).toBeGreaterThan(0);
    expect(half).toBeLessThan(8000);
    expect(dripped).toBeGreaterThan(0);
    expect(dripped).toBeLessThan(8000);

    // A flood of idle connections, more than the listener keeps: the oldest are closed, a scrape is answered.
    const flood = Array.from({ length: 40 }, () => slowClient(d.metricsPort!, false));
    try {
      let connected = 0;
      for (const f of flood) f.sock.once("connect", () => connected++);
      await until("the flood connected", async () => connected, (n) => n === 40, 5000);
      const t1 = Date.now();
      expect(sample(await scrape(d.metricsPort!), "blitd_active_transfers")).toBe(0);
      expect(Date.now() - t1).toBeLessThan(3000);
      const gone = await until("the oldest closed", async () => flood.filter((f) => f.sock.destroyed).length, (n) => n >= 8, 3000);
      expect(gone).toBeGreaterThanOrEqual(8);
    } finally {
      for (const f of flood) f.sock.destroy();
    }
    expect(d.alive()).toBe(true);
  } finally {
    for (const s of slow) s.sock.destroy();
    await d.stop();
    cleanup(dir);
  }
});

const PROMETHEUS = ["/usr/bin/prometheus", Bun.which("prometheus") ?? ""].find((p) => p && existsSync(p));
if (!PROMETHEUS) console.warn("metrics.test.ts: end-to-end scrape skipped: prometheus is not installed (apt-get install prometheus)");

test.skipIf(!PROMETHEUS)("end to end: a real Prometheus scrapes blitd during pushes and a PromQL query returns the pushed bytes (needs Debian's prometheus package)", { timeout: 90_000 }, async () => {
  const dir = tempDir("metrics-prom-");
  const mod = join(dir, "m");
  mkdirSync(mod);
  const src = makeSource(dir);
  const d = await startBlitd(dir, moduleToml({ m: { path: mod, readOnly: false } }, `metrics_bind = "127.0.0.1:0"`));
  let prom: Subprocess<"ignore", "pipe", "pipe"> | undefined;
  let promErr = "";
  try {
    const webPort = await freePort();
    writeFileSync(join(dir, "prometheus.yml"), [
      "global:", "  scrape_interval: 1s", "  evaluation_interval: 1s",
      "scrape_configs:", "  - job_name: blitd", "    static_configs:", `      - targets: ["127.0.0.1:${d.metricsPort}"]`, "",
    ].join("\n"));
    prom = Bun.spawn([PROMETHEUS!, `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "tsdb")}`, `--web.listen-address=127.0.0.1:${webPort}`], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    void (async () => {
      for await (const c of prom!.stderr) promErr += new TextDecoder().decode(c);
    })();
    const api = `http://127.0.0.1:${webPort}`;
    const ready = async () => {
      try {
        return (await fetch(`${api}/-/ready`, { signal: AbortSignal.timeout(2000) })).status;
      } catch {
        return 0;
      }
    };
    await until(`prometheus ready (${promErr.slice(-500)})`, ready, (s) => s === 200, 30_000);
    const url = `blit://127.0.0.1:${d.port}/m`;
    expect((await blit(["push", src, `${url}/one`])).code).toBe(0);
    expect((await blit(["push", src, `${url}/two`])).code).toBe(0);
    const query = async (q: string) => {
      try {
        const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(3000) });
        const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
        return body.data?.result?.[0]?.value[1];
      } catch {
        return undefined;
      }
    };
    const bytes = await until("PromQL sum(blitd_bytes_received_total) to reach the pushed bytes", () => query(`sum(blitd_bytes_received_total{module="m"})`), (v) => v === String(2 * TOTAL), 30_000);
    expect(Number(bytes)).toBe(2 * TOTAL);
    expect(await query(`sum(blitd_transfers_finished_total{module="m",direction="push",status="ok"})`)).toBe("2");
    expect(await query(`up{job="blitd"}`)).toBe("1");
  } finally {
    if (prom) {
      prom.kill("SIGTERM");
      const killer = setTimeout(() => prom!.kill("SIGKILL"), 10_000);
      await prom.exited;
      clearTimeout(killer);
    }
    await d.stop();
    cleanup(dir);
  }
});
