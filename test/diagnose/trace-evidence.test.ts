// A traced run as a person diagnoses it: a real `blit mirror` recorded in a temp store, a trace of
// it written here at test time (an xperf dumper export in which Defender's MsMpEng.exe reads every
// file the mirror wrote; strace texts with mostly metadata time, or a long stall), ingested with
// `blit trace ingest FILE --run RUN_ID`, then `blit diagnose RUN_ID` in json, text and md. The
// xperf header lines are read in place from the shared fixtures, never copied.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { RunReport } from "../../engine/index.ts";
import {
  DIAGNOSE_REPORT_SCHEMA, redactEvidence, schemaProblems, withStore, type Evidence, type RunDiagnosis,
} from "../../analytics/index.ts";
import { FIXTURES } from "../traces/helpers.ts";
import { makeTree, PROJECT_ROOT, tempDir } from "./helpers.ts";

const tmp = tempDir();
const live = new Set<Subprocess>();
let src: string;

/** The real CLI with BLIT_HOME = `home`; every process it starts is killed in afterAll if still running. */
async function blit(home: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string | undefined> = { ...process.env, BLIT_HOME: home };
  delete env.BLIT_WORKERS;
  delete env.BLIT_TELEMETRY;
  delete env.OPENAI_BASE_URL; // the rules answer, whatever the caller's shell says
  const proc = Bun.spawn([process.execPath, join(PROJECT_ROOT, "tui/blit.ts"), ...args], { cwd: PROJECT_ROOT, env, stdout: "pipe", stderr: "pipe" });
  live.add(proc);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  } finally {
    live.delete(proc);
  }
}

/** A real mirror of the shared source into `<name>/dst`, recorded in the store of `<name>/home`. */
async function mirror(name: string): Promise<{ run: RunReport; home: string }> {
  const home = join(tmp.dir, name, "home");
  const r = await blit(home, ["mirror", src, join(tmp.dir, name, "dst"), "--json", "--no-progress"]);
  if (r.code !== 0) throw new Error(`mirror failed: ${r.stderr}`);
  return { run: JSON.parse(r.stdout) as RunReport, home };
}

/** Every file under `dir`, as absolute paths, in a stable order. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as { name: string; parentPath: string; isFile(): boolean }[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

async function ingest(home: string, file: string, runId: string): Promise<void> {
  const r = await blit(home, ["trace", "ingest", file, "--run", runId, "--json"]);
  if (r.code !== 0) throw new Error(`trace ingest exited ${r.code}: ${r.stderr}`);
}

async function diagnoseJson(home: string, runId: string): Promise<RunDiagnosis> {
  const r = await blit(home, ["diagnose", runId, "--format", "json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const d = JSON.parse(r.stdout) as RunDiagnosis;
  expect(schemaProblems(DIAGNOSE_REPORT_SCHEMA, d)).toEqual([]);
  return d;
}

const byKey = (d: RunDiagnosis, key: string): Evidence | undefined => d.evidence.find((e) => e.key === key);
const pad = (n: number) => String(n).padStart(8);

/**
 * An `xperf -a dumper` export of the run: its own process writes each destination file while
 * MsMpEng.exe reads it right after, and svchost.exe does unrelated work. The header lines are the
 * real ones of the shared fixture. Stamps are microseconds; the file's mtime is the run's end, so
 * ingestion places the trace's relative clock on the run.
 */
function writeXperfTrace(path: string, run: RunReport, files: readonly string[]): void {
  const fixture = readFileSync(join(FIXTURES, "etw/xperf-dumper-oppat-excerpt.txt"), "utf8").split(/\r?\n/);
  const header = fixture.slice(fixture.indexOf("BeginHeader"), fixture.indexOf("EndHeader") + 1);
  const lines = [...header];
  let irp = 0x1000;
  const op = (type: "FileIoRead" | "FileIoWrite", ts: number, proc: string, tid: number, file: string, size: number, elapsedUs: number) => {
    const ptr = `0xffffe2888${(irp++).toString(16).padStart(7, "0")}`;
    lines.push(`  ${type}, ${pad(ts)}, ${proc}, ${tid}, ${proc}, ${tid}, 0, ${ptr}, 0xffffe2889d1aa7d0, 0x0000000000, 0x${size.toString(16)}, 0x00060a00, 0x00000000, Normal, "${file}", `);
    lines.push(`  FileIoOpEnd, ${pad(ts + elapsedUs)}, ${proc}, 0, ${proc}, ${tid}, 0, ${ptr}, 0xffffe2889d1aa7d0, ${elapsedUs}, 0x00000000, 0x${size.toString(16)}, ${type}, "${file}"`);
  };
  const blitProc = `bun.exe (${String(run.pid).padStart(5)})`;
  const scanner = "MsMpEng.exe ( 3016)";
  const svchost = "svchost.exe (  900)";
  let ts = 1_000_000;
  for (const [i, file] of files.entries()) {
    op("FileIoWrite", ts, blitProc, 4100, file, 3000, 120);
    op("FileIoRead", ts + 300, scanner, 13212, file, 3000, 4_000);
    op("FileIoRead", ts + 600, svchost, 1200, `C:\\Windows\\System32\\config\\sys${i}.log`, 512, 50);
    ts += 10_000;
  }
  writeFileSync(path, lines.join("\r\n") + "\r\n");
  const end = new Date(run.finishedAt);
  utimesSync(path, end, end);
}

