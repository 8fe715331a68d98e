// The fleet view of the history report: when the runs come from more than one host (a fleet
// export read with --store, or a store that imported other hosts' runs), which host is slow for
// the same work. Runs are grouped by route and shape (small files, mixed, large files: the mean
// size of what was copied), each host's median rate in a group is compared with the fleet median
// (the median of the hosts' medians, so one busy host does not set the norm), and a host far below
// it is named, with the numbers and the context its runs recorded as evidence.
// Everything is aggregated in SQL, so a fleet of a million runs costs one scan.
import type { DuckDBConnection } from "@duckdb/node-api";
import { median } from "simple-statistics";
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
  /** The slowest of these runs, to diagnose. */
  slowestRunId: string;
  /** Medians over the runs that recorded them: share of time some task waited on I/O, and others' CPU share. */
  ioPressure: number | null;
  othersCpu: number | null;
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
/** ... and this far from the other hosts (robust z of log rates, MAD-scaled) is an outlier. */
const FLEET_SCORE = 3.5;

const SMALL = 64 * 1024;
const LARGE = 1024 * 1024;

/**
 * The fleet view of the runs since `sinceMs`; undefined when they come from fewer than two hosts.
 * Dry runs, failed runs, runs under --bwlimit and runs that moved nothing are left out.
 */
export async function fleetView(conn: DuckDBConnection, sinceMs: number): Promise<FleetView | undefined> {
  const reader = await conn.runAndReadAll(
    `WITH r AS (
       SELECT runs.id, runs.host, runs.route, runs.destination_fs,
              CASE WHEN copied_bytes / copied < ${SMALL} THEN 'small files' WHEN copied_bytes / copied >= ${LARGE} THEN 'large files' ELSE 'mixed' END AS shape,
              CASE WHEN copied_bytes / copied < ${SMALL} THEN copied ELSE copied_bytes END / (transfer_ms / 1000.0) AS rate,
              c.psi_io_some, c.others_cpu_share
       FROM runs LEFT JOIN run_context c ON c.run_id = runs.id
       WHERE runs.started_at >= make_timestamp(CAST($1 AS BIGINT)) AND runs.status IN ('ok', 'partial') AND NOT coalesce(runs.dry_run, false)
         AND runs.copied > 0 AND runs.transfer_ms > 0 AND coalesce(runs.bwlimit, 0) = 0 AND coalesce(runs.host, '') <> ''
     )
     SELECT host, route, shape, count(*) AS runs, median(rate) AS rate, arg_min(id, rate) AS slowest,
            mode(destination_fs) AS fs, median(psi_io_some) AS io, median(others_cpu_share) AS others
     FROM r GROUP BY host, route, shape ORDER BY route, shape, host`,
    [BigInt(Math.round(sinceMs)) * 1000n],
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
      slowestRunId: String(row.slowest),
      ioPressure: row.io == null ? null : Number(row.io),
      othersCpu: row.others == null ? null : Number(row.others),
      outlier: false,
    };
    const key = `${member.route}\t${member.shape}`;
    byGroup.set(key, [...(byGroup.get(key) ?? []), member]);
  }
  const groups: FleetGroup[] = [];
  const outliers: FleetOutlier[] = [];
  const notes: string[] = [];
  for (const members of byGroup.values()) {
    const group = judge(members);
    groups.push(group);
    for (const m of group.members) if (m.outlier) outliers.push(outlierOf(group, m));
  }
  outliers.sort((a, b) => b.slowdown - a.slowdown);
  if (!groups.some((g) => g.hosts >= FLEET_MIN_HOSTS)) {
    notes.push(`no route and shape has ${FLEET_MIN_HOSTS} hosts with ${FLEET_MIN_HOST_RUNS}+ runs each in the window: no fleet median to compare with`);
  }
  return { hosts, runs: rows.reduce((n, r) => n + Number(r.runs), 0), groups, outliers, notes };
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
    m.outlier = m.slowdown >= FLEET_SLOWDOWN && z >= FLEET_SCORE;
  }
  return group;
}

const VERB: Record<string, string> = { local: "copies", push: "pushes", pull: "pulls" };

function outlierOf(g: FleetGroup, m: FleetHost): FleetOutlier {
  const rate = (v: number) => (g.unit === "files/s" ? `${formatCount(Math.round(v))} files/s` : formatBytesPerSec(v));
  const others = g.members.filter((o) => o !== m && o.runs >= FLEET_MIN_HOST_RUNS);
  const evidence = [
    `${m.host}: ${formatCount(m.runs)} ${g.route} runs of ${g.shape} at a median ${rate(m.rate)}`,
    `fleet median for the same route and shape: ${rate(g.fleetRate)} over ${g.hosts} hosts (${others.map((o) => `${o.host} ${rate(o.rate)}`).join(", ")})`,
    `its destination filesystem: ${m.destinationFs || "unknown"}${distinctFs(others, m)}`,
  ];
  const io = pressureLine("waited on I/O (PSI io some)", m.ioPressure, others.map((o) => o.ioPressure));
  if (io) evidence.push(io);
  const cpu = pressureLine("other processes' CPU share", m.othersCpu, others.map((o) => o.othersCpu));
  if (cpu) evidence.push(cpu);
  evidence.push(`its slowest run: ${m.slowestRunId} ('blit diagnose ${m.slowestRunId.slice(0, 8)}' with the same --store)`);
  return {
    host: m.host,
    route: g.route,
    shape: g.shape,
    slowdown: m.slowdown,
    text: `${m.host} ${VERB[g.route] ?? g.route} ${g.shape} ${m.slowdown.toFixed(1)}× slower than the fleet median for the same shape (${rate(m.rate)} against ${rate(g.fleetRate)})`,
    evidence,
  };
}

function distinctFs(others: FleetHost[], m: FleetHost): string {
  const fs = [...new Set(others.map((o) => o.destinationFs).filter((f) => f && f !== m.destinationFs))];
  return fs.length > 0 ? ` (the others: ${fs.join(", ")})` : " (the same as the others)";
}

function pressureLine(what: string, mine: number | null, theirs: (number | null)[]): string | undefined {
  const known = theirs.filter((v): v is number => v !== null);
  if (mine === null || known.length === 0) return undefined;
  const pct = (v: number) => `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
  return `${what}: median ${pct(mine)} of its runs' time, against ${pct(median(known))} on the other hosts`;
}
