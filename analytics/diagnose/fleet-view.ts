// The fleet view of the history report: when the runs come from more than one host (a fleet
// export read with --store, or a store that imported other hosts' runs), which host is slow for
// the same work. Runs are grouped by route and shape (small files, mixed, large files: the mean
// size of what was copied), each host's median rate in a group is compared with the fleet median
// (the median of the hosts' medians, so one busy host does not set the norm), and a host far below
// it is named, with the numbers and the context its runs recorded as evidence.
// Everything is aggregated in SQL, so a fleet of a million runs costs one scan.
import type { DuckDBConnection } from "@duckdb/node-api";
import { median } from "simple-statistics";
import { duckdb } from "../store/duckdb-module.ts";
import { formatBytesPerSec, formatCount } from "../store/human-units.ts";

export type FleetShape = "small files" | "mixed" | "large files";

/** One host's runs of one route and shape in the window. */
export interface FleetHost {
  host: string;
  route: string;
  shape: FleetShape;
  runs: number;
  /** Median rate: files/s for small files, bytes/s otherwise. */
  rate: number;
  /** fleet median / this host's median: 3.1 = 3.1× slower than the fleet. */
  slowdown: number;
  /** The destination filesystem most of these runs wrote to. */
  destinationFs: string;
  outlier: boolean;
}

/** One route and shape across the fleet. */
export interface FleetGroup {
  route: string;
  shape: FleetShape;
  unit: "files/s" | "bytes/s";
  hosts: number;
  runs: number;
  /** Median of the hosts' median rates. */
  fleetRate: number;
  members: FleetHost[];
}

export interface FleetOutlier {
  host: string;
  route: string;
  shape: FleetShape;
  slowdown: number;
  /** Its slowest run of this route and shape, to diagnose with the same --store. */
  slowestRunId: string;
  text: string;
  evidence: string[];
}

export interface FleetView {
  hosts: string[];
  runs: number;
  groups: FleetGroup[];
  outliers: FleetOutlier[];
  notes: string[];
}

/** A host needs this many runs in a group for its median to count. */
export const FLEET_MIN_HOST_RUNS = 3;
/** And a group this many such hosts to have a fleet median. */
export const FLEET_MIN_HOSTS = 3;
/** A host this much slower than the fleet median ... */
export const FLEET_SLOWDOWN = 1.5;
/** ... and this far from the other hosts (robust z of log rates, MAD-scaled) is an outlier ... */
const FLEET_SCORE = 3.5;
/**
 * ... and so is one this much slower whatever the spread: with a few hosts the spread of three
 * or four medians says little (two hosts 1.35× apart put a third 2.5× below them at z 2).
 */
export const FLEET_CLEAR_SLOWDOWN = 2;

const SMALL = 64 * 1024;
const LARGE = 1024 * 1024;

/**
 * The fleet view of the runs since `sinceMs`; undefined when they come from fewer than two hosts.
 * Dry runs, failed runs, runs under --bwlimit and runs that moved nothing are left out.
 */
export async function fleetView(conn: DuckDBConnection, sinceMs: number): Promise<FleetView | undefined> {
  const since = BigInt(Math.round(sinceMs)) * 1000n;
  // One scan of the window for the rates; the context of a host is read only when it stands out.
  const reader = await conn.runAndReadAll(
    `WITH r AS (${RATES_SQL})
     SELECT host, route, shape, count(*) AS runs, median(rate) AS rate, mode(destination_fs) AS fs
     FROM r GROUP BY host, route, shape ORDER BY route, shape, host`,
    [since],
  );
  const rows = reader.getRowObjects();
  const hosts = [...new Set(rows.map((r) => String(r.host)))].sort();
  if (hosts.length < 2) return undefined;
  const byGroup = new Map<string, FleetHost[]>();
  for (const row of rows) {
    const member: FleetHost = {
      host: String(row.host),
      route: String(row.route),
      shape: String(row.shape) as FleetShape,
      runs: Number(row.runs),
      rate: Number(row.rate),
      slowdown: 1,
      destinationFs: String(row.fs ?? ""),
      outlier: false,
    };
    const key = `${member.route}\t${member.shape}`;
    byGroup.set(key, [...(byGroup.get(key) ?? []), member]);
  }
  const groups: FleetGroup[] = [];
  const outliers: FleetOutlier[] = [];
  const notes: string[] = [];
  for (const members of byGroup.values()) groups.push(judge(members));
  const flagged = groups.flatMap((g) => g.members.filter((m) => m.outlier).map((m) => ({ g, m })));
  if (flagged.length > 0) {
    const context = await contextOf(conn, since, flagged.map(({ m }) => m));
    for (const { g, m } of flagged) outliers.push(outlierOf(g, m, context(m)));
  }
  outliers.sort((a, b) => b.slowdown - a.slowdown);
  if (!groups.some((g) => g.hosts >= FLEET_MIN_HOSTS)) {
    notes.push(`no route and shape has ${FLEET_MIN_HOSTS} hosts with ${FLEET_MIN_HOST_RUNS}+ runs each in the window: no fleet median to compare with`);
  }
  return { hosts, runs: rows.reduce((n, r) => n + Number(r.runs), 0), groups, outliers, notes };
}

