// A fleet: three hosts' stores made by real `blit mirror` runs (BLIT_HOST names each host), one
// of them (nas-3) writing to an ext4 loop device mounted -o sync, as a NAS with a slow disk would,
// all exported to one folder twice, then read in place with --store and imported into a fresh store.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { PROJECT_ROOT, makeTree, tempDir } from "../diagnose/helpers.ts";

const HOSTS = ["nas-1", "nas-2", "nas-3"] as const;
const RUNS_PER_HOST = 5;
const FILES = 300;

async function blit(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, join(PROJECT_ROOT, "tui/blit.ts"), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, BLIT_TELEMETRY: "on", BLIT_WORKERS: "", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Every file below `dir`, relative, with its size and mtime. */
function listing(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out.set(relative(dir, p), `${st.size}:${st.mtimeMs}`);
    }
  };
  walk(dir);
  return out;
}

const t = tempDir();
const fleet = join(t.dir, "fleet");
const home = (host: string) => join(t.dir, host);
const canMount = process.getuid?.() === 0 && ["losetup", "mkfs.ext4", "mount", "umount"].every((t) => Bun.which(t) !== null);
const SKIP = "the slow host needs root and losetup, mkfs.ext4, mount (util-linux, e2fsprogs) for its -o sync loop device";
let mounted = false;
const exported: Record<string, { rows: Record<string, number>; files: number; skippedRuns: number }> = {};

beforeAll(async () => {
  const src = makeTree(join(t.dir, "src"), FILES, 4096, 3);
  const slow = join(t.dir, "sync-dst");
  mkdirSync(slow);
  if (canMount) {
    const image = join(t.dir, "nas-3.img");
    Bun.spawnSync(["truncate", "-s", "128M", image]);
    Bun.spawnSync(["mkfs.ext4", "-q", "-F", image]);
    mounted = Bun.spawnSync(["mount", "-o", "loop,sync", image, slow]).exitCode === 0;
  }
  for (const host of HOSTS) {
    for (let i = 0; i < RUNS_PER_HOST; i++) {
      const dst = host === "nas-3" ? join(slow, `d${i}`) : join(t.dir, `dst-${host}-${i}`);
      const r = await blit(["mirror", src, dst], { BLIT_HOME: home(host), BLIT_HOST: host });
      if (r.code !== 0) throw new Error(`mirror on ${host} failed: ${r.stderr}`);
    }
  }
}, 120_000);

afterAll(() => {
  if (mounted) Bun.spawnSync(["umount", join(t.dir, "sync-dst")]);
  t.remove();
});