/** One strace -f -ttt -T line of process `pid` at epoch second `t`. */
const straceLine = (pid: number, t: number, call: string, seconds: number) => `${pid} ${t.toFixed(6)} ${call} <${seconds.toFixed(6)}>`;

/** strace of a run whose time went to lookups: per file four slow stats and an open around a tiny write. */
function writeMetadataTrace(path: string, run: RunReport, files: readonly string[]): void {
  const lines: string[] = [];
  let t = Date.parse(run.startedAt) / 1000 - 0.5;
  for (let round = 0; round < 8; round++) {
    for (const file of files) {
      for (let k = 0; k < 4; k++) {
        lines.push(straceLine(run.pid, t, `newfstatat(AT_FDCWD, "${file}", {st_mode=S_IFREG|0644, st_size=3000, ...}, AT_SYMLINK_NOFOLLOW) = 0`, 0.004));
        t += 0.0041;
      }
      lines.push(straceLine(run.pid, t, `openat(AT_FDCWD, "${file}", O_WRONLY|O_CREAT|O_CLOEXEC, 0644) = 7`, 0.002));
      t += 0.0021;
      lines.push(straceLine(run.pid, t, `write(7, "\\0\\0\\0\\0"..., 3000) = 3000`, 0.00005));
      t += 0.0001;
      lines.push(straceLine(run.pid, t, "close(7) = 0", 0.00001));
      t += 0.0001;
    }
  }
  writeFileSync(path, lines.join("\n") + "\n");
}

/** strace of a run that wrote half its files, stood still for three seconds, then wrote the rest. */
function writeStallTrace(path: string, run: RunReport, files: readonly string[]): void {
  const lines: string[] = [];
  let t = Date.parse(run.startedAt) / 1000 - 1.5;
  for (const [i, file] of files.entries()) {
    if (i === Math.floor(files.length / 2)) t += 3;
    lines.push(straceLine(run.pid, t, `openat(AT_FDCWD, "${file}", O_WRONLY|O_CREAT|O_CLOEXEC, 0644) = 7`, 0.0001));
    lines.push(straceLine(run.pid, t + 0.0002, `write(7, "\\0\\0\\0\\0"..., 3000) = 3000`, 0.00005));
    lines.push(straceLine(run.pid, t + 0.0003, "close(7) = 0", 0.00001));
    t += 0.002;
  }
  writeFileSync(path, lines.join("\n") + "\n");
}

beforeAll(() => {
  src = makeTree(join(tmp.dir, "src"), 12, 3000, 3);
});

afterAll(async () => {
  for (const p of live) {
    p.kill("SIGKILL");
    await p.exited;
  }
  tmp.remove();
});

