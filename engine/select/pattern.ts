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
  /** Matches the name (byName) or the path (relative to `base` when anchored). */
  readonly test: (s: string) => boolean;
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

/** One element of a compiled pattern. */
type Token =
  | { k: "lit"; c: string }
  | { k: "one" } // '?': one character but '/'
  | { k: "cls"; re: RegExp } // '[...]': one character of the class (never '/')
  | { k: "star" } // '*': any run without '/'
  | { k: "star2" }; // '**': any run

/** The tokens of a pattern (`wild` false: every character is itself). */
function tokenize(text: string, wild: boolean): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (!wild) {
      out.push({ k: "lit", c });
      i++;
    } else if (c === "*") {
      let n = 0;
      while (text[i] === "*") {
        n++;
        i++;
      }
      out.push({ k: n >= 2 ? "star2" : "star" });
    } else if (c === "?") {
      out.push({ k: "one" });
      i++;
    } else if (c === "[") {
      const b = bracket(text, i);
      out.push({ k: "cls", re: new RegExp(`^${b.re}$`, "s") });
      i = b.next;
    } else if (c === "\\" && i + 1 < text.length) {
      out.push({ k: "lit", c: text[i + 1]! });
      i += 2;
    } else {
      out.push({ k: "lit", c });
      i++;
    }
  }
  return out;
}

/** Regex source of tokens (only used when backtracking is bounded: at most one '*' run). */
function regexSource(tokens: readonly Token[]): string {
  return tokens.map((t) => (t.k === "lit" ? escapeRe(t.c) : t.k === "one" ? "[^/]" : t.k === "cls" ? t.re.source.slice(1, -1) : t.k === "star" ? "[^/]*" : ".*")).join("");
}

/**
 * Matches `text` against `tokens` by simulating all positions at once (O(pattern x text)):
 * a regex of several '*' runs backtracks exponentially on a long name, and patterns come from
 * peers too. `anywhere`: a match may also start after any '/'; `below`: "/..." may follow.
 */
function simulate(tokens: readonly Token[], text: string, anywhere: boolean, below: boolean): boolean {
  const end = tokens.length;
  let cur = new Uint8Array(end + 1);
  let next = new Uint8Array(end + 1);
  const add = (set: Uint8Array, s: number) => {
    set[s] = 1;
    while (s < end && (tokens[s]!.k === "star" || tokens[s]!.k === "star2")) set[++s] = 1;
  };
  add(cur, 0);
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (below && c === "/" && cur[end]) return true;
    next.fill(0);
    let alive = false;
    for (let s = 0; s < end; s++) {
      if (!cur[s]) continue;
      const t = tokens[s]!;
      let to = -1;
      if (t.k === "lit") to = c === t.c ? s + 1 : -1;
      else if (t.k === "star2") to = s;
      else if (c === "/") to = -1;
      else if (t.k === "star") to = s;
      else if (t.k === "one") to = s + 1;
      else to = t.re.test(c) ? s + 1 : -1;
      if (to >= 0) {
        add(next, to);
        alive = true;
      }
    }
    if (anywhere && c === "/") {
      add(next, 0);
      alive = true;
    }
    if (!alive && !anywhere) return false;
    [cur, next] = [next, cur];
  }
  return cur[end] === 1;
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
  const tokens = tokenize(p, wild);
  const hasSlash = p.includes("/") || selfAndBelow;
  const hasStar2 = tokens.some((t) => t.k === "star2");
  const byName = !anchored && !hasSlash && !hasStar2;
  // Unanchored with a '/' or '**': the match may start at the root or after any '/'.
  const anywhere = !byName && !anchored && !p.startsWith("**");
  const starRuns = tokens.filter((t) => t.k === "star" || t.k === "star2").length;
  let test: (s: string) => boolean;
  if (starRuns <= 1) {
    // One '*' run at most: a regex cannot backtrack far, and it is the faster matcher.
    const re = new RegExp(`^${anywhere ? "(?:.*/)?" : ""}${regexSource(tokens)}${selfAndBelow ? "(?:/.*)?" : ""}$`, "s");
    test = (s) => re.test(s);
  } else test = (s) => simulate(tokens, s, anywhere, selfAndBelow);
  return { text, dirOnly, byName, base, anchored, test };
}

/** True when `p` matches the entry at `rel` (its last name `name`). */
export function patternMatches(p: Pattern, rel: string, name: string, isDir: boolean): boolean {
  if (p.dirOnly && !isDir) return false;
  if (p.byName) return p.test(name);
  if (p.anchored && p.base !== "") {
    if (!rel.startsWith(p.base + "/")) return false;
    return p.test(rel.slice(p.base.length + 1));
  }
  return p.test(rel);
}