/** The runs the fleet view compares, each with its shape and rate (files/s or bytes/s); $1 = window start, µs. */
const RATES_SQL = `
  SELECT runs.id, runs.host, runs.route, runs.destination_fs,
         CASE WHEN copied_bytes / copied < ${SMALL} THEN 'small files' WHEN copied_bytes / copied >= ${LARGE} THEN 'large files' ELSE 'mixed' END AS shape,
         CASE WHEN copied_bytes / copied < ${SMALL} THEN copied ELSE copied_bytes END / (transfer_ms / 1000.0) AS rate
  FROM runs
  WHERE runs.started_at >= make_timestamp(CAST($1 AS BIGINT)) AND runs.status IN ('ok', 'partial') AND NOT coalesce(runs.dry_run, false)
    AND runs.copied > 0 AND runs.transfer_ms > 0 AND coalesce(runs.bwlimit, 0) = 0 AND coalesce(runs.host, '') <> ''`;

interface OutlierContext {
  /** Its slowest run of the group. */
  slowest: string;
  /** The destination device most of its runs, and of the other hosts' runs, wrote to ("ext4 on loop, mounted sync"). */
  device: { mine: string | null; others: string | null };
  /** Medians over its runs, and over the other hosts' runs of the same route and shape, where recorded. */
  io: { mine: number | null; others: number | null };
  cpu: { mine: number | null; others: number | null };
}

/**
 * What the outliers' runs recorded about their machine, against the other hosts' runs of the same
 * route and shape, and each outlier's slowest run: one more scan, with the runs' context.
 */
async function contextOf(conn: DuckDBConnection, since: bigint, outliers: FleetHost[]): Promise<(m: FleetHost) => OutlierContext> {
  const hosts = [...new Set(outliers.map((m) => m.host))];
  const reader = await conn.runAndReadAll(
    `WITH r AS (${RATES_SQL})
     SELECT r.route, r.shape, CASE WHEN list_contains($2::VARCHAR[], r.host) THEN r.host END AS host,
            arg_min(r.id, r.rate) AS slowest, median(c.psi_io_some) AS io, median(c.others_cpu_share) AS cpu,
            mode(CASE WHEN c.dst IS NOT NULL THEN c.dst.fsType || ' on ' || c.dst.deviceClass || CASE WHEN c.dst.sync THEN ', mounted sync' ELSE '' END END) AS device
     FROM r LEFT JOIN (
       SELECT run_id, psi_io_some, others_cpu_share,
              list_filter(from_json(devices, '[{"role":"VARCHAR","fsType":"VARCHAR","deviceClass":"VARCHAR","sync":"BOOLEAN"}]'), d -> d.role = 'destination')[1] AS dst
       FROM run_context
     ) c ON c.run_id = r.id GROUP BY ALL`,
    [since, duckdb().listValue(hosts)],
  );
  const rows = reader.getRowObjects();
  const num = (v: unknown) => (v == null ? null : Number(v));
  return (m) => {
    const same = rows.filter((r) => r.route === m.route && r.shape === m.shape);
    const mine = same.find((r) => r.host === m.host) ?? {};
    // The other hosts: every host not an outlier (one row), whatever other outliers there are.
    const others = same.find((r) => r.host == null) ?? {};
    return {
      slowest: String(mine.slowest ?? ""),
      device: { mine: mine.device == null ? null : String(mine.device), others: others.device == null ? null : String(others.device) },
      io: { mine: num(mine.io), others: num(others.io) },
      cpu: { mine: num(mine.cpu), others: num(others.cpu) },
    };
  };
}

