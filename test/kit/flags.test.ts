// One flag table per command: --help and the README's tables are made from it and stay equal
// to it; usage errors name the command and the option, suggest the flag meant, point rsync
// users to the right command, and exit 2 through the real CLI.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDirs, writeTree, REPO_ROOT } from "../helpers/index.ts";
import { blockName, renderReadme, SPEC_BLOCKS } from "../../tui/kit/readme.ts";
import { flagHelp, flagLabel } from "../../tui/kit/flag.ts";
import { TRANSFER_FLAGS, transferFlagsOf, type TransferCommand } from "../../tui/transfer-flags.ts";
import { CHECK_FLAGS } from "../../tui/check-command.ts";
import { BLITD_FLAGS } from "../../daemon/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

/** Text with line breaks and runs of spaces made single spaces (help wraps; the README does not). */
const flat = (s: string) => s.replace(/\s+/g, " ");

describe("the flag table is the one source", () => {
  test("README's flag tables are what `npm run docs:flags` makes of the table", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    expect(readme).toContain("<!-- flags:copy-mirror -->");
    expect(readme).toContain("<!-- flags:push-pull -->");
    expect(readme).toContain("<!-- flags:check -->");
    expect(renderReadme(readme)).toBe(readme);
    for (const f of transferFlagsOf("copy")) expect(readme).toContain(`\`${f.name}${f.value ? ` ${f.value}` : ""}\` | `);
  });

  for (const command of ["copy", "mirror", "push", "pull"] as const satisfies readonly TransferCommand[]) {
    test(`\`blit ${command} --help\` shows each of its flags with the table's text, and no other flag`, async () => {
      const t = temps.make();
      const r = await runCli([command, "--help"], { home: t.home });
      expect(r.exitCode).toBe(0);
      const text = flat(r.stdout);
      for (const f of transferFlagsOf(command)) expect({ flag: f.name, shown: text.includes(flat(flagHelp(f, command))) }).toEqual({ flag: f.name, shown: true });
      const others = TRANSFER_FLAGS.filter((f) => !f.commands.includes(command)).map((f) => f.name);
      const listed = [...r.stdout.matchAll(/^ {2}(?:-\w, )?\s*(--[\w-]+)/gm)].map((m) => m[1]);
      expect(listed.filter((n) => others.includes(n!))).toEqual([]);
    });
  }

  test("`blit check --help` shows each of its table's flags with the table's text", async () => {
    const t = temps.make();
    const r = await runCli(["check", "--help"], { home: t.home });
    expect(r.exitCode).toBe(0);
    for (const f of CHECK_FLAGS) expect({ flag: f.name, shown: flat(r.stdout).includes(flat(flagHelp(f, "check"))) }).toEqual({ flag: f.name, shown: true });
  });

  test("README has a generated block for ls, diagnose, predict, tune, each trace subcommand and report, row for row their table", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    for (const spec of SPEC_BLOCKS) {
      const name = blockName(spec);
      const block = new RegExp(`<!-- flags:${name} -->\\n([\\s\\S]*?)<!-- /flags:${name} -->`).exec(readme);
      expect({ name, found: block !== null }).toEqual({ name, found: true });
      const rows = block![1]!.split("\n").filter((l) => l.startsWith("| `"));
      expect(rows.map((r) => /`(--[\w-]+)/.exec(r)![1])).toEqual(spec.flags.map((f) => f.name));
      for (const f of spec.flags) expect(rows.some((r) => r.includes(flagHelp(f, spec.name)))).toBe(true);
    }
    expect(SPEC_BLOCKS.map(blockName)).toEqual(["ls", "diagnose", "predict", "tune", "trace-ingest", "trace-list", "trace-show", "trace-record", "report", "telemetry"]);
  });

  for (const spec of SPEC_BLOCKS) {
    test(`\`blit ${spec.name} --help\` lists exactly its table's flags, in order, with the table's text`, async () => {
      const t = temps.make();
      const r = await runCli([...spec.name.split(" "), "--help"], { home: t.home });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toStartWith(spec.usage);
      const section = /\nFlags:\n([\s\S]*?)(\n\n|$)/.exec(r.stdout)?.[1] ?? "";
      // A flag's own line: "  -h, --help" or "      --json" (wrapped text is indented further).
      const listed = [...section.matchAll(/^ {2}(?:-\w, | {4})(--[\w-]+)/gm)].map((m) => m[1]);
      expect(listed).toEqual(spec.flags.map((f) => f.name));
      for (const f of spec.flags) {
        expect({ flag: f.name, shown: flat(section).includes(`${flagLabel(f)} ${flat(flagHelp(f, spec.name))}`) }).toEqual({ flag: f.name, shown: true });
      }
    });
  }

  test("blitd's table: `blitd --help` lists exactly its flags with their text, the README's block is the table", () => {
    const help = Bun.spawnSync([process.execPath, join(REPO_ROOT, "daemon/main.ts"), "--help"]);
    expect(help.exitCode).toBe(0);
    const text = help.stdout.toString();
    const section = /\nFlags:\n([\s\S]*?)\n\n/.exec(text)?.[1] ?? "";
    expect([...section.matchAll(/^ {2}(?:-\w, | {4})(--[\w-]+)/gm)].map((m) => m[1])).toEqual(BLITD_FLAGS.map((f) => f.name));
    for (const f of BLITD_FLAGS) expect({ flag: f.name, shown: flat(section).includes(`${flagLabel(f)} ${flat(flagHelp(f, "blitd"))}`) }).toEqual({ flag: f.name, shown: true });
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const block = /<!-- flags:blitd -->\n([\s\S]*?)<!-- \/flags:blitd -->/.exec(readme)?.[1] ?? "";
    expect(block.split("\n").filter((l) => l.startsWith("| `")).map((r) => /`(--[\w-]+)/.exec(r)![1])).toEqual(BLITD_FLAGS.map((f) => f.name));
  });

  test("blitd's usage errors: one line naming the option, 'did you mean', exit 2, no node advice", () => {
    const blitd = (...args: string[]) => {
      const r = Bun.spawnSync([process.execPath, join(REPO_ROOT, "daemon/main.ts"), ...args]);
      return { exitCode: r.exitCode, stderr: r.stderr.toString(), stdout: r.stdout.toString() };
    };
    expect(blitd("--confg", "x.toml")).toEqual({ exitCode: 2, stdout: "", stderr: "blitd: unknown option '--confg'; did you mean '--config'?\n" });
    expect(blitd("--frobnicate")).toEqual({ exitCode: 2, stdout: "", stderr: "blitd: unknown option '--frobnicate'; run 'blitd --help' for its flags\n" });
    expect(blitd("--config", "x.toml", "--bind")).toEqual({ exitCode: 2, stdout: "", stderr: "blitd: option '--bind' needs a value (HOST:PORT); run 'blitd --help'\n" });
    expect(blitd("blitd.toml")).toEqual({ exitCode: 2, stdout: "", stderr: "blitd: unexpected argument 'blitd.toml'; blitd takes flags only (--config FILE); run 'blitd --help'\n" });
  });

  test("`blit help blitd` prints blitd's own help; `blit help copy` is `blit copy --help`", async () => {
    const t = temps.make();
    const blitd = await runCli(["help", "blitd"], { home: t.home });
    expect(blitd.exitCode).toBe(0);
    expect(blitd.stdout).toContain("blitd --config FILE");
    expect(blitd.stdout).toContain("--force-grpc-data");
    const viaHelp = await runCli(["help", "copy"], { home: t.home });
    const direct = await runCli(["copy", "--help"], { home: t.home });
    expect(viaHelp.stdout).toBe(direct.stdout);
    const nope = await runCli(["help", "cpy"], { home: t.home });
    expect(nope.exitCode).toBe(2);
    expect(nope.stderr).toContain("did you mean 'copy'?");
  });
});

describe("usage errors: one line naming the command and the option, exit 2, nothing written", () => {
  test("a typo gets 'did you mean' with the flag meant", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { a: "a" });
    const r = await runCli(["mirror", t.join("src"), t.join("dst"), "--forse"], { home: t.home });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe("blit: unknown option '--forse' for 'blit mirror'; did you mean '--force'?\n");
    expect(existsSync(t.join("dst"))).toBe(false);
    const w = await runCli(["copy", t.join("src"), t.join("dst"), "--worker", "4"], { home: t.home });
    expect(w.stderr).toBe("blit: unknown option '--worker' for 'blit copy'; did you mean '--workers'?\n");
  });

  test("diagnose, predict, tune, the trace subcommands and ls take the same path", async () => {
    const t = temps.make();
    const cases: [string[], string][] = [
      [["tune", "a", "b", "--aply"], "blit: unknown option '--aply' for 'blit tune'; did you mean '--apply'?\n"],
      [["diagnose", "--lats"], "blit: unknown option '--lats' for 'blit diagnose'; did you mean '--last'?\n"],
      [["diagnose", "abc", "def"], "blit: diagnose: unexpected extra argument 'def' (takes [RUN_ID]); usage: blit diagnose [RUN_ID | --last] [--since 7d] [--format text|md|json]\n"],
      [["trace", "show", "--fromat", "md", "x"], "blit: unknown option '--fromat' for 'blit trace show'; did you mean '--format'?\n"],
      [["trace", "show"], "blit: trace show: missing TRACE_ID; usage: blit trace show TRACE_ID [--format text|md|json] [--scope trace|run]\n"],
      [["trace", "ingest"], "blit: trace ingest: missing FILE; usage: blit trace ingest FILE... [--format F] [--run RUN_ID] [--json]\n"],
      [["trace", "list", "--limit"], "blit: option '--limit' needs a value (N) for 'blit trace list'; run 'blit trace list --help' for its flags\n"],
      [["trace", "record", "--strase", "--", "true"], "blit: unknown option '--strase' for 'blit trace record'; did you mean '--strace'?\n"],
      [["trace", "shwo"], "blit trace: unknown command 'shwo'; did you mean 'show'?; run 'blit trace --help'\n"],
      [["ls", "blit://127.0.0.1:1", "--jsn"], "blit: unknown option '--jsn' for 'blit ls'; did you mean '--json'?\n"],
    ];
    for (const [args, stderr] of cases) {
      const r = await runCli(args, { home: t.home });
      expect({ args, exitCode: r.exitCode, stderr: r.stderr }).toEqual({ args, exitCode: 2, stderr });
      expect(r.stdout).toBe("");
    }
  });

  test("predict, diagnose and check: the same path, the names and values from their tables", async () => {
    const t = temps.make();
    const predict = await runCli(["predict", "--wrokers", "3", "a", "b"], { home: t.home });
    expect(predict.exitCode).toBe(2);
    expect(predict.stderr).toBe("blit: unknown option '--wrokers' for 'blit predict'; did you mean '--workers'?\n");
    const diagnose = await runCli(["diagnose", "--since"], { home: t.home });
    expect(diagnose.stderr).toBe("blit: option '--since' needs a value (SPAN) for 'blit diagnose'; run 'blit diagnose --help' for its flags\n");
    const check = await runCli(["check", "a", "b", "--checksun"], { home: t.home });
    expect(check.exitCode).toBe(2);
    expect(check.stderr).toBe("blit: unknown option '--checksun' for 'blit check'; did you mean '--checksum'?\n");
  });

  test("no close flag: points at the command's help, without parseArgs' own text", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { a: "a" });
    const r = await runCli(["copy", t.join("src"), t.join("dst"), "--frobnicate"], { home: t.home });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe("blit: unknown option '--frobnicate' for 'blit copy'; run 'blit copy --help' for its flags\n");
    expect(r.stderr).not.toContain("positional");
  });

  test("--delete on copy points to mirror; on push and pull to --mirror", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { a: "a" });
    const r = await runCli(["copy", t.join("src"), t.join("dst"), "--delete"], { home: t.home });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe("blit: unknown option '--delete' for 'blit copy': use 'blit mirror SRC DST' (copy never deletes)\n");
    expect(existsSync(t.join("dst"))).toBe(false);
    const p = await runCli(["push", t.join("src"), "blit://127.0.0.1:1/m", "--delete"], { home: t.home });
    expect(p.exitCode).toBe(2);
    expect(p.stderr).toContain("use --mirror");
  });

  test("-a, -r, --archive, --recursive are accepted with one note line, also inside -av", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { a: "a", "d/b": "b" });
    const r = await runCli(["copy", "-av", "-r", t.join("src"), t.join("dst"), "--no-progress"], { home: t.home });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe("blit: note: -a, -r ignored: blit always copies directories recursively and keeps modes, times and symlinks (owners and groups as root); add -H, -A, -X for what rsync -a leaves out\n");
    expect(r.stdout).toContain("copy    d/b"); // -v still listed the actions
    expect(readFileSync(t.join("dst/d/b"), "utf8")).toBe("b");
    const m = await runCli(["mirror", "--archive", "--recursive", t.join("src"), t.join("dst2"), "--no-progress"], { home: t.home });
    expect(m.exitCode).toBe(0);
    expect(m.stderr).toStartWith("blit: note: --archive, --recursive ignored: blit always copies directories recursively and keeps");
    expect(m.stderr.split("\n").filter(Boolean)).toHaveLength(1);
  });

  test("a missing and an extra argument are named, with the usage", async () => {
    const t = temps.make();
    writeTree(t.join("src"), { a: "a" });
    const missing = await runCli(["copy", t.join("src")], { home: t.home });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toBe(`blit: copy: missing DST (got '${t.join("src")}'); usage: blit copy SRC... DST [flags]\n`);
    // copy and mirror take several sources; push and pull exactly two paths
    const extra = await runCli(["push", t.join("src"), "blit://127.0.0.1:1/m", "surplus"], { home: t.home });
    expect(extra.exitCode).toBe(2);
    expect(extra.stderr).toBe("blit: push: unexpected extra argument 'surplus' (takes SRC URL); usage: blit push SRC blit[s]://HOST:PORT/MODULE[/PATH] [flags]\n");
    const pull = await runCli(["pull", "blit://127.0.0.1:1/m"], { home: t.home });
    expect(pull.stderr).toBe("blit: pull: missing DST (got 'blit://127.0.0.1:1/m'); usage: blit pull blit[s]://HOST:PORT/MODULE[/PATH] DST [flags]\n");
  });

  test("a flag without its value names the value it needs", async () => {
    const t = temps.make();
    const r = await runCli(["copy", "a", "b", "--workers"], { home: t.home });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe("blit: option '--workers' needs a value (N) for 'blit copy'; run 'blit copy --help' for its flags\n");
    const ambiguous = await runCli(["copy", "a", "b", "--bwlimit", "-a"], { home: t.home });
    expect(ambiguous.exitCode).toBe(2);
    expect(ambiguous.stderr).toBe("blit: option '--bwlimit' for 'blit copy' is followed by a flag, not a RATE; to give a value that starts with '-', write --bwlimit=VALUE\n");
    // A selection flag takes the next argument whatever it starts with, as rsync's getopt does ('- *', '-' for stdin).
    const rule = await runCli(["copy", t.join("none"), t.join("b"), "--exclude", "-a"], { home: t.home });
    expect(rule.stderr).toContain("does not exist");
    const boolWithValue = await runCli(["copy", "a", "b", "--json=1"], { home: t.home });
    expect(boolWithValue.stderr).toBe("blit: option '--json' takes no value for 'blit copy'\n");
  });
});