describe("fleet telemetry", () => {
  test("each host's export adds its runs under host=H/day=D; exporting again adds nothing and rewrites nothing", async () => {
    for (const host of HOSTS) {
      const r = await blit(["telemetry", "export", fleet, "--json"], { BLIT_HOME: home(host) });
      expect(r.code).toBe(0);
      const counts = JSON.parse(r.stdout);
      expect(counts.rows.runs).toBe(RUNS_PER_HOST);
      expect(counts.rows.run_context).toBe(RUNS_PER_HOST);
      expect(counts.hosts).toEqual([host]);
      exported[host] = counts;
    }
    const before = listing(fleet);
    for (const host of HOSTS) {
      const day = new Date().toISOString().slice(0, 10);
      const parts = [...before.keys()].filter((f) => f.startsWith(`host=${host}/`));
      expect(parts.some((f) => /^host=[^/]+\/day=\d{4}-\d\d-\d\d\/runs-v\d+-[0-9a-f-]+\.parquet$/.test(f))).toBe(true);
      expect(parts.every((f) => f.startsWith(`host=${host}/day=${day}/`) || /day=\d{4}-\d\d-\d\d/.test(f))).toBe(true);
    }
    for (const host of HOSTS) {
      const r = await blit(["telemetry", "export", fleet, "--json"], { BLIT_HOME: home(host) });
      expect(r.code).toBe(0);
      const counts = JSON.parse(r.stdout);
      expect(counts.rows.runs).toBe(0);
      expect(counts.files).toBe(0);
      expect(counts.skippedRuns).toBe(RUNS_PER_HOST);
    }
    expect(listing(fleet)).toEqual(before);
    // Plain Parquet under hive partitions: any reader gets the runs, with host from the path.
    const conn = await (await DuckDBInstance.create(":memory:")).connect();
    const rows = (await conn.runAndReadAll(
      `SELECT host, count(*) AS n, count(DISTINCT id) AS ids, min(typeof(started_at)) AS ts
       FROM read_parquet('${fleet}/**/runs-*.parquet', hive_partitioning = true) GROUP BY host ORDER BY host`,
    )).getRowObjectsJson();
    expect(rows).toEqual(HOSTS.map((h) => ({ host: h, n: String(RUNS_PER_HOST), ids: String(RUNS_PER_HOST), ts: "TIMESTAMP" })));
    conn.closeSync();
  }, 60_000);

  test("diagnose --store reads the fleet in place and names the outlier host with its evidence", async () => {
    if (!mounted) {
      console.warn(`skipped: ${SKIP}`);
      return;
    }
    const r = await blit(["diagnose", "--store", `${fleet}/**/*.parquet`, "--json"], { BLIT_HOME: join(t.dir, "nobody") });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.window.totalRuns).toBe(HOSTS.length * RUNS_PER_HOST);
    expect(d.fleet.hosts).toEqual([...HOSTS]);
    expect(d.fleet.outliers.map((o: { host: string }) => o.host)).toEqual(["nas-3"]);
    const o = d.fleet.outliers[0];
    expect(o.slowdown).toBeGreaterThanOrEqual(1.5);
    expect(o.text).toMatch(/^nas-3 copies small files \(under 16 MiB a run\) [0-9.]+× slower than the fleet median for the same work/);
    expect(o.evidence.join("\n")).toContain("over 3 hosts");
    // The cause is in the evidence: what its runs recorded about their destination.
    expect(o.evidence.join("\n")).toContain("its destination device: ext4 on loop, mounted sync (theirs: ext4 on ");
    const group = d.fleet.groups.find((g: { route: string; shape: string }) => g.route === "local" && g.shape === "small files");
    expect(group.members.map((m: { host: string; runs: number }) => [m.host, m.runs])).toEqual(HOSTS.map((h) => [h, RUNS_PER_HOST]));
    const text = await blit(["diagnose", "--store", fleet], {});
    expect(text.stdout).toContain("Fleet (3 hosts, 15 runs compared)");
    expect(text.stdout).toMatch(/! nas-3 copies small files .* slower than the fleet median/);
    // The slowest run it names can be diagnosed through the same --store.
    const one = await blit(["diagnose", o.evidence.at(-1).match(/[0-9a-f-]{36}/)[0], "--store", fleet, "--json"], {});
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout).run.destination).toContain("sync-dst");
    // The other readers of a store read the fleet too: the diagnose UI's list (Markdown off a
    // terminal) and the HTML report carry the fleet view; predict fits on the fleet's runs.
    const ui = await blit(["diagnose", "--ai", "--store", fleet], {});
    expect(ui.code).toBe(0);
    expect(ui.stdout).toContain("### Fleet: 3 hosts, last 7 days");
    expect(ui.stdout).toMatch(/\*\*nas-3 copies small files .* slower than the fleet median/);
    const html = join(t.dir, "fleet.html");
    const page = await blit(["report", "--html", html, "--store", `${fleet}/**/*.parquet`], {});
    expect(page.code).toBe(0);
    const htmlText = await Bun.file(html).text();
    expect(htmlText).toContain("Fleet: 3 hosts");
    expect(htmlText).toMatch(/nas-3 copies small files \(under 16 MiB a run\) [0-9.]+× slower than the fleet median/);
    const predicted = await blit(["predict", join(t.dir, "src"), join(t.dir, "predict-dst"), "--store", fleet, "--json"], {});
    expect(predicted.stderr).toBe("");
    expect(predicted.code).toBe(0);
    // It read the fleet (whether the fit uses its runs depends on how many were healthy, which a
    // loaded machine decides); a glob matching no runs gives the defaults and says why.
    expect(JSON.parse(predicted.stdout).prediction.durationMs).toBeGreaterThan(0);
    expect(JSON.parse(predicted.stdout).prediction.note).not.toContain("could not be read");
    const none = await blit(["predict", join(t.dir, "src"), join(t.dir, "predict-dst"), "--store", `${t.dir}/src/**/*.parquet`, "--json"], {});
    expect(none.code).toBe(0);
    expect(JSON.parse(none.stdout).prediction.note).toMatch(/the telemetry store could not be read \(.*no blit runs in /);
  }, 60_000);

  test("diagnostics perf --store lists every host's runs; a store file that does not exist is an error, not a new store", async () => {
    const r = await blit(["diagnostics", "perf", "--store", `${fleet}/**/*.parquet`, "--json", "--limit", "100"], {});
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(HOSTS.length * RUNS_PER_HOST);
    const missing = join(t.dir, "typo", "telemetry.duckdb");
    const bad = await blit(["diagnose", "--store", missing], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`--store ${missing}: no such store file or folder`);
    expect(() => statSync(missing)).toThrow();
    const none = await blit(["diagnose", "--store", `${t.dir}/src/**/*.parquet`], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no blit runs");
  }, 60_000);

  test("a half-written file in an export's hidden staging folder is never read", async () => {
    const staging = join(fleet, ".blit-export-crashed", "host=nas-9", "day=2026-01-01");
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, "runs-0000.parquet"), "PAR1 half a file");
    const r = await blit(["diagnostics", "perf", "--store", fleet, "--json", "--limit", "100"], {});
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toHaveLength(HOSTS.length * RUNS_PER_HOST);
  }, 60_000);

  test("a partition folder another user swapped for a symlink stops the export, naming it; nothing lands where it points", async () => {
    const home9 = join(t.dir, "nas-9");
    expect((await blit(["mirror", join(t.dir, "src"), join(t.dir, "dst-nas-9")], { BLIT_HOME: home9, BLIT_HOST: "nas-9" })).code).toBe(0);
    const share = join(t.dir, "share");
    const outside = join(t.dir, "outside");
    mkdirSync(share);
    mkdirSync(outside);
    symlinkSync(outside, join(share, "host=nas-9"));
    const r = await blit(["telemetry", "export", share], { BLIT_HOME: home9 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("host=nas-9");
    expect(r.stderr).toContain("symlink");
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(share)).toEqual(["host=nas-9"]); // no staging folder left behind
    // Once the link is gone, the same export goes through.
    rmSync(join(share, "host=nas-9"));
    const again = await blit(["telemetry", "export", share, "--json"], { BLIT_HOME: home9 });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).rows.runs).toBe(1);
  }, 60_000);

  test("a Parquet name planted as a symlink in the share is not followed by a reader", async () => {
    const day = readdirSync(join(fleet, "host=nas-1"))[0]!;
    symlinkSync("/etc/passwd", join(fleet, "host=nas-1", day, "runs-v6-planted.parquet"));
    try {
      const r = await blit(["diagnostics", "perf", "--store", fleet, "--json", "--limit", "100"], {});
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toHaveLength(HOSTS.length * RUNS_PER_HOST);
    } finally {
      rmSync(join(fleet, "host=nas-1", day, "runs-v6-planted.parquet"));
    }
  }, 60_000);

  test("import into a fresh store adds exactly what the exports wrote; importing again adds nothing", async () => {
    const into = join(t.dir, "central");
    const r = await blit(["telemetry", "import", fleet, "--json"], { BLIT_HOME: into });
    expect(r.code).toBe(0);
    const counts = JSON.parse(r.stdout);
    for (const table of Object.keys(counts.rows)) {
      expect({ table, rows: counts.rows[table] }).toEqual({ table, rows: HOSTS.reduce((n, h) => n + (exported[h]!.rows[table] ?? 0), 0) });
    }
    expect(counts.hosts).toEqual([...HOSTS]);
    const again = JSON.parse((await blit(["telemetry", "import", fleet, "--json"], { BLIT_HOME: into })).stdout);
    expect(again.rows.runs).toBe(0);
    expect(again.skippedRuns).toBe(HOSTS.length * RUNS_PER_HOST);
    // The imported store answers like the fleet: same runs, same outlier.
    const d = JSON.parse((await blit(["diagnose", "--json"], { BLIT_HOME: into })).stdout);
    expect(d.window.totalRuns).toBe(HOSTS.length * RUNS_PER_HOST);
    if (mounted) expect(d.fleet.outliers.map((o: { host: string }) => o.host)).toEqual(["nas-3"]);
    // A fleet export is read-only.
    const ro = await blit(["telemetry", "import", fleet, "--store", `${fleet}/**/*.parquet`], {});
    expect(ro.code).toBe(2);
    expect(ro.stderr).toContain("read-only");
  }, 60_000);
});
