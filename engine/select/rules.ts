// Selection rules as text: what --include, --exclude, --include-from, --exclude-from and
// --filter say, in command-line order, turned into one ordered list of canonical rule lines that
// every walk (local, blitd, the pull client) compiles the same way:
//   "+ PAT"   include          "- PAT"   exclude          ": NAME"  per-directory rules file
// `merge FILE` rules are read here, on the side that has the file, and replaced by the rules
// they hold; `dir-merge NAME` stays a rule, read from each directory as the walk enters it.
import { readFileSync } from "node:fs";
import { UsageError } from "../errors.ts";
import { compilePattern, PatternError } from "./pattern.ts";

/** A rule, a rules file or a --files-from entry that cannot be used; names the value, file and line. */
export class SelectError extends UsageError {
  constructor(message: string) {
    super("BAD_RULE", message);
    this.name = "SelectError";
  }
}

/** One selection flag as given, in order. */
export type SelectFlag =
  | { kind: "include" | "exclude"; value: string }
  | { kind: "include-from" | "exclude-from"; file: string }
  | { kind: "filter"; rule: string };

/** Where a rule's text came from, for messages. */
interface Origin {
  /** e.g. "--filter", or "rules file 'x.rules' line 3". */
  where: string;
}

/** Reads a rules or list file: '-' is stdin. Throws SelectError naming the file. */
export function readListFile(file: string, what: string, stdin: () => string = readStdin): string {
  try {
    return file === "-" ? stdin() : readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code ?? "EIO";
    throw new SelectError(`cannot read ${what} '${file}': ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code}`);
  }
}

function readStdin(): string {
  return readFileSync(0, "utf8");
}

/** The lines of a rules file that hold a rule: blank lines and '#'/';' comments left out, with line numbers. */
export function ruleLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  text.split("\n").forEach((raw, i) => {
    const t = raw.replace(/\r$/, "");
    if (t.trim() === "" || t.startsWith("#") || t.startsWith(";")) return;
    out.push({ line: i + 1, text: t });
  });
  return out;
}

/** Checks a pattern compiles; the error names where it came from. */
function checked(pattern: string, o: Origin): string {
  try {
    compilePattern(pattern);
  } catch (err) {
    if (err instanceof PatternError) throw new SelectError(`${o.where}: ${err.message}`);
    throw err;
  }
  return pattern;
}

/**
 * An --include/--exclude value (or a line of --include-from/--exclude-from) as a canonical
 * rule: as rsync does, a leading "+ " or "- " overrides the flag's own kind.
 */
function simpleRule(kind: "include" | "exclude", value: string, o: Origin): string {
  const m = /^([+-]) (.*)$/s.exec(value);
  if (m) return `${m[1]} ${checked(m[2]!, o)}`;
  return `${kind === "include" ? "+" : "-"} ${checked(value, o)}`;
}

interface Parsed {
  kind: "+" | "-" | "merge" | "dir-merge";
  arg: string;
}

/** One --filter rule (or a line of a merge file): "+ PAT", "- PAT", "include PAT", "exclude PAT", "merge FILE", ". FILE", "dir-merge NAME", ": NAME". */
export function parseRule(text: string, o: Origin): Parsed {
  const m = /^(\+|-|\.|:|include|exclude|merge|dir-merge)(?: |_)(.*)$/s.exec(text.replace(/^\s+/, ""));
  if (!m || m[2] === "") {
    throw new SelectError(`${o.where}: bad filter rule '${text}': use '+ PATTERN', '- PATTERN', 'merge FILE' or 'dir-merge NAME'`);
  }
  const word = m[1]!;
  const kind = word === "+" || word === "include" ? "+" : word === "-" || word === "exclude" ? "-" : word === "." || word === "merge" ? "merge" : "dir-merge";
  return { kind, arg: m[2]! };
}

