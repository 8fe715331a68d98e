// Fresh traces of a real `blit mirror`, recorded here: strace with -tt, -ttt and -r, perf record +
// perf script, and `blit trace record`. Each is ingested and linked to the run it covers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { diagnoseRun, listRuns, withStore } from "../../analytics/index.ts";
import { traceSummariesFor } from "../../analytics/store/trace-summaries.ts";
import { ingestTrace, listTraces, summariesForRun, traceSummary } from "../../traces/index.ts";
import { traceCommand } from "../../tui/trace-command.ts";
import { hasTool } from "../helpers/index.ts";
import { BUN, collect, fakeStream, fixture, PROJECT_ROOT } from "./helpers.ts";

// Live traces need the tracers; without one its tests are skipped (and say so).
const STRACE = hasTool("strace", "the live strace tests", "apt-get install strace");
const PERF = hasTool("perf", "the live perf tests", "apt-get install linux-perf");

let root: string;
const live = new Set<Subprocess>();

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "blit-test-"));
});
afterAll(async () => {
  for (const p of live) {
    p.kill("SIGKILL");
    await p.exited;
  }
  rmSync(root, { recursive: true, force: true });
});

/** A small source tree: three files of known sizes and one in a subdirectory. */
function makeTree(name: string): { src: string; dst: string; home: string; sizes: Record<string, number> } {
  const base = join(root, name);
  const src = join(base, "src");
  mkdirSync(join(src, "sub"), { recursive: true });
  const sizes: Record<string, number> = { "one.bin": 40_000, "two.bin": 123_457, "sub/three.txt": 999 };
  for (const [rel, size] of Object.entries(sizes)) writeFileSync(join(src, rel), Buffer.alloc(size, rel.length));
  return { src, dst: join(base, "dst"), home: join(base, "home"), sizes };
}

