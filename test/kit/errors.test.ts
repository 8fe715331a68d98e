// Errors a user can cause, through the real CLI: one or two lines naming the path or value and
// what to do, the documented exit code, no stack trace, and the run recorded.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { recordedRuns, REPO_ROOT, runCli, sh, tempDirs, writeTree } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

/** `bun tui/blit.ts ARGS | head -N` under bash: blit's own exit code, what head printed, blit's stderr. */
async function pipedToHead(args: string[], lines: number, home: string, errFile: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const script = `"${process.execPath}" tui/blit.ts ${quoted} 2>"$ERRFILE" | head -${lines}; echo "exit=\${PIPESTATUS[0]}"`;
  const env: Record<string, string> = { ...(process.env as Record<string, string>), BLIT_HOME: home, ERRFILE: errFile };
  for (const k of Object.keys(env)) if (k.startsWith("BLIT_") && k !== "BLIT_HOME") delete env[k];
  const p = Bun.spawn(["bash", "-c", script], { cwd: REPO_ROOT, env, stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const code = Number(/exit=(\d+)/.exec(out)?.[1] ?? -1);
  return { code, stdout: out.replace(/exit=\d+\n$/, ""), stderr: await Bun.file(errFile).text() };
}

describe("a closed pipe", () => {
  test("`blit copy -v SRC DST | head -2` ends quietly with the run's own exit code (0: all copied), and the run is recorded", async () => {
    const t = temps.make();
    const spec: Record<string, string> = {};
    for (let i = 0; i < 400; i++) spec[`f${String(i).padStart(3, "0")}`] = `${i}\n`;
    writeTree(t.join("src"), spec);
    const r = await pipedToHead(["copy", "-v", "--no-progress", t.join("src"), t.join("dst")], 2, t.home, t.join("stderr.txt"));
    expect(r.stdout.split("\n").filter(Boolean)).toHaveLength(2);
    expect(r.stderr).not.toContain("EPIPE");
    expect(r.stderr).not.toContain("    at ");
    expect(r.code).toBe(0);
    const runs = await recordedRuns(t.home);
    expect(runs.map((x) => [x.status, x.copied ?? x.counts?.copied])).toEqual([["ok", 400]]);
  });
});

const NOBODY = { user: "nobody", group: "nogroup" };

describe("an unwritable destination parent", () => {
  test("copy and mirror as nobody: one line naming the directory and what to do, exit 2, nothing written, the run recorded", async () => {
    const t = temps.make();
    chmodSync(t.path, 0o755); // mkdtemp makes 0700; nobody must reach the subtree
    writeTree(t.join("src"), { "a.txt": "a", "sub/b.txt": "b" });
    mkdirSync(t.join("locked")); // root's, 0755: nobody may not create entries in it
    const world = t.join("world");
    mkdirSync(world);
    chmodSync(world, 0o777); // BLIT_HOME for nobody
    const home = join(world, "home");
    for (const cmd of ["copy", "mirror"]) {
      const dst = t.join("locked", cmd, "deeper");
      const r = await runCli([cmd, t.join("src"), dst, "--no-progress"], { home, asUser: NOBODY });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toBe(`blit: cannot create the destination directory '${t.join("locked", cmd)}': permission denied (EACCES); this user may not create entries in '${t.join("locked")}': make it writable, or choose another destination\n`);
      expect(r.stdout).toBe("");
    }
    const runs = await recordedRuns(home);
    expect(runs.map((x) => [x.command, x.status, x.exitCode, x.copied])).toEqual([["mirror", "failed", 2, 0], ["copy", "failed", 2, 0]]);
  });
});

describe("a corrupt telemetry store", () => {
  test("`blit diagnostics perf` names the file and what to do, exit 2, no stack", async () => {
    const t = temps.make();
    mkdirSync(t.home, { recursive: true });
    const store = join(t.home, "telemetry.duckdb");
    writeFileSync(store, "this is not a DuckDB file\n".repeat(100));
    const r = await runCli(["diagnostics", "perf"], { home: t.home });
    expect(r.exitCode).toBe(2);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith(`blit: telemetry store ${store} cannot be used: `);
    expect(lines[0]).toEndWith("move the file aside (blit starts a new store there), or set BLIT_HOME to another directory");
  });
});

describe("the history table", () => {
  test("has the id column errors point to (the prefix blit diagnose takes), and marks dry runs", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a.txt": "a" });
    expect((await runCli(["copy", "-n", "--no-progress", t.join("src"), t.join("dst")], { home: t.home })).exitCode).toBe(0);
    expect((await runCli(["copy", "--no-progress", t.join("src"), t.join("dst")], { home: t.home })).exitCode).toBe(0);
    const runs = await recordedRuns(t.home);
    const table = await runCli(["diagnostics", "perf"], { home: t.home });
    const [header, real, dry] = table.stdout.trimEnd().split("\n");
    expect(header).toStartWith("ID        STARTED");
    expect(real).toStartWith(runs[0].id.slice(0, 8));
    expect(real).toMatch(/ copy\s+ok\s+1 /);
    expect(dry).toStartWith(runs[1].id.slice(0, 8));
    expect(dry).toMatch(/ copy\s+ok \(dry run\)\s+0 /);
    expect(runs.map((r) => r.dryRun)).toEqual([false, true]);
    const diagnose = await runCli(["diagnose", runs[1].id.slice(0, 8), "--format", "json"], { home: t.home });
    expect(diagnose.exitCode).toBe(0);
  });
});

describe("blitd's config", () => {
  /** Starts blitd with `toml` as its config; it is expected to refuse, so it is killed if it does not exit within 15 s. */
  async function blitdWith(toml: string, dir: string): Promise<{ code: number; stderr: string; file: string }> {
    const file = join(dir, "blitd.toml");
    writeFileSync(file, toml);
    const p = Bun.spawn([process.execPath, join(REPO_ROOT, "daemon/main.ts"), "--config", file, "--bind", "127.0.0.1:0"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, BLIT_TELEMETRY: "off" } });
    const timer = setTimeout(() => p.kill("SIGKILL"), 15_000);
    try {
      const [code, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      return { code, stderr, file };
    } finally {
      clearTimeout(timer);
    }
  }

  test("a TOML error names the file, its line and the text there; exit 2", async () => {
    const t = temps.make();
    mkdirSync(t.join("m"));
    const r = await blitdWith(`bind = "127.0.0.1:9031"\n\n[modules.m]\npath = ${JSON.stringify(t.join("m"))}\nread_only = flase\n`, t.path);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`blitd: ${r.file}:5: not valid TOML: Strings must be quoted: "flase" (line 5: read_only = flase)\n`);
    const open = await blitdWith(`exclude = [1,\n[modules.m]\npath = "x"\n`, t.path);
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(new RegExp(`^blitd: ${r.file.replace(/[.]/g, "\\.")}:2: not valid TOML: `));
  });

  test("a config with no modules refuses to start, saying what to add", async () => {
    const t = temps.make();
    const r = await blitdWith(`bind = "127.0.0.1:9031"\n`, t.path);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`blitd: ${r.file}: no modules; add at least one, e.g. [modules.backup] with path = "/srv/backup" (see docs/remote.md)\n`);
  });
});