/** The fleet median of a group and each member's slowdown against it; outliers marked. */
function judge(members: FleetHost[]): FleetGroup {
  const counted = members.filter((m) => m.runs >= FLEET_MIN_HOST_RUNS && m.rate > 0);
  const first = members[0]!;
  const group: FleetGroup = {
    route: first.route,
    shape: first.shape,
    unit: first.shape === "small files" ? "files/s" : "bytes/s",
    hosts: counted.length,
    runs: members.reduce((n, m) => n + m.runs, 0),
    fleetRate: counted.length > 0 ? median(counted.map((m) => m.rate)) : 0,
    members,
  };
  if (counted.length < FLEET_MIN_HOSTS) return group;
  const logs = counted.map((m) => Math.log(m.rate));
  const center = median(logs);
  const mad = median(logs.map((l) => Math.abs(l - center))) * 1.4826;
  for (const m of members) {
    m.slowdown = m.rate > 0 ? group.fleetRate / m.rate : Infinity;
    if (m.runs < FLEET_MIN_HOST_RUNS) continue;
    const z = mad > 0 ? (center - Math.log(m.rate)) / mad : Infinity;
    m.outlier = m.slowdown >= FLEET_SLOWDOWN && (z >= FLEET_SCORE || m.slowdown >= FLEET_CLEAR_SLOWDOWN);
  }
  return group;
}

const VERB: Record<string, string> = { local: "copies", push: "pushes", pull: "pulls" };

function outlierOf(g: FleetGroup, m: FleetHost, ctx: OutlierContext): FleetOutlier {
  const rate = (v: number) => (g.unit === "files/s" ? `${formatCount(Math.round(v))} files/s` : formatBytesPerSec(v));
  const others = g.members.filter((o) => o !== m && o.runs >= FLEET_MIN_HOST_RUNS);
  const shown = others.length <= 5 ? others.map((o) => `${o.host} ${rate(o.rate)}`).join(", ") : `from ${rate(Math.min(...others.map((o) => o.rate)))} to ${rate(Math.max(...others.map((o) => o.rate)))}`;
  const evidence = [
    `${m.host}: ${formatCount(m.runs)} ${g.route} runs of ${g.shape} at a median ${rate(m.rate)}`,
    `fleet median for the same route and shape: ${rate(g.fleetRate)} over ${g.hosts} hosts (the others: ${shown})`,
    ctx.device.mine !== null
      ? `its destination device: ${ctx.device.mine}${ctx.device.others === null ? "" : ctx.device.others === ctx.device.mine ? " (the same as the other hosts')" : ` (the other hosts': ${ctx.device.others})`}`
      : `its destination filesystem: ${m.destinationFs || "unknown"}${distinctFs(others, m)}`,
  ];
  const io = pressureLine("waited on I/O (PSI io some)", ctx.io);
  if (io) evidence.push(io);
  const cpu = pressureLine("other processes' CPU share", ctx.cpu);
  if (cpu) evidence.push(cpu);
  if (ctx.slowest) evidence.push(`its slowest run: ${ctx.slowest} ('blit diagnose ${ctx.slowest.slice(0, 8)}' with the same --store)`);
  return {
    host: m.host,
    route: g.route,
    shape: g.shape,
    slowdown: m.slowdown,
    slowestRunId: ctx.slowest,
    text: `${m.host} ${VERB[g.route] ?? g.route} ${g.shape} ${m.slowdown.toFixed(1)}× slower than the fleet median for the same shape (${rate(m.rate)} against ${rate(g.fleetRate)})`,
    evidence,
  };
}

function distinctFs(others: FleetHost[], m: FleetHost): string {
  const fs = [...new Set(others.map((o) => o.destinationFs).filter((f) => f && f !== m.destinationFs))];
  return fs.length > 0 ? ` (the others: ${fs.join(", ")})` : " (the same as the others)";
}

function pressureLine(what: string, v: { mine: number | null; others: number | null }): string | undefined {
  if (v.mine === null || v.others === null) return undefined;
  const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
  return `${what}: median ${pct(v.mine)} of its runs' time, against ${pct(v.others)} on the other hosts`;
}
