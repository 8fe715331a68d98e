// The selection rules as rsync's man page states them (INCLUDE/EXCLUDE PATTERN RULES and its
// examples), on the compiled matcher; and the parser's errors, each naming the value, file and line.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { buildRules, compilePattern, parseFilesFrom, patternMatches, Scope, SelectError, type SelectFlag } from "../../engine/index.ts";
import { tempDirs } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

/**
 * True when a walk with `rules` would reach and keep `path` (a directory when it ends with '/'):
 * each directory on the way must be kept too, as the walk does not enter an excluded one.
 */
function selected(rules: string[], path: string, perDir: Record<string, string> = {}): boolean {
  const isDir = path.endsWith("/");
  const parts = path.replace(/\/$/, "").split("/");
  let scope = Scope.top(rules).enter("", (n) => perDir[n]);
  for (let i = 0; i < parts.length; i++) {
    const rel = parts.slice(0, i + 1).join("/");
    const last = i === parts.length - 1;
    if (scope.excluded(rel, parts[i]!, last ? isDir : true)) return false;
    if (!last) scope = scope.enter(rel, (n) => perDir[`${rel}/${n}`]);
  }
  return true;
}

const rules = (...flags: SelectFlag[]) => buildRules(flags);
const ex = (value: string): SelectFlag => ({ kind: "exclude", value });
const inc = (value: string): SelectFlag => ({ kind: "include", value });
const filter = (rule: string): SelectFlag => ({ kind: "filter", rule });

describe("rsync's pattern rules", () => {
  test('"- *.o" excludes every name matching *.o, at any depth', () => {
    const r = rules(ex("*.o"));
    expect(selected(r, "a.o")).toBe(false);
    expect(selected(r, "x/y/b.o")).toBe(false);
    expect(selected(r, "x/y/b.c")).toBe(true);
  });

  test('"- /foo" excludes foo in the transfer root only', () => {
    const r = rules(ex("/foo"));
    expect(selected(r, "foo")).toBe(false);
    expect(selected(r, "foo/")).toBe(false);
    expect(selected(r, "sub/foo")).toBe(true);
  });

  test('"- foo/" excludes directories named foo, not files', () => {
    const r = rules(ex("foo/"));
    expect(selected(r, "a/foo/")).toBe(false);
    expect(selected(r, "a/foo/inside")).toBe(false);
    expect(selected(r, "a/foo")).toBe(true);
  });

  test('"- foo/*/bar" excludes bar two levels below any foo; * does not cross /', () => {
    const r = rules(ex("foo/*/bar"));
    expect(selected(r, "foo/x/bar")).toBe(false);
    expect(selected(r, "top/foo/x/bar")).toBe(false);
    expect(selected(r, "foo/x/y/bar")).toBe(true);
  });

  test('"- /foo/**/bar" excludes bar 2 or more levels below the root foo, not /foo/bar', () => {
    const r = rules(ex("/foo/**/bar"));
    expect(selected(r, "foo/x/bar")).toBe(false);
    expect(selected(r, "foo/x/y/bar")).toBe(false);
    expect(selected(r, "foo/bar")).toBe(true);
    expect(selected(r, "top/foo/x/bar")).toBe(true);
  });

  test('"+ */", "+ *.c", "- *" keeps only directories and C files', () => {
    const r = rules(inc("*/"), inc("*.c"), ex("*"));
    expect(selected(r, "a/b/x.c")).toBe(true);
    expect(selected(r, "a/b/")).toBe(true);
    expect(selected(r, "a/b/x.h")).toBe(false);
  });

  test('"+ foo/", "+ foo/bar.c", "- *" keeps only foo and foo/bar.c', () => {
    const r = rules(inc("foo/"), inc("foo/bar.c"), ex("*"));
    expect(selected(r, "foo/")).toBe(true);
    expect(selected(r, "foo/bar.c")).toBe(true);
    expect(selected(r, "foo/baz.c")).toBe(false);
    expect(selected(r, "other.c")).toBe(false);
  });

  test("an include of a deep file without its directories selects nothing (the walk never enters them)", () => {
    expect(selected(rules(inc("a/b/x.c"), ex("*")), "a/b/x.c")).toBe(false);
    expect(selected(rules(inc("/a/"), inc("/a/b/"), inc("a/b/x.c"), ex("*")), "a/b/x.c")).toBe(true);
  });

  test("the first matching rule decides", () => {
    expect(selected(rules(ex("*.log"), inc("keep.log")), "keep.log")).toBe(false);
    expect(selected(rules(inc("keep.log"), ex("*.log")), "keep.log")).toBe(true);
  });

  test('"dir/***" matches the directory and everything below it', () => {
    const r = rules(inc("/dir/***"), ex("*"));
    expect(selected(r, "dir/")).toBe(true);
    expect(selected(r, "dir/a/b/c")).toBe(true);
    expect(selected(r, "other")).toBe(false);
    // The same with several '*' runs (matched without a regex).
    const p = compilePattern("/x*/y*/***");
    for (const [path, want] of [["x1/y2", true], ["x1/y2/z/w", true], ["x1/z", false], ["q/x1/y2", false]] as const) {
      expect(patternMatches(p, path, path.slice(path.lastIndexOf("/") + 1), true)).toBe(want);
    }
  });

  test("'?' and classes stay inside one name; '\\' quotes a wildcard", () => {
    const p = compilePattern("a?c");
    expect(patternMatches(p, "abc", "abc", false)).toBe(true);
    expect(patternMatches(compilePattern("x/a?c"), "x/a/c", "c", false)).toBe(false);
    expect(patternMatches(compilePattern("[!a]*"), "b1", "b1", false)).toBe(true);
    expect(patternMatches(compilePattern("[!a]*"), "a1", "a1", false)).toBe(false);
    expect(patternMatches(compilePattern("*[[:digit:]]"), "v2", "v2", false)).toBe(true);
    expect(patternMatches(compilePattern("star\\*"), "starX", "starX", false)).toBe(false);
    expect(patternMatches(compilePattern("star\\*"), "star*", "star*", false)).toBe(true);
  });

  test("a pattern without wildcards is literal (a backslash is itself)", () => {
    expect(patternMatches(compilePattern("a\\b"), "a\\b", "a\\b", false)).toBe(true);
  });

  test("names with newlines and non-ASCII are matched like any other", () => {
    expect(patternMatches(compilePattern("*.c"), "new\nline.c", "new\nline.c", false)).toBe(true);
    expect(patternMatches(compilePattern("ünï*"), "x/ünïcode", "ünïcode", false)).toBe(true);
  });
});

