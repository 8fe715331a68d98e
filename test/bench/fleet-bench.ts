#!/usr/bin/env bun
// Benchmark of fleet telemetry at scale (issue #16's targets):
//  1. export: a store of 100,000 realistic runs (filled through recordMany, the store's insert
//     path) exported by the real CLI, `blit telemetry export DIR`, into a fresh folder each time
//     (target < 10 s);
//  2. read: 1,000,000 runs across 100 hosts as hive-partitioned Parquet, made from that export
//     (each run copied to 10 of the hosts with new ids and with the context a real run records; one
//     host, host-042, 3× slower on small files, on a rotational disk with more I/O wait), in the
//     layout `blit telemetry export` writes,
//     and the history report `blit diagnose --store 'DIR/**/*.parquet'` timed with its peak memory
//     (target < 2 s and < 500 MiB), for the default window (7d) and for all 30 days.
// Each command runs --repeat times; medians are reported. The workspace is removed at the end,
// whatever happens.
//
// Peak memory is the child's maximum resident set, as GNU time reports it (`/usr/bin/time`,
// Debian's package `time`); without it, Bun's resourceUsage of the child.
//
//   bun test/bench/fleet-bench.ts [--runs 100000] [--fleet-runs 1000000] [--hosts 100] [--repeat 3]
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DuckDBInstance } from "@duckdb/node-api";
import { recordMany, SCHEMA_VERSION } from "../../analytics/index.ts";
import { makeRuns } from "./synthetic-runs.ts";

const { values } = parseArgs({ options: { runs: { type: "string" }, "fleet-runs": { type: "string" }, hosts: { type: "string" }, repeat: { type: "string" } } });
const RUNS = Number(values.runs ?? 100_000);
const FLEET_RUNS = Number(values["fleet-runs"] ?? 1_000_000);
const HOSTS = Number(values.hosts ?? 100);
const REPEAT = Number(values.repeat ?? 3);
/** Each run of the base store appears on this many hosts (about FLEET_RUNS runs in the fleet) ... */
const COPIES = Math.max(1, Math.min(HOSTS, Math.round(FLEET_RUNS / RUNS)));
/** ... the hosts whose number is the run's hash modulo SPREAD. */
const SPREAD = Math.max(1, Math.round(HOSTS / COPIES));
const SLOW_HOST = "host-042";
const ROOT = resolve(import.meta.dir, "../..");

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Timed {
  ms: number;
  maxRssBytes: number;
  stdout: string;
}

const GNU_TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