async function run(cmd: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn(cmd, { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  live.add(proc);
  try {
    const [code, , stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    return { code, stderr };
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await proc.exited;
    live.delete(proc);
  }
}

const BLIT = (src: string, dst: string) => [BUN, join(PROJECT_ROOT, "tui/blit.ts"), "mirror", src, dst, "--no-progress"];

describe.skipIf(!STRACE)("strace of a real blit mirror", () => {
  for (const [label, timing] of [["-tt", ["-tt"]], ["-ttt", ["-ttt"]], ["-r", ["-r"]]] as const) {
    test(`strace -f ${label} -T: linked to its run by pid and time, writes to the destination files summarized`, async () => {
      const t = makeTree(`strace${label}`);
      const out = join(root, `strace${label}.txt`);
      const r = await run(["strace", "-f", ...timing, "-T", "-o", out, ...BLIT(t.src, t.dst)], { BLIT_HOME: t.home });
      expect(r.code).toBe(0);
      const store = join(t.home, "telemetry.duckdb");
      const [runRecord] = await listRuns({ path: store });
      expect(runRecord).toBeDefined();
      const result = await ingestTrace(out, { storePath: store });
      expect(result.format).toBe("strace");
      expect(result.unparsedLines).toBe(0);
      expect(result.runId).toBe(runRecord!.id);
      expect(result.linkMethod).toBe("pid-time"); // -r: the time is placed by the file's end
      const summary = result.runSummary!;
      expect(summary.scope).toBe("run");
      for (const [rel, size] of Object.entries(t.sizes)) {
        const file = summary.bytesByFile.find((f) => f.path === join(t.dst, rel));
        expect(file, `${rel} in ${JSON.stringify(summary.bytesByFile.map((f) => f.path))}`).toBeDefined();
        expect(file!.writeBytes).toBe(size);
      }
      expect(summary.byKind.find((k) => k.kind === "write")!.count).toBeGreaterThanOrEqual(3);
      expect(summary.latency.find((l) => l.kind === "open")!.p50Ms).toBeGreaterThan(0);
      expect(summary.metadataVsData.metadataCount).toBeGreaterThan(0);
      expect(summary.longestGaps.length).toBeGreaterThan(0);
      // stored, and found again by run and by id
      const byRun = await summariesForRun(runRecord!.id, { path: store });
      expect(byRun.map((s) => s.traceId)).toEqual([result.traceId]);
      expect((await traceSummary(result.traceId, { path: store }))!.events).toBe(result.events);
    });
  }
});

describe.skipIf(!STRACE)("strace layouts of a real blit mirror", () => {
  test("-f -r -yy -k -T -o: fds read as paths, each call with its stack, nothing unparsed", async () => {
    const t = makeTree("strace-yyk");
    const out = join(root, "strace-yyk.txt");
    const probe = await run(["strace", "-k", "-o", join(root, "probe-k.txt"), "true"], {});
    if (probe.code !== 0) {
      console.warn(`SKIP strace -k: this strace has no stack tracing (${probe.stderr.trim().split("\n")[0]})`);
      return;
    }
    const r = await run(["strace", "-f", "-r", "-yy", "-k", "-T", "-e", "trace=file,desc", "-o", out, ...BLIT(t.src, t.dst)], { BLIT_HOME: t.home });
    expect(r.code).toBe(0);
    const store = join(t.home, "telemetry.duckdb");
    const result = await ingestTrace(out, { storePath: store });
    expect(result.format).toBe("strace");
    expect(result.unparsedSample).toEqual([]);
    // frames beyond a call's first 8 are dropped and counted; nothing else is passed over
    expect(Object.keys(result.skippedLines)).toEqual(["strace -k stack frames beyond a call's first 8, or under no call (not kept)"]);
    const parsed = collect(out);
    expect(parsed.events.filter((e) => e.name !== "exit" && !e.fields.signal).every((e) => e.fields.stack)).toBe(true);
    expect(result.runId).toBe((await listRuns({ path: store }))[0]!.id);
    for (const [rel, size] of Object.entries(t.sizes)) {
      expect(result.runSummary!.bytesByFile.find((f) => f.path === join(t.dst, rel))?.writeBytes).toBe(size);
    }
    expect(result.summary.tracer).toEqual({ tool: "strace", recorded: false, command: null });
  }, 60_000); // strace -k unwinds a stack at every call: several times slower than plain strace

  test("strace and blit's own output on one stream (2>&1): the program's lines skipped, nothing unparsed", async () => {
    const t = makeTree("strace-interleaved");
    const out = join(root, "strace-interleaved.txt");
    const cmd = ["strace", "-f", "-tt", "-T", "-y", ...BLIT(t.src, t.dst).filter((a) => a !== "--no-progress")].map((a) => `'${a}'`).join(" ");
    const r = await run(["sh", "-c", `exec ${cmd} > '${out}' 2>&1`], { BLIT_HOME: t.home });
    expect(r.code).toBe(0);
    const store = join(t.home, "telemetry.duckdb");
    const result = await ingestTrace(out, { storePath: store });
    expect(result.format).toBe("strace");
    expect(result.unparsedSample).toEqual([]);
    expect(result.runId).toBe((await listRuns({ path: store }))[0]!.id);
    for (const [rel, size] of Object.entries(t.sizes)) {
      expect(result.runSummary!.bytesByFile.find((f) => f.path === join(t.dst, rel))?.writeBytes).toBe(size);
    }
  });
});

describe.skipIf(!PERF)("perf record + perf script of a real blit mirror", () => {
  test("syscalls and exec tracepoints are ingested and linked to the run", async () => {
    const t = makeTree("perf");
    const data = join(root, "perf.data");
    const probe = await run(["perf", "record", "-q", "-e", "syscalls:sys_enter_openat", "-o", data, "true"], {});
    if (probe.code !== 0) {
      console.warn(`SKIP perf: 'perf record' is not allowed here (${probe.stderr.trim().split("\n")[0]})`);
      return;
    }
    const events = ["sched:sched_process_exec", "syscalls:sys_enter_openat", "syscalls:sys_exit_openat",
      "syscalls:sys_enter_write", "syscalls:sys_exit_write", "syscalls:sys_enter_copy_file_range", "syscalls:sys_exit_copy_file_range"];
    // perf's default clock counts from boot (this kernel refuses '-k realtime'), so the link is by pid alone
    const rec = await run(["perf", "record", "-q", ...events.flatMap((e) => ["-e", e]), "-o", data, "--", ...BLIT(t.src, t.dst)], { BLIT_HOME: t.home });
    expect(rec.code).toBe(0);
    const script = join(root, "perf.txt");
    const proc = Bun.spawn(["perf", "script", "-i", data], { stdout: Bun.file(script), stderr: "pipe" });
    live.add(proc);
    expect(await proc.exited).toBe(0);
    live.delete(proc);
    const store = join(t.home, "telemetry.duckdb");
    const [runRecord] = await listRuns({ path: store });
    const result = await ingestTrace(script, { storePath: store });
    expect(result.format).toBe("perf-script");
    expect(result.unparsedLines).toBe(0);
    expect(result.runId).toBe(runRecord!.id);
    expect(result.linkMethod).toBe("pid");
    const s = result.runSummary!;
    expect(s.byKind.find((k) => k.kind === "exec")!.count).toBeGreaterThanOrEqual(1);
    const copied = Object.values(t.sizes).reduce((a, b) => a + b, 0);
    const written = s.bytesByProcess.reduce((sum, p) => sum + p.writeBytes, 0);
    expect(written).toBeGreaterThanOrEqual(copied); // copy_file_range (or write) carried every byte
  });
});

describe("a store in use", () => {
  test("runs and traces recorded in turn: every ingest succeeds and the store stays readable", async () => {
    // a checkpoint under the ingest's small memory limit once failed here (it rewrites the runs
    // table's index whole) and left the database unusable
    const t = makeTree("turns");
    const env = { BLIT_HOME: t.home };
    const traceFile = fixture("strace/perfview-ls-r-T.strace");
    for (let i = 0; i < 2; i++) {
      expect((await run(BLIT(t.src, `${t.dst}${i}`), env)).code).toBe(0);
      const ingest = await run([BUN, join(PROJECT_ROOT, "tui/blit.ts"), "trace", "ingest", traceFile], env);
      expect(ingest.stderr).toBe("");
      expect(ingest.code).toBe(0);
    }
    const store = join(t.home, "telemetry.duckdb");
    expect(await listRuns({ path: store })).toHaveLength(2);
    const traces = await listTraces({ path: store });
    expect(traces.map((x) => x.events)).toEqual([104, 104]);
  });
});

describe("blit trace record", () => {
  test.skipIf(!STRACE)("records, ingests linked to the run, removes its temp file and prints the summary", async () => {
    const t = makeTree("record");
    const [stdout, stderr] = [fakeStream(), fakeStream()];
    const env = { ...process.env, BLIT_HOME: t.home };
    const code = await traceCommand(["record", "--strace", "--", "blit", "mirror", t.src, t.dst, "--no-progress"], { stdout, stderr, env });
    expect(stderr.text()).toContain("mirror");
    expect(code).toBe(0);
    const store = join(t.home, "telemetry.duckdb");
    const [runRecord] = await listRuns({ path: store });
    expect(stdout.text()).toContain(`linked to run ${runRecord!.id} (pid-time); the run was traced by strace`);
    expect(stdout.text()).toContain("traced by: strace (blit trace record: strace -f -tt -T -e trace=file,desc,process)");
    // the link says which tool traced the run, in the summaries diagnosis reads for it
    const [linked] = await summariesForRun(runRecord!.id, { path: store });
    expect(linked!.summary.tracer).toEqual({ tool: "strace", recorded: true, command: "strace -f -tt -T -e trace=file,desc,process" });
    // and diagnosis reads it with the run's other trace facts
    const facts = await withStore(store, ({ conn }) => traceSummariesFor(conn, runRecord!.id));
    expect(facts.map((f) => f.tracer)).toEqual([{ tool: "strace", recorded: true }]);
    expect(stdout.text()).toContain(join(t.dst, "two.bin"));
    const [trace] = await listTraces({ path: store });
    expect(await Bun.file(trace!.file).exists()).toBe(false);
    for (const format of ["md", "json"]) {
      const shown = fakeStream();
      expect(await traceCommand(["show", trace!.id.slice(0, 8), "--format", format, "--scope", "run"], { stdout: shown, stderr, env })).toBe(0);
      if (format === "json") expect(JSON.parse(shown.text()).runId).toBe(runRecord!.id);
      else expect(shown.text()).toContain("### Bytes by file");
    }
  });

  test.skipIf(!PERF)("--perf: perf trace around the run, linked to it as traced by perf", async () => {
    const probeOut = join(root, "probe-perf-trace.txt");
    const probe = await run(["perf", "trace", "-o", probeOut, "--", "true"], {});
    if (probe.code !== 0) {
      console.warn(`SKIP perf trace: not allowed here (${probe.stderr.trim().split("\n")[0]})`);
      return;
    }
    const t = makeTree("record-perf");
    const [stdout, stderr] = [fakeStream(), fakeStream()];
    const env = { ...process.env, BLIT_HOME: t.home };
    const code = await traceCommand(["record", "--perf", "--format", "json", "--", "blit", "mirror", t.src, t.dst, "--no-progress"], { stdout, stderr, env });
    expect(code, stderr.text()).toBeLessThanOrEqual(1);
    const store = join(t.home, "telemetry.duckdb");
    const [runRecord] = await listRuns({ path: store });
    expect(stdout.text()).toContain(`linked to run ${runRecord!.id}`);
    const [linked] = await summariesForRun(runRecord!.id, { path: store });
    expect(linked!.summary.format).toBe("perf-trace");
    expect(linked!.summary.tracer).toEqual({ tool: "perf", recorded: true, command: "perf trace" });
    // perf does not ptrace (no TracerPid in the run's context): the recorded trace is what tells
    // the diagnosis that the run paid a tracer's cost.
    const d = await diagnoseRun({ path: store, id: runRecord!.id });
    const tracer = d.explanation.causes.find((c) => c.kind === "tracer");
    expect(tracer?.text).toStartWith("The run was traced by perf:");
    expect(d.explanation.suggestions.map((x) => x.text).join("\n")).not.toMatch(/--workers|reflink/);
  });

  test("every subcommand has --help, and bad usage exits 2", async () => {
    for (const sub of ["ingest", "list", "show", "record"]) {
      const out = fakeStream();
      expect(await traceCommand([sub, "--help"], { stdout: out, stderr: fakeStream(), env: {} })).toBe(0);
      expect(out.text()).toContain(`blit trace ${sub}`);
    }
    const err = fakeStream();
    expect(await traceCommand(["ingest", "--format", "nope", "x"], { stdout: fakeStream(), stderr: err, env: {} })).toBe(2);
    expect(err.text()).toContain("--format is one of");
    expect(await traceCommand(["record"], { stdout: fakeStream(), stderr: fakeStream(), env: {} })).toBe(2);
    const both = fakeStream();
    expect(await traceCommand(["record", "--strace", "--perf", "--", "true"], { stdout: fakeStream(), stderr: both, env: {} })).toBe(2);
    expect(both.text()).toContain("choose one tracer: --strace, --perf or --tool T (got strace and perf)");
    expect(await traceCommand([], { stdout: fakeStream(), stderr: fakeStream(), env: {} })).toBe(2);
  });
});
