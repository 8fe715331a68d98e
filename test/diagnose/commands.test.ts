// The three commands as a person meets them: help, usage errors, an empty store, a store with
// one run, and a real calibration with `blit tune --apply`.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DIAGNOSE_REPORT_SCHEMA, listRuns, schemaProblems, tunedWorkers } from "../../analytics/index.ts";
import { diagnoseCommand, predictCommand, tuneCommand } from "../../tui/diagnose-command.ts";
import { fakeIo, makeTree, realRun, tempDir } from "./helpers.ts";

describe("help and usage", () => {
  test("--help prints each command's flags and exits 0", async () => {
    for (const [command, words] of [
      [diagnoseCommand, ["--since", "--format", "--last", "error band", "robust score"]],
      [predictCommand, ["--workers", "--bwlimit", "80% error band", "default"]],
      [tuneCommand, ["--apply", "--rounds", "--sample-files", "scratch directory"]],
    ] as const) {
      const f = fakeIo({});
      expect(await command(["--help"], f.io)).toBe(0);
      for (const w of words) expect(f.stdout()).toContain(w);
    }
  });

  test("bad flags and arguments exit 2 with one line on stderr", async () => {
    const tmp = tempDir();
    try {
      const env = { BLIT_HOME: join(tmp.dir, "home") };
      const cases: [typeof diagnoseCommand, string[], RegExp][] = [
        [diagnoseCommand, ["--format", "xml"], /--format must be text, md, json/],
        [diagnoseCommand, ["--since", "soon"], /--since needs a span/],
        // the kit's one wording for arguments (tui/kit/command.ts): named, with the usage
        [diagnoseCommand, ["abc", "def"], /^blit: diagnose: unexpected extra argument 'def' \(takes \[RUN_ID\]\); usage: blit diagnose \[RUN_ID/],
        [diagnoseCommand, ["--bogus"], /^blit: unknown option '--bogus' for 'blit diagnose'/],
        [diagnoseCommand, ["no-such-run"], /no run 'no-such-run'/],
        [predictCommand, [tmp.dir], /^blit: predict: missing DST \(got '.*'\); usage: blit predict SRC DST/],
        [tuneCommand, ["--aply", tmp.dir, join(tmp.dir, "d")], /^blit: unknown option '--aply' for 'blit tune'; did you mean '--apply'\?$/m],
        [predictCommand, [join(tmp.dir, "missing"), join(tmp.dir, "d")], /does not exist/],
        [tuneCommand, [tmp.dir, join(tmp.dir, "d"), "--workers", "0,2"], /--workers needs a whole number from 1/],
      ];
      for (const [command, args, message] of cases) {
        const f = fakeIo(env);
        expect(await command(args, f.io)).toBe(2);
        expect(f.stderr()).toMatch(message);
        expect(f.stderr().trim().split("\n")).toHaveLength(1);
      }
    } finally {
      tmp.remove();
    }
  });
});

describe("an empty store", () => {
  test("diagnose reports no runs, in every format, without failing", async () => {
    const tmp = tempDir();
    try {
      const env = { BLIT_HOME: join(tmp.dir, "home") };
      const text = fakeIo(env);
      expect(await diagnoseCommand([], text.io)).toBe(0);
      expect(text.stdout()).toContain("0 runs since");
      expect(text.stdout()).toContain("no runs recorded yet");
      const json = fakeIo(env);
      expect(await diagnoseCommand(["--json"], json.io)).toBe(0);
      expect(schemaProblems(DIAGNOSE_REPORT_SCHEMA, JSON.parse(json.stdout()))).toEqual([]);
      const last = fakeIo(env);
      expect(await diagnoseCommand(["--last"], last.io)).toBe(0);
      expect(last.stdout()).toContain("no runs recorded yet");
    } finally {
      tmp.remove();
    }
  });
});

describe("a store with one run", () => {
  test("diagnose and predict say they rest on defaults, and still give a band", async () => {
    const tmp = tempDir();
    try {
      const env = { BLIT_HOME: join(tmp.dir, "home") };
      const src = makeTree(join(tmp.dir, "src"), 50, 3000);
      await realRun(src, join(tmp.dir, "dst"), tmp.store);
      const one = fakeIo(env);
      expect(await diagnoseCommand(["--last", "--format", "json"], one.io)).toBe(0);
      const d = JSON.parse(one.stdout());
      expect(schemaProblems(DIAGNOSE_REPORT_SCHEMA, d)).toEqual([]);
      expect(d.prediction.model.basis).toBe("default");
      expect(d.flags).toEqual([]);
      expect(d.explanation.summary).toContain("too little comparable history");
      const history = fakeIo(env);
      expect(await diagnoseCommand([], history.io)).toBe(0);
      expect(history.stdout()).toContain("local (default)");
      expect(history.stdout()).toContain("8 needed for a trend");
      const predict = fakeIo(env);
      expect(await predictCommand([src, join(tmp.dir, "dst2")], predict.io)).toBe(0);
      expect(predict.stdout()).toMatch(/predicted .*, 80% band .*\n/);
      expect(predict.stdout()).toContain("default coefficients for route local");
      expect(existsSync(join(tmp.dir, "dst2"))).toBe(false); // predict writes nothing
    } finally {
      tmp.remove();
    }
  });
});

describe("blit tune --apply", () => {
  test("records each trial as a run, keeps the fastest count, and later runs can consult it", async () => {
    const tmp = tempDir();
    try {
      const env = { BLIT_HOME: join(tmp.dir, "home") };
      const src = makeTree(join(tmp.dir, "src"), 400, 2000);
      const f = fakeIo(env);
      const code = await tuneCommand([src, join(tmp.dir, "dst"), "--apply", "--workers", "1,2", "--rounds", "2", "--sample-files", "300", "--json"], f.io);
      expect(f.stderr()).toBe("");
      expect(code).toBe(0);
      const result = JSON.parse(f.stdout());
      expect(result.sample.files).toBe(300);
      expect(result.sample.ofFiles).toBe(400);
      expect(result.setting.trials.map((t: { workers: number }) => t.workers)).toEqual([1, 2]);
      expect([1, 2]).toContain(result.setting.workers);
      expect(result.setting.applied).toBe(true);
      // Four trials, each a recorded run; the scratch directory is gone and DST untouched.
      expect((await listRuns({ path: tmp.store, limit: 50 })).length).toBe(4);
      expect(readdirSync(tmp.dir).filter((n) => n.startsWith(".blit-tune-"))).toEqual([]);
      expect(existsSync(join(tmp.dir, "dst"))).toBe(false);
      const { sourceFs, destinationFs } = result.setting;
      expect(await tunedWorkers("local", sourceFs, destinationFs, { path: tmp.store })).toBe(result.setting.workers);
      expect(await tunedWorkers("local", "no-such-fs", destinationFs, { path: tmp.store })).toBeUndefined();
    } finally {
      tmp.remove();
    }
  });
});
