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
import { sqlString } from "../store/sql-text.ts";

export type FleetShape = "small files" | "mixed" | "large files";
/** How much a run copied: runs of one shape but of another size are not the same work (fixed costs). */
export type FleetScale = "under 16 MiB" | "16 MiB to 1 GiB" | "1 GiB or more";

/** One host's runs of one route and shape in the window. */
export interface FleetHost {
  host: string;
  route: string;
  shape: FleetShape;
  scale: FleetScale;
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
  scale: FleetScale;
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
  scale: FleetScale;
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
export const FLEET_MIN_HOST_RUNS = 5;
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
/** ... if, among five hosts or more, it is also this far from them (a tenth of a fleet 2× below is a group, not one host). */
const FLEET_CLEAR_SCORE = 2;

const SMALL = 64 * 1024;
const LARGE = 1024 * 1024;

/** What one scan of a window gives: the fleet view (two hosts or more) and the window's counts. */
export interface FleetScan {
  view: FleetView | undefined;
  /** Runs the scan read (a fleet store reads only the window's days), and those since the window's start. */
  runs: number;
  windowRuns: number;
}

/** A member with what the scan read for its evidence. */
interface Member extends FleetHost {
  slowest: string;
}

/** What a host's runs of one route and shape recorded about their machine (medians; null where none did). */
interface HostContext {
  device: string | null;
  io: number | null;
  cpu: number | null;
}

/** Hosts nearest the fleet median whose context an outlier's is compared with. */
const REFERENCE_HOSTS = 5;

/**
 * The fleet view of the runs since `sinceMs` (undefined when they come from fewer than two hosts),
 * and the counts of the runs read. Dry runs, failed runs, runs under --bwlimit and runs that moved
 * nothing are not compared. One scan of the runs with their context; a second, of the outliers'
 * hosts only, reads their destination devices.
 */
export async function fleetScan(conn: DuckDBConnection, sinceMs: number): Promise<FleetScan> {
  const since = BigInt(Math.round(sinceMs)) * 1000n;
  const reader = await conn.runAndReadAll(
    `WITH r AS (
       SELECT runs.id, runs.host, runs.route, runs.destination_fs, runs.started_at >= make_timestamp(CAST(SINCE_US AS BIGINT)) AS recent,
              ${ELIGIBLE} AS eligible, ${SHAPE} AS shape, ${SCALE} AS scale, ${RATE} AS rate
       FROM runs
     )
     SELECT r.host, r.route, r.shape, r.scale, count(*) AS all_runs, count(*) FILTER (WHERE r.recent) AS recent_runs,
            count(*) FILTER (WHERE r.eligible) AS runs, median(r.rate) FILTER (WHERE r.eligible) AS rate,
            mode(r.destination_fs) FILTER (WHERE r.eligible) AS fs, arg_min(r.id, r.rate) FILTER (WHERE r.eligible) AS slowest
     FROM r GROUP BY r.host, r.route, r.shape, r.scale ORDER BY r.route, r.shape, r.scale, r.host`.replaceAll("SINCE_US", String(since)),
  );
  const rows = reader.getRowObjects();
  const counts = {
    runs: rows.reduce((n, r) => n + Number(r.all_runs), 0),
    windowRuns: rows.reduce((n, r) => n + Number(r.recent_runs), 0),
  };
  const compared = rows.filter((r) => Number(r.runs) > 0 && r.shape != null && r.host != null && r.host !== "");
  const hosts = [...new Set(compared.map((r) => String(r.host)))].sort();
  if (hosts.length < 2) return { view: undefined, ...counts };
  const byGroup = new Map<string, Member[]>();
  for (const row of compared) {
    const member: Member = {
      host: String(row.host),
      route: String(row.route),
      shape: String(row.shape) as FleetShape,
      scale: String(row.scale) as FleetScale,
      runs: Number(row.runs),
      rate: Number(row.rate),
      slowdown: 1,
      destinationFs: String(row.fs ?? ""),
      outlier: false,
      slowest: String(row.slowest ?? ""),
    };
    const key = `${member.route}\t${member.shape}\t${member.scale}`;
    byGroup.set(key, [...(byGroup.get(key) ?? []), member]);
  }
  const judged = [...byGroup.values()].map((members) => ({ members, group: judge(members) }));
  const flagged = judged.flatMap(({ members, group }) => members.filter((m) => m.outlier).map((m) => ({ group, m, members })));
  const outliers: FleetOutlier[] = [];
  if (flagged.length > 0) {
    // The context of the outliers and of a few hosts at the fleet median of their groups: only
    // those hosts' folders are read (a fleet's context is as many files again as its runs).
    const references = new Map(flagged.map(({ group, m, members }) => [m, referencesOf(group, members)]));
    const hostsRead = [...new Set([...flagged.map(({ m }) => m.host), ...[...references.values()].flat().map((r) => r.host)])];
    const context = await contextOf(conn, since, hostsRead);
    const at = (h: FleetHost) => context.get(`${h.host}\t${h.route}\t${h.shape}\t${h.scale}`) ?? { device: null, io: null, cpu: null };
    for (const { group, m } of flagged) outliers.push(outlierOf(group, m, at(m), references.get(m)!.map((r) => ({ host: r, context: at(r) }))));
  }
  outliers.sort((a, b) => b.slowdown - a.slowdown);
  // Reports carry each member as a FleetHost; what was read for the evidence stays here.
  const groups = judged.map(({ group }) => ({
    ...group,
    members: group.members.map(({ host, route, shape, scale, runs, rate, slowdown, destinationFs, outlier }) => ({ host, route, shape, scale, runs, rate, slowdown, destinationFs, outlier })),
  }));
  const notes: string[] = [];
  if (!groups.some((g) => g.hosts >= FLEET_MIN_HOSTS)) {
    notes.push(`no route and shape has ${FLEET_MIN_HOSTS} hosts with ${FLEET_MIN_HOST_RUNS}+ runs each in the window: no fleet median to compare with`);
  }
  return { view: { hosts, runs: compared.reduce((n, r) => n + Number(r.runs), 0), groups, outliers, notes }, ...counts };
}

/** The fleet view alone (the UI's run list). */
export async function fleetView(conn: DuckDBConnection, sinceMs: number): Promise<FleetView | undefined> {
  return (await fleetScan(conn, sinceMs)).view;
}

/**
 * A run the fleet view compares: complete, real, unthrottled, from a named host, and it copied
 * something. SINCE_US is the window's start in µs, put in as a literal: DuckDB prunes Parquet
 * files and partitions only on constant filters, not on parameters.
 */
const ELIGIBLE = `(runs.started_at >= make_timestamp(CAST(SINCE_US AS BIGINT)) AND runs.status IN ('ok', 'partial') AND NOT coalesce(runs.dry_run, false)
  AND runs.copied > 0 AND runs.transfer_ms > 0 AND coalesce(runs.bwlimit, 0) = 0 AND coalesce(runs.host, '') <> '')`;
/** Its shape, from the mean size of what it copied, and its rate: files/s for small files, bytes/s otherwise. */
const SHAPE = `CASE WHEN runs.copied <= 0 THEN NULL WHEN runs.copied_bytes / runs.copied < ${SMALL} THEN 'small files'
  WHEN runs.copied_bytes / runs.copied >= ${LARGE} THEN 'large files' ELSE 'mixed' END`;
const SCALE = `CASE WHEN runs.copied_bytes < ${16 * 1024 * 1024} THEN 'under 16 MiB' WHEN runs.copied_bytes < ${1024 * 1024 * 1024} THEN '16 MiB to 1 GiB'
  ELSE '1 GiB or more' END`;
const RATE = `CASE WHEN runs.copied <= 0 OR runs.transfer_ms <= 0 THEN NULL WHEN runs.copied_bytes / runs.copied < ${SMALL} THEN runs.copied
  ELSE runs.copied_bytes END / (runs.transfer_ms / 1000.0)`;

/** The hosts of a group nearest its fleet median (not outliers, with enough runs). */
function referencesOf(group: FleetGroup, members: readonly Member[]): Member[] {
  const distance = (m: FleetHost) => Math.abs(Math.log(m.rate / group.fleetRate));
  return members
    .filter((m) => !m.outlier && m.runs >= FLEET_MIN_HOST_RUNS && m.rate > 0)
    .sort((a, b) => distance(a) - distance(b))
    .slice(0, REFERENCE_HOSTS);
}

/**
 * For each of `hosts`, route and shape: the destination device most of its runs wrote to ("ext4
 * on loop, mounted sync"), and the medians of its runs' I/O pressure and other processes' CPU
 * share. A fleet store's run_context carries its partition's host, so only those hosts' folders
 * are opened.
 */
async function contextOf(conn: DuckDBConnection, since: bigint, hosts: string[]): Promise<Map<string, HostContext>> {
  const hostColumn = Number((await conn.runAndReadAll(
    "SELECT count(*) AS n FROM duckdb_columns() WHERE table_name = 'run_context' AND column_name = 'host'",
  )).getRowObjects()[0]?.n ?? 0) > 0;
  // The hosts as literals, not a parameter: a constant filter on the partition column is what
  // lets DuckDB leave the other hosts' folders unopened.
  const list = `[${hosts.map(sqlString).join(", ")}]::VARCHAR[]`;
  const reader = await conn.runAndReadAll(
    `WITH r AS (SELECT runs.id, runs.host, runs.route, ${SHAPE} AS shape, ${SCALE} AS scale FROM runs WHERE ${ELIGIBLE} AND list_contains(${list}, runs.host)),
          c AS (
            SELECT run_id, psi_io_some, others_cpu_share,
                   list_filter(from_json(devices, '[{"role":"VARCHAR","fsType":"VARCHAR","deviceClass":"VARCHAR","sync":"BOOLEAN"}]'), d -> d.role = 'destination')[1] AS dst
            FROM run_context ${hostColumn ? `WHERE list_contains(${list}, host)` : ""}
          )
     SELECT r.host, r.route, r.shape, r.scale, median(c.psi_io_some) AS io, median(c.others_cpu_share) AS cpu,
            mode(c.dst.fsType || ' on ' || c.dst.deviceClass || CASE WHEN c.dst.sync THEN ', mounted sync' ELSE '' END) AS device
     FROM r JOIN c ON c.run_id = r.id GROUP BY ALL`.replaceAll("SINCE_US", String(since)),
  );
  const num = (v: unknown) => (v == null ? null : Number(v));
  return new Map(reader.getRowObjects().map((row) => [
    `${row.host}\t${row.route}\t${row.shape}\t${row.scale}`,
    { device: row.device == null ? null : String(row.device), io: num(row.io), cpu: num(row.cpu) },
  ]));
}

/** The fleet median of a group and each member's slowdown against it; outliers marked. */
function judge(members: FleetHost[]): FleetGroup {
  const counted = members.filter((m) => m.runs >= FLEET_MIN_HOST_RUNS && m.rate > 0);
  const first = members[0]!;
  const group: FleetGroup = {
    route: first.route,
    shape: first.shape,
    scale: first.scale,
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
    m.outlier = m.slowdown >= FLEET_SLOWDOWN && (z >= FLEET_SCORE || (m.slowdown >= FLEET_CLEAR_SLOWDOWN && (z >= FLEET_CLEAR_SCORE || counted.length < 5)));
  }
  return group;
}

const VERB: Record<string, string> = { local: "copies", push: "pushes", pull: "pulls" };

function outlierOf(g: FleetGroup, m: Member, mine: HostContext, references: { host: FleetHost; context: HostContext }[]): FleetOutlier {
  const rate = (v: number) => (g.unit === "files/s" ? `${formatCount(Math.round(v))} files/s` : formatBytesPerSec(v));
  const names = references.map((r) => r.host.host).join(", ");
  const theirs = (pick: (c: HostContext) => string | number | null) => references.map((r) => pick(r.context)).filter((v) => v !== null);
  const evidence = [
    `${m.host}: ${formatCount(m.runs)} ${g.route} runs of ${g.shape}, ${g.scale} each, at a median ${rate(m.rate)}`,
    `fleet median for the same route, shape and size: ${rate(g.fleetRate)} over ${g.hosts} hosts; the hosts nearest it: ${references.map((r) => `${r.host.host} ${rate(r.host.rate)}`).join(", ")}`,
  ];
  const devices = [...new Set(theirs((c) => c.device))];
  if (mine.device !== null) evidence.push(`its destination device: ${mine.device}${devices.length > 0 ? ` (theirs: ${devices.join("; ")})` : ""}`);
  else evidence.push(`its destination filesystem: ${m.destinationFs || "unknown"}${distinctFs(references.map((r) => r.host), m)}`);
  const io = pressureLine("waited on I/O (PSI io some)", mine.io, theirs((c) => c.io) as number[], names);
  if (io) evidence.push(io);
  const cpu = pressureLine("other processes' CPU share", mine.cpu, theirs((c) => c.cpu) as number[], names);
  if (cpu) evidence.push(cpu);
  if (m.slowest) evidence.push(`its slowest run: ${m.slowest} ('blit diagnose ${m.slowest.slice(0, 8)}' with the same --store)`);
  return {
    host: m.host,
    route: g.route,
    shape: g.shape,
    scale: g.scale,
    slowdown: m.slowdown,
    slowestRunId: m.slowest,
    text: `${m.host} ${VERB[g.route] ?? g.route} ${g.shape} (${g.scale} a run) ${m.slowdown.toFixed(1)}× slower than the fleet median for the same work (${rate(m.rate)} against ${rate(g.fleetRate)})`,
    evidence,
  };
}

function distinctFs(others: readonly FleetHost[], m: FleetHost): string {
  const fs = [...new Set(others.map((o) => o.destinationFs).filter((f) => f && f !== m.destinationFs))];
  return fs.length > 0 ? ` (the others: ${fs.join(", ")})` : " (the same as the others)";
}

/** A host's median against the median of the reference hosts' medians, where they recorded it. */
function pressureLine(what: string, mine: number | null, theirs: number[], names: string): string | undefined {
  if (mine === null || theirs.length === 0) return undefined;
  const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
  return `${what}: median ${pct(mine)} of its runs' time, against ${pct(median(theirs))} on ${names}`;
}

/** The outliers by host, slowest first: a host slow at several kinds of work is one finding. */
export function outliersByHost(f: FleetView): { host: string; worst: FleetOutlier; also: FleetOutlier[] }[] {
  const byHost = new Map<string, FleetOutlier[]>();
  for (const o of f.outliers) byHost.set(o.host, [...(byHost.get(o.host) ?? []), o]);
  return [...byHost].map(([host, list]) => ({ host, worst: list[0]!, also: list.slice(1) }));
}

/** "pulls small files (under 16 MiB a run): 3.4× slower": an outlier in a line. */
export function outlierLine(o: FleetOutlier): string {
  return `${VERB[o.route] ?? o.route} ${o.shape} (${o.scale} a run): ${o.slowdown.toFixed(1)}× slower`;
}
