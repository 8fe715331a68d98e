// One rsync pattern, compiled once to a RegExp (rsync's wildmatch and rule_matches, exclude.c):
// '*' matches within one name, '**' across '/', '?' one character but '/', '[...]' a class
// ('!' or '^' negates; [:alpha:] and friends), '\' quotes the next character when the pattern
// has a wildcard. Where it is matched:
//   - no '/' and no '**': the entry's last name, at any depth ("*.o", "core");
//   - a leading '/': the path from the transfer root (or from the directory of the per-directory
//     rules file it came from);
//   - a '/' or '**' otherwise: the end of the path, starting at a name boundary ("sub/*.c"
//     matches "x/sub/a.c"); a pattern starting with '**' is matched from the root.
// A trailing '/' makes the pattern match directories only; a trailing '/***' matches the
// directory and everything below it.

export class PatternError extends Error {
  constructor(readonly pattern: string, why: string) {
    super(`bad pattern '${pattern}': ${why}`);
    this.name = "PatternError";
  }
}

export interface Pattern {
  /** As written (for messages). */
  readonly text: string;
  /** Matches directories only (a trailing '/'). */
  readonly dirOnly: boolean;
  /** Matched against the last name instead of the path. */
  readonly byName: boolean;
  /** Anchored patterns of a per-directory rules file are matched below this directory ("" = root). */
  readonly base: string;
  readonly anchored: boolean;
  readonly re: RegExp;
}

const CLASSES: Record<string, string> = {
  alnum: "a-zA-Z0-9", alpha: "a-zA-Z", blank: " \\t", cntrl: "\\x00-\\x1f\\x7f", digit: "0-9", graph: "!-~",
  lower: "a-z", print: " -~", punct: "!-\\/:-@\\[-`{-~", space: " \\t\\n\\r\\f\\v", upper: "A-Z", xdigit: "0-9A-Fa-f",
};

const escapeRe = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");

/** The bracket expression starting at text[i] ('['), as a regex class, and the index after it. */
function bracket(text: string, i: number): { re: string; next: number } {
  let j = i + 1;
  let negate = false;
  if (text[j] === "!" || text[j] === "^") {
    negate = true;
    j++;
  }
  let body = "";
  let first = true;
  for (;;) {
    if (j >= text.length) throw new PatternError(text, "'[' without its closing ']'");
    const c = text[j]!;
    if (c === "]" && !first) break;
    first = false;
    if (c === "[" && text[j + 1] === ":") {
      const end = text.indexOf(":]", j + 2);
      const name = end < 0 ? "" : text.slice(j + 2, end);
      if (!(name in CLASSES)) throw new PatternError(text, `unknown character class '[:${name}:]'`);
      body += CLASSES[name];
      j = end + 2;
      continue;
    }
    let lit = c;
    if (c === "\\" && j + 1 < text.length) lit = text[++j]!;
    if (text[j + 1] === "-" && text[j + 2] !== undefined && text[j + 2] !== "]") {
      let hi = text[j + 2]!;
      let k = j + 3;
      if (hi === "\\" && j + 3 < text.length) {
        hi = text[j + 3]!;
        k = j + 4;
      }
      if (hi < lit) throw new PatternError(text, `range '${lit}-${hi}' runs backwards`);
      body += `${escapeRe(lit)}-${escapeRe(hi)}`;
      j = k;
      continue;
    }
    body += escapeRe(lit);
    j++;
  }
  // A class never matches '/': it stays inside one name, like '?'.
  return { re: negate ? `[^/${body}]` : `(?![/])[${body}]`, next: j + 1 };
}

/** The body of a wildcard pattern as regex source. */
function wildSource(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c === "*") {
      let n = 0;
      while (text[i] === "*") {
        n++;
        i++;
      }
      out += n >= 2 ? ".*" : "[^/]*";
    } else if (c === "?") {
      out += "[^/]";
      i++;
    } else if (c === "[") {
      const b = bracket(text, i);
      out += b.re;
      i = b.next;
    } else if (c === "\\" && i + 1 < text.length) {
      out += escapeRe(text[i + 1]!);
      i += 2;
    } else {
      out += escapeRe(c);
      i++;
    }
  }
  return out;
}

/**
 * Compiles `text` as rsync does. `base` is the directory (relative to the root, "" for the root)
 * of the per-directory rules file the pattern came from: its anchored patterns start there.
 * Throws PatternError for an empty pattern or a '[' without ']'.
 */
export function compilePattern(text: string, base = ""): Pattern {
  let p = text;
  let dirOnly = false;
  if (p.length > 1 && p.endsWith("/")) {
    dirOnly = true;
    p = p.replace(/\/+$/, "");
  }
  if (p === "" || p === "/") throw new PatternError(text, "empty pattern");
  let selfAndBelow = false;
  if (p.endsWith("/***") && p.length > 4) {
    selfAndBelow = true;
    p = p.slice(0, -4);
  }
  const anchored = p.startsWith("/");
  if (anchored) p = p.replace(/^\/+/, "");
  const wild = /[*?[]/.test(p);
  const body = (wild ? wildSource(p) : escapeRe(p)) + (selfAndBelow ? "(?:/.*)?" : "");
  const hasSlash = p.includes("/") || selfAndBelow;
  const hasStar2 = p.includes("**");
  const byName = !anchored && !hasSlash && !hasStar2;
  const fromStart = anchored || p.startsWith("**");
  const source = byName || fromStart ? `^${body}$` : `^(?:.*/)?${body}$`;
  return { text, dirOnly, byName, base, anchored, re: new RegExp(source, "s") };
}

/** True when `p` matches the entry at `rel` (its last name `name`). */
export function patternMatches(p: Pattern, rel: string, name: string, isDir: boolean): boolean {
  if (p.dirOnly && !isDir) return false;
  if (p.byName) return p.re.test(name);
  if (p.anchored && p.base !== "") {
    if (!rel.startsWith(p.base + "/")) return false;
    return p.re.test(rel.slice(p.base.length + 1));
  }
  return p.re.test(rel);
}