describe("an xperf trace in which MsMpEng.exe reads every file the mirror wrote", () => {
  let run: RunReport;
  let home: string;
  let files: string[];
  let d: RunDiagnosis;

  beforeAll(async () => {
    ({ run, home } = await mirror("scanned"));
    files = filesUnder(run.destination);
    expect(files).toHaveLength(12);
    const trace = join(tmp.dir, "scanned.xperf.txt");
    writeXperfTrace(trace, run, files);
    await ingest(home, trace, run.id);
    d = await diagnoseJson(home, run.id);
  });

  test("diagnose --format json carries the trace's facts under stable keys, the run's window only", () => {
    const span = byKey(d, "trace.1.span")!;
    expect(span.text).toContain("xperf");
    expect(span.text).toContain("the run's window");
    expect(span.text).toContain("1 other process touched blit's files");
    expect(span.parts?.events).toBe(36);
    const shared = byKey(d, "trace.1.shared.1")!;
    expect(shared.label).toBe("MsMpEng.exe on blit's files");
    expect(shared.value).toBe(12);
    expect(shared.unit).toBe("files");
    expect(shared.parts).toMatchObject({ process: "MsMpEng.exe", pid: 3016, files: 12, events: 12, bytes: 36_000 });
    expect(shared.text).toMatch(/MsMpEng\.exe \(pid 3016\), not blit, touched 12 of the files blit touched: 12 operations \(33% of the trace's events\)/);
    const examples = [...shared.text.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    expect(examples).toHaveLength(3);
    for (const path of examples) expect(files).toContain(path!);
    expect(byKey(d, "trace.1.latency.read")!.parts).toMatchObject({ count: 24 });
    expect(byKey(d, "trace.1.top-file")).toBeDefined();
    // the whole-trace summary is stored too, but the run's window stands for the trace
    expect(d.evidence.filter((e) => e.key.endsWith(".span")).map((e) => e.key)).toEqual(["trace.1.span"]);
    // a small bundle: a handful of facts for the trace
    expect(d.evidence.filter((e) => e.key.startsWith("trace.")).length).toBeLessThanOrEqual(8);
  });

  test("the rules name MsMpEng.exe, cite the shared-file fact, and say how to exclude the destination", () => {
    const sharedId = byKey(d, "trace.1.shared.1")!.id;
    const cause = d.explanation.causes.find((c) => c.text.includes("MsMpEng.exe"))!;
    expect(cause).toBeDefined();
    expect(cause.evidence).toContain(sharedId);
    expect(cause.text).toContain("Microsoft Defender's real-time scanner");
    expect(cause.text).toContain("scanned 12 of the files blit touched");
    const suggestion = d.explanation.suggestions.find((s) => s.evidence.includes(sharedId))!;
    expect(suggestion.text).toContain("Add-MpPreference -ExclusionPath");
    expect(suggestion.expectedEffect).toContain("stop competing with the copy");
    expect(d.explanation.summary).toContain("MsMpEng.exe on blit's files");
    const ids = new Set(d.evidence.map((e) => e.id));
    for (const c of [...d.explanation.causes, ...d.explanation.suggestions]) for (const id of c.evidence) expect(ids.has(id)).toBe(true);
  });

  test("the text and md reports show the cause with its evidence id, and the fact itself", async () => {
    const sharedId = byKey(d, "trace.1.shared.1")!.id;
    for (const format of ["text", "md"]) {
      const r = await blit(home, ["diagnose", run.id, "--format", format]);
      expect(r.code).toBe(0);
      const cause = r.stdout.split("\n").find((l) => l.includes("MsMpEng.exe") && l.includes("scanned"));
      expect(cause, r.stdout).toBeDefined();
      expect(cause).toContain(sharedId);
      expect(r.stdout).toContain("MsMpEng.exe (pid 3016), not blit, touched 12 of the files blit touched");
    }
  });

  test("--ai-preview --redact sends the scanner's name but no path of the files it read", async () => {
    const r = await blit(home, ["diagnose", "--ai-preview", run.id, "--redact"]);
    expect(r.code).toBe(0);
    const body = r.stdout.slice(r.stdout.indexOf("Request body:"));
    expect(body).toContain("MsMpEng.exe");
    expect(body).not.toContain(tmp.dir);
    for (const f of files) expect(body).not.toContain(f.slice(f.lastIndexOf("/")));
  });
});

describe("strace traces of runs that were metadata-bound or stalled", () => {
  test("mostly stat/open time: the metadata-bound cause cites the trace's metadata share and latency", async () => {
    const { run, home } = await mirror("metadata");
    const trace = join(tmp.dir, "metadata.strace");
    writeMetadataTrace(trace, run, filesUnder(run.destination));
    await ingest(home, trace, run.id);
    const d = await diagnoseJson(home, run.id);
    const meta = byKey(d, "trace.1.metadata-share")!;
    expect(meta.unit).toBe("%");
    expect(meta.value as number).toBeGreaterThan(95);
    expect(meta.text).toContain("stat 384");
    const statLatency = byKey(d, "trace.1.latency.stat")!;
    expect(statLatency.value).toBe(4);
    // strace sees only blit's processes: no other-process facts, and the span says why
    expect(d.evidence.some((e) => e.key.startsWith("trace.1.shared."))).toBe(false);
    expect(byKey(d, "trace.1.span")!.text).toContain("it records only blit's own processes");
    const cause = d.explanation.causes.find((c) => c.text.startsWith("Metadata calls took"))!;
    expect(cause, JSON.stringify(d.explanation, null, 2)).toBeDefined();
    expect(cause.evidence).toContain(meta.id);
    expect(cause.evidence).toContain(statLatency.id);
    expect(cause.text).toContain("stat p50 4 ms");
    const suggestion = d.explanation.suggestions.find((s) => s.evidence.includes(meta.id))!;
    expect(suggestion.flag ?? suggestion.text).toMatch(/--workers|blit tune/);
    // no stall: writes went on between the lookups
    expect(d.explanation.causes.some((c) => c.text.includes("no progress"))).toBe(false);
  });

  test("a three-second stretch with no writes: the stall is named with its seconds", async () => {
    const { run, home } = await mirror("stall");
    const trace = join(tmp.dir, "stall.strace");
    writeStallTrace(trace, run, filesUnder(run.destination));
    await ingest(home, trace, run.id);
    const d = await diagnoseJson(home, run.id);
    const gap = byKey(d, "trace.1.gap.1")!;
    expect(gap.unit).toBe("s");
    expect(gap.value as number).toBeCloseTo(2.998, 2);
    expect(gap.text).toMatch(/longest stretch with no progress by blit: 3\.0\d s \(\d+% of the traced 3\.0\d s\)/);
    const cause = d.explanation.causes.find((c) => c.text.startsWith("blit made no progress"))!;
    expect(cause, JSON.stringify(d.explanation, null, 2)).toBeDefined();
    expect(cause.text).toMatch(/for 3\.0\d s/);
    expect(cause.evidence).toContain(gap.id);
    expect(d.explanation.suggestions.some((s) => s.evidence.includes(gap.id) && s.text.includes("blit trace record"))).toBe(true);
    expect(d.explanation.summary).toContain("stall");
    expect(d.explanation.causes.some((c) => c.text.startsWith("Metadata calls took"))).toBe(false);
  });
});

describe("summaries written by older versions", () => {
  test("a trace_summaries JSON without the new fields, or with odd ones, still diagnoses", async () => {
    const { run, home } = await mirror("old");
    await withStore(join(home, "telemetry.duckdb"), async ({ conn }) => {
      const insert = (traceId: string, scope: string, summary: string) =>
        conn.run("INSERT INTO trace_summaries VALUES ($1, $2, $3, now()::TIMESTAMP, $4)", [traceId, scope, run.id, summary]);
      // an old summary with only a few scalars, and only its whole-trace scope
      await insert("old-trace", "trace", JSON.stringify({ traceId: "old-trace", scope: "trace", format: "strace", events: "40", spanSeconds: 1.5 }));
      // fields of the wrong type everywhere
      await insert("odd-trace", "run", JSON.stringify({
        events: null, spanSeconds: "soon", sharedFiles: "none", latency: [1, null, { kind: 5, count: "x" }], longestGaps: { a: 1 },
        metadataVsData: [], failures: [{ kind: "open" }], bytesByFile: [{ path: 7 }], subject: "blit",
      }));
      // not an object at all
      await insert("list-trace", "run", "[1, 2, 3]");
    });
    const d = await diagnoseJson(home, run.id);
    const spans = d.evidence.filter((e) => e.key.endsWith(".span"));
    expect(spans.map((e) => e.key)).toEqual(["trace.1.span", "trace.2.span"]);
    expect(spans[0]!.text).toContain("trace old-trace (strace, the whole trace): 40 events over 1.50 s");
    expect(spans[1]!.text).toContain("trace odd-trace (unknown format, the run's window): an unknown number of events over an unknown span");
    expect(d.explanation.summary.length).toBeGreaterThan(0);
    for (const format of ["text", "md"]) expect((await blit(home, ["diagnose", run.id, "--format", format])).code).toBe(0);
  });
});

describe("--redact and trace facts", () => {
  test("a double-quoted path is replaced whole, spaces and file name included, and restored", () => {
    const evidence: Evidence[] = [{
      id: "E1", key: "trace.1.shared.1", label: "MsMpEng.exe on blit's files", value: 2, unit: "files",
      text: 'MsMpEng.exe (pid 3016), not blit, touched 2 of the files blit touched; e.g. "C:\\Users\\Ana Lima\\Backup\\pay 2024.xlsx", "/srv/backup/dst/a b.txt"',
      parts: { process: "MsMpEng.exe", files: 2 },
    }];
    const r = redactEvidence(evidence, { paths: ["/srv/backup/dst"] });
    expect(r.evidence[0]!.text).toBe('MsMpEng.exe (pid 3016), not blit, touched 2 of the files blit touched; e.g. "<path-1>", "<path-2>"');
    expect(r.evidence[0]!.parts).toEqual({ process: "MsMpEng.exe", files: 2 });
    expect(r.restore("<path-1>")).toBe("C:\\Users\\Ana Lima\\Backup\\pay 2024.xlsx");
  });
});