/** The real CLI as a child process: wall time and peak resident memory. */
async function blit(args: string[], env: Record<string, string> = {}): Promise<Timed> {
  const rssFile = join(dir, "rss.txt");
  const command = [process.execPath, join(ROOT, "tui/blit.ts"), ...args];
  const t = performance.now();
  const proc = Bun.spawn(GNU_TIME ? [GNU_TIME, "-o", rssFile, "-f", "%M", ...command] : command, {
    cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const ms = performance.now() - t;
  if (code !== 0) throw new Error(`blit ${args.join(" ")} exited ${code}: ${stderr}`);
  const maxRssBytes = GNU_TIME ? Number(readFileSync(rssFile, "utf8").trim().split("\n").at(-1)) * 1024 : (proc.resourceUsage()?.maxRSS ?? 0);
  return { ms, maxRssBytes, stdout };
}

const dir = mkdtempSync(join(tmpdir(), "blit-bench-fleet-"));
try {
  const store = join(dir, "home", "telemetry.duckdb");
  let t = performance.now();
  const filled = await recordMany(makeRuns(RUNS, Date.now()), { path: store });
  process.stderr.write(`filled ${filled.added.toLocaleString("en-US")} runs in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);

  // 1. Export, each time into an empty folder (the whole store is new there).
  const exports: Timed[] = [];
  for (let i = 0; i < REPEAT; i++) exports.push(await blit(["telemetry", "export", join(dir, `export-${i}`), "--store", store, "--json"]));
  const exported = JSON.parse(exports[0]!.stdout) as { rows: { runs: number }; files: number };
  const again = await blit(["telemetry", "export", join(dir, "export-0"), "--store", store, "--json"]);
  const addedAgain = (JSON.parse(again.stdout) as { rows: { runs: number } }).rows.runs;

  // 2. The fleet: every exported run on COPIES of the hosts, with a new id; SLOW_HOST 3× slower on small files.
  t = performance.now();
  const fleet = join(dir, "fleet");
  const db = await DuckDBInstance.create(":memory:");
  const conn = await db.connect();
  await conn.run(`CREATE TABLE base AS SELECT * EXCLUDE (host, day) FROM read_parquet('${join(dir, "export-0")}/**/runs-*.parquet', hive_partitioning = true)`);
  // Each copy of a run gets a new id, its host, and the context a real run records: CPU,
  // pressure, and its two devices (the slow host's destination is a rotational disk with more I/O wait).
  await conn.run(`
    CREATE TABLE copies AS
    SELECT b.* EXCLUDE (id, report, transfer_ms, total_ms), printf('host-%03d', h.i) AS host, CAST(uuid() AS VARCHAR) AS id,
           b.transfer_ms * f.f AS transfer_ms, b.total_ms + b.transfer_ms * (f.f - 1) AS total_ms,
           json_merge_patch(b.report, json_object('host', printf('host-%03d', h.i))) AS report,
           printf('host-%03d', h.i) = '${SLOW_HOST}' AS slow_host
    FROM base b JOIN range(${HOSTS}) h(i) ON h.i % ${SPREAD} = hash(b.id) % ${SPREAD},
         LATERAL (SELECT CASE WHEN printf('host-%03d', h.i) = '${SLOW_HOST}' AND b.copied > 0 AND b.copied_bytes / b.copied < 65536 THEN 3.0
                              ELSE 0.9 + 0.2 * ((h.i * 7) % 5) / 4.0 END AS f) f`);
  await conn.run(`
    COPY (SELECT * EXCLUDE (slow_host) REPLACE (json_merge_patch(report, json_object('id', id)) AS report), strftime(started_at, '%Y-%m-%d') AS day FROM copies)
    TO '${fleet}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (host, day), FILENAME_PATTERN 'runs-v${SCHEMA_VERSION}-{uuid}')`);
  await conn.run(`
    COPY (
      SELECT id AS run_id, 2 AS cpu_count, total_ms * 0.3 AS self_user_ms, total_ms * 0.2 AS self_system_ms,
             copied * 2 AS self_voluntary_ctx_switches, copied / 10 AS self_involuntary_ctx_switches, 0 AS self_major_faults,
             copied_bytes AS self_read_bytes, copied_bytes AS self_write_bytes, 0.4 AS load_start, 0.6 AS load_end,
             0.01 AS psi_cpu_some, CASE WHEN slow_host THEN 0.35 ELSE 0.02 END AS psi_io_some, CASE WHEN slow_host THEN 0.2 ELSE 0.0 END AS psi_io_full,
             0.0 AS psi_memory_some, 0.05 AS others_cpu_share, NULL::INTEGER AS tracer_pid, NULL::VARCHAR AS tracer_name, 0.9 AS source_cached,
             json_array(
               json_object('role', 'source', 'path', source, 'mountPoint', '/', 'fsType', source_fs, 'device', 'nvme0n1p2', 'mountOptions', json_array('rw', 'relatime'),
                           'deviceClass', 'ssd', 'sync', false),
               json_object('role', 'destination', 'path', destination, 'mountPoint', '/backup', 'fsType', destination_fs,
                           'device', CASE WHEN slow_host THEN 'sdb1' ELSE 'nvme1n1p1' END, 'mountOptions', json_array('rw', 'relatime'),
                           'deviceClass', CASE WHEN slow_host THEN 'rotational' ELSE 'ssd' END, 'sync', false)) AS devices,
             json_array() AS openers,
             host, strftime(started_at, '%Y-%m-%d') AS day
      FROM copies
    ) TO '${fleet}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (host, day), FILENAME_PATTERN 'run_context-v${SCHEMA_VERSION}-{uuid}', APPEND)`);
  const shape = (await conn.runAndReadAll(
    `SELECT count(*) AS runs, count(DISTINCT host) AS hosts, (SELECT count(*) FROM glob('${fleet}/**/*.parquet')) AS files
     FROM read_parquet('${fleet}/**/runs-*.parquet', hive_partitioning = true)`,
  )).getRowObjects()[0]!;
  const sizeMiB = Number((await conn.runAndReadAll(`SELECT sum(size) AS s FROM read_blob('${fleet}/**/*.parquet')`)).getRowObjects()[0]!.s) / 2 ** 20;
  conn.closeSync();
  db.closeSync();
  const fleetRuns = Number(shape.runs);
  process.stderr.write(`fleet: ${fleetRuns.toLocaleString("en-US")} runs, ${shape.hosts} hosts, ${shape.files} files, ${sizeMiB.toFixed(0)} MiB, made in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);

  // 3. The history report read in place.
  const glob = `${fleet}/**/*.parquet`;
  const windows: Record<string, Timed[]> = { "7d": [], "30d": [] };
  for (let i = 0; i < REPEAT; i++) {
    for (const since of Object.keys(windows)) windows[since]!.push(await blit(["diagnose", "--store", glob, "--since", since, "--json"], { BLIT_HOME: join(dir, "nobody") }));
  }
  const report = JSON.parse(windows["7d"]![0]!.stdout) as { window: { runs: number; totalRuns: number }; fleet?: { outliers: { host: string; text: string }[] } };
  const outliers = report.fleet?.outliers.map((o) => o.host) ?? [];

  const mib = (b: number) => b / 2 ** 20;
  const exportMs = median(exports.map((e) => e.ms));
  console.log(`fleet benchmark: base store ${RUNS.toLocaleString("en-US")} runs; fleet ${fleetRuns.toLocaleString("en-US")} runs on ${shape.hosts} hosts (${shape.files} Parquet files, ${sizeMiB.toFixed(0)} MiB)`);
  console.log(`  export ${exported.rows.runs.toLocaleString("en-US")} runs (${exported.files} files)  median ${(exportMs / 1000).toFixed(2)} s  (${exports.map((e) => (e.ms / 1000).toFixed(2)).join(", ")})  peak ${mib(median(exports.map((e) => e.maxRssBytes))).toFixed(0)} MiB  target < 10 s: ${exportMs < 10_000 ? "PASS" : "MISS"}`);
  console.log(`  export again: ${addedAgain} runs added (expected 0)`);
  const summary: Record<string, unknown> = { baseRuns: RUNS, fleetRuns, hosts: Number(shape.hosts), files: Number(shape.files), sizeMiB: Math.round(sizeMiB), exportMedianMs: Math.round(exportMs), exportAgainRuns: addedAgain };
  for (const [since, timed] of Object.entries(windows)) {
    const ms = median(timed.map((x) => x.ms));
    const rss = median(timed.map((x) => x.maxRssBytes));
    const w = JSON.parse(timed[0]!.stdout).window as { runs: number };
    console.log(`  diagnose --store, --since ${since.padEnd(3)} (${w.runs.toLocaleString("en-US")} runs in the window)  median ${(ms / 1000).toFixed(2)} s (${timed.map((x) => (x.ms / 1000).toFixed(2)).join(", ")})  peak ${mib(rss).toFixed(0)} MiB  target < 2 s, < 500 MiB: ${ms < 2000 && mib(rss) < 500 ? "PASS" : "MISS"}`);
    summary[`diagnose${since}MedianMs`] = Math.round(ms);
    summary[`diagnose${since}PeakMiB`] = Math.round(mib(rss));
  }
  const named = [...new Set(outliers)].map((h) => `${h} (${outliers.filter((o) => o === h).length} kinds of work)`);
  console.log(`  outliers named: ${named.join(", ") || "none"} (planted: ${SLOW_HOST})${report.fleet?.outliers[0] ? `; the worst: "${report.fleet.outliers[0].text}"` : ""}`);
  summary.outliers = outliers;
  console.log(JSON.stringify(summary));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