/** A per-directory rules file's name: one name, no '/', not '.' or '..'. */
function dirMergeName(name: string, o: Origin): string {
  if (name.includes("/") || name === "." || name === ".." || name.includes("\0")) {
    throw new SelectError(`${o.where}: dir-merge needs a file name without '/', got '${name}'`);
  }
  return name;
}

/** Canonical rules of one filter rule; a merge file is read (and its merges, to a depth of 10). */
function expandRule(text: string, o: Origin, depth: number, stdin: () => string): string[] {
  const r = parseRule(text, o);
  if (r.kind === "+" || r.kind === "-") return [`${r.kind} ${checked(r.arg, o)}`];
  if (r.kind === "dir-merge") return [`: ${dirMergeName(r.arg, o)}`];
  if (depth >= 10) throw new SelectError(`${o.where}: merge files nested more than 10 deep (does '${r.arg}' merge itself?)`);
  return mergeFile(r.arg, depth + 1, stdin);
}

/** The rules of a merge file, each line a filter rule. */
function mergeFile(file: string, depth: number, stdin: () => string): string[] {
  const text = readListFile(file, "rules file", stdin);
  return ruleLines(text).flatMap((l) => expandRule(l.text, { where: `rules file '${file}' line ${l.line}` }, depth, stdin));
}

/**
 * The canonical rule list of the selection flags, in their order. Reads --include-from,
 * --exclude-from and merge files ('-': stdin, read once). Throws SelectError.
 */
export function buildRules(flags: readonly SelectFlag[], stdin: () => string = readStdin): string[] {
  let stdinText: string | undefined;
  const once = () => (stdinText ??= stdin());
  const out: string[] = [];
  for (const f of flags) {
    if ("value" in f) out.push(simpleRule(f.kind, f.value, { where: `--${f.kind}` }));
    else if ("rule" in f) out.push(...expandRule(f.rule, { where: "--filter" }, 0, once));
    else {
      const kind = f.kind === "include-from" ? "include" : "exclude";
      const text = readListFile(f.file, `--${f.kind} file`, once);
      for (const l of ruleLines(text)) out.push(simpleRule(kind, l.text, { where: `--${f.kind} file '${f.file}' line ${l.line}` }));
    }
  }
  return out;
}

/** A canonical rule, parsed (rules from a peer or a per-directory file are checked with it). */
export type CanonRule = { kind: "+" | "-"; pattern: string } | { kind: ":"; name: string };

/**
 * Canonical rule lines as they arrive from elsewhere (a blitd's Negotiate, a worker): only
 * "+ ", "- " and ": " rules, each checked. Throws SelectError naming the bad one.
 */
export function parseCanonRules(lines: readonly string[]): CanonRule[] {
  return lines.map((l) => {
    const o = { where: "rule" };
    if (l.startsWith(": ")) return { kind: ":", name: dirMergeName(l.slice(2), o) };
    if (l.startsWith("+ ") || l.startsWith("- ")) return { kind: l[0] as "+" | "-", pattern: checked(l.slice(2), o) };
    throw new SelectError(`bad rule '${l}': a peer may send only '+ PATTERN', '- PATTERN' and ': NAME' rules`);
  });
}

/** True when every rule is a plain exclude (what an older blitd understands as --exclude). */
export function onlyExcludes(lines: readonly string[]): boolean {
  return lines.every((l) => l.startsWith("- "));
}

/** The rules of a per-directory file's text (only '+'/'-' rules; merges inside one are refused). */
export function perDirRules(text: string, file: string): { kind: "+" | "-"; pattern: string }[] {
  return ruleLines(text).map((l) => {
    const o = { where: `rules file '${file}' line ${l.line}` };
    const r = parseRule(l.text, o);
    if (r.kind !== "+" && r.kind !== "-") throw new SelectError(`${o.where}: '${r.kind}' inside a per-directory rules file is not supported`);
    return { kind: r.kind, pattern: checked(r.arg, o) };
  });
}