describe("a host name that does not resolve", () => {
  test("ls and push say 'cannot resolve HOST', not 'connection refused'; exit 2", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { "a.txt": "a" });
    // .invalid never resolves (RFC 6761), with or without a name server.
    const ls = await runCli(["ls", "blit://no-such-host.invalid:9031"], { home: t.home });
    expect(ls.exitCode).toBe(2);
    expect(ls.stderr).toMatch(/^blit: cannot resolve no-such-host\.invalid: .*; check the host name in the URL\n$/);
    const push = await runCli(["push", t.join("src"), "blit://no-such-host.invalid:9031/m", "--no-progress"], { home: t.home, env: { BLIT_TELEMETRY: "off" } });
    expect(push.exitCode).toBe(2);
    expect(push.stderr).toContain("cannot resolve no-such-host.invalid");
    expect(push.stderr).not.toContain("refused");
  });
});

describe("a full destination", () => {
  test.skipIf(process.getuid?.() !== 0)("ENOSPC is blamed on the destination, naming the file being written, not on the source", async () => {
    const t = temps.make();
    const spec: Record<string, { size: number }> = {};
    for (let i = 0; i < 10; i++) spec[`part-${i}.bin`] = { size: 512 * 1024 }; // 5 MiB into 2 MiB
    writeTree(t.join("src"), spec);
    const mnt = t.join("small");
    mkdirSync(mnt);
    sh("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt]);
    try {
      const r = await runCli(["copy", "--no-progress", t.join("src"), join(mnt, "dst")], { home: t.home });
      expect(r.exitCode).toBe(2);
      const errors = r.stderr.split("\n").filter((l) => l.includes("ENOSPC"));
      expect(errors.length).toBeGreaterThan(0);
      for (const line of errors) {
        expect(line).toMatch(/^blit: error: destination part-\d\.bin: cannot write: no space left on device \(free space on the destination, or choose another\)/);
        expect(line).not.toContain(t.join("src"));
      }
      const runs = await recordedRuns(t.home);
      expect(runs[0].status).toBe("failed");
    } finally {
      sh("umount", [mnt]);
    }
  });
});

describe("the text of an error", () => {
  test("is shown by blit diagnose (and so the TUI's evidence), not only counted", async () => {
    const t = temps.make();
    const missing = t.join("no-such-source");
    const r = await runCli(["copy", missing, t.join("dst")], { home: t.home });
    expect(r.exitCode).toBe(2);
    const d = await runCli(["diagnose", "--last"], { home: t.home });
    expect(d.exitCode).toBe(0);
    expect(d.stdout).toMatch(new RegExp(`E\\d+ +1 error \\(SOURCE_MISSING\\): source '${missing.replace(/[.]/g, "\\.")}' does not exist`));
    expect(d.stdout).not.toContain("diagnostics perf --json' lists them");
  });
});