describe("matching cost and correctness of many-star patterns", () => {
  test("a pattern of many '*' runs against a long name answers at once (no exponential backtracking)", () => {
    // A regex ^.*a.*a.*a.*a.*a.*a.*b$ takes seconds at 80 characters and hours at 200: a peer's
    // pattern must not be able to stall a walk.
    const p = compilePattern("**a**a**a**a**a**a**b");
    const long = "a".repeat(4000);
    const t0 = performance.now();
    expect(patternMatches(p, long, long, false)).toBe(false);
    expect(patternMatches(compilePattern("*a*a*a*a*a*a*b"), long, long, false)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  test("agrees with a plain regex translation on random patterns and paths", () => {
    // Deterministic pseudo-random cases over a small alphabet, where the regex is quick.
    let seed = 42;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) >>> 16) % n;
    const pieces = ["a", "b", "/", "?", "*", "**"];
    const toRe = (pat: string, anywhere: boolean) =>
      new RegExp(`^${anywhere ? "(?:.*/)?" : ""}${pat.replace(/\*\*|\*|\?|\//g, (m) => (m === "**" ? ".*" : m === "*" ? "[^/]*" : m === "?" ? "[^/]" : "\\/"))}$`, "s");
    for (let k = 0; k < 3000; k++) {
      let pat = "";
      for (let n = 1 + rnd(6); n > 0; n--) pat += pieces[rnd(pieces.length)];
      pat = pat.replace(/\*{3,}/g, "**").replace(/^\/+|\/+$/g, "");
      if (pat === "" || pat.endsWith("/***")) continue;
      let path = "";
      for (let n = 1 + rnd(8); n > 0; n--) path += "ab/"[rnd(3)];
      path = path.replace(/\/+/g, "/").replace(/^\/|\/$/g, "");
      if (path === "") continue;
      const name = path.slice(path.lastIndexOf("/") + 1);
      const byName = !pat.includes("/") && !pat.includes("**");
      const anywhere = !byName && !pat.startsWith("**");
      const want = byName ? toRe(pat, false).test(name) : toRe(pat, anywhere).test(path);
      expect([pat, path, patternMatches(compilePattern(pat), path, name, false)]).toEqual([pat, path, want]);
    }
  });
});

describe("per-directory rules files (dir-merge)", () => {
  test("apply in their directory and below, nearest first, anchored at their directory", () => {
    const r = rules(filter("dir-merge .rules"));
    const files = { ".rules": "- *.h\n- /top\n", "a/.rules": "+ keep.h\n- /sub/\n" };
    expect(selected(r, "x.h", files)).toBe(false);
    expect(selected(r, "a/keep.h", files)).toBe(true); // a's own rule comes before the inherited one
    expect(selected(r, "b/keep.h", files)).toBe(false); // a's rules do not reach b
    expect(selected(r, "a/sub/", files)).toBe(false); // '/sub/' in a/.rules is a/sub
    expect(selected(r, "sub/", files)).toBe(true);
    expect(selected(r, "top", files)).toBe(false);
    expect(selected(r, "a/top", files)).toBe(true);
  });

  test("a bad rule in one names the file and line", () => {
    const scope = Scope.top(rules(filter(": .rules")));
    expect(() => scope.enter("a/b", () => "- ok\nbogus\n")).toThrow("rules file 'a/b/.rules' line 2: bad filter rule 'bogus'");
  });
});

describe("bad rules are refused with the value, file and line", () => {
  test("a rule that is not one", () => {
    expect(() => rules(filter("keep *.c"))).toThrow(SelectError);
    expect(() => rules(filter("keep *.c"))).toThrow("--filter: bad filter rule 'keep *.c'");
  });

  test("a pattern with an unclosed class", () => {
    expect(() => rules(ex("[abc"))).toThrow("--exclude: bad pattern '[abc': '[' without its closing ']'");
    expect(() => rules(inc("[[:nope:]]"))).toThrow("unknown character class '[:nope:]'");
  });

  test("a dir-merge name with a '/'", () => {
    expect(() => rules(filter("dir-merge a/.rules"))).toThrow("dir-merge needs a file name without '/'");
  });

  test("an unreadable rules file, and a bad line in one", () => {
    const t = temps.make();
    expect(() => rules(filter(`merge ${t.join("missing")}`))).toThrow(`cannot read rules file '${t.join("missing")}': no such file`);
    expect(() => rules({ kind: "exclude-from", file: t.join("missing") })).toThrow(`cannot read --exclude-from file '${t.join("missing")}'`);
    const f = t.join("rules");
    writeFileSync(f, "# comment\n\n+ *.c\n- [x\n");
    expect(() => rules(filter(`merge ${f}`))).toThrow(`rules file '${f}' line 4: bad pattern '[x'`);
    writeFileSync(f, `merge ${f}\n`);
    expect(() => rules(filter(`merge ${f}`))).toThrow("nested more than 10 deep");
  });

  test("--exclude-from and --include-from: comments and blank lines skipped, '+ '/'- ' honoured", () => {
    const t = temps.make();
    const f = t.join("list");
    writeFileSync(f, "# c\n; c\n\n*.o\n+ keep.o\n");
    expect(rules({ kind: "exclude-from", file: f })).toEqual(["- *.o", "+ keep.o"]);
    expect(buildRules([{ kind: "include-from", file: "-" }], () => "*.c\n")).toEqual(["+ *.c"]);
  });
});

describe("--files-from entries", () => {
  test("are relative to SRC ('/' and './' dropped), blank lines skipped", () => {
    expect(parseFilesFrom("/a/b\n./c\n\nd/\n", "list")).toEqual(["a/b", "c", "d"]);
  });

  test("an entry leaving SRC is refused with the file and line", () => {
    expect(() => parseFilesFrom("ok\na/../../etc/passwd\n", "list")).toThrow("--files-from file 'list' line 2: 'a/../../etc/passwd' leaves SRC ('..')");
  });
});
