// One flag of a command, as data: the parser's spec, the --help line, the README row and the
// "did you mean" of a typo are all made from it (rclone's fs.Option), so they cannot disagree.
// In engine/ because both the command line (tui/kit) and blitd (daemon/) build on it.
import type { ParseArgsConfig } from "node:util";

export interface Flag<C extends string = string> {
  /** "--workers". */
  name: string;
  /** "-w". */
  short?: string;
  /** The value's placeholder in help ("N", "RATE"); absent for a switch. */
  value?: string;
  /** May be given more than once (--exclude). */
  repeatable?: boolean;
  /** The commands that take it. */
  commands: readonly C[];
  /** What it does, for --help and the README (plain text; wrapped when printed). */
  help: string;
  /** The text for commands in `helpFor` when it differs there (push and pull's --checksum). */
  helpFor?: Partial<Record<C, string>>;
  /** The default, as a person reads it ("60; 0 waits forever"); printed after the help. */
  default?: string;
}

/** "-h, --help  this help": the row every command's table ends with. */
export function helpFlag<C extends string>(command: C): Flag<C> {
  return { name: "--help", short: "-h", commands: [command], help: "this help" };
}

/** The help text of `flag` for `command`, its default included. */
export function flagHelp<C extends string>(flag: Flag<C>, command: C): string {
  const text = flag.helpFor?.[command] ?? flag.help;
  return flag.default === undefined ? text : `${text} (default: ${flag.default})`;
}

/** "-w, --workers N" as the flag column shows it. */
export function flagLabel(flag: Flag): string {
  return `${flag.short ? `${flag.short}, ` : ""}${flag.name}${flag.value ? ` ${flag.value}` : ""}`;
}

/** node:util parseArgs options for these flags. */
export function parseSpec(flags: readonly Flag[]): NonNullable<ParseArgsConfig["options"]> {
  return Object.fromEntries(flags.map((f) => [
    f.name.slice(2),
    { type: f.value ? "string" : "boolean", ...(f.short ? { short: f.short.slice(1) } : {}), ...(f.repeatable ? { multiple: true } : {}) },
  ])) as NonNullable<ParseArgsConfig["options"]>;
}

const COLUMN = 25;
const WIDTH = 96;

/** "  -w, --workers N        text", wrapped at 96 columns under the text's column. */
export function helpLines<C extends string>(flags: readonly Flag<C>[], command: C): string {
  return flags.map((f) => {
    const head = `  ${f.short ? "" : "    "}${flagLabel(f)}`;
    return hang(head, flagHelp(f, command));
  }).join("\n");
}

function hang(head: string, text: string): string {
  const out: string[] = [];
  let line = head.length < COLUMN - 1 ? head.padEnd(COLUMN) : `${head}\n${" ".repeat(COLUMN)}`;
  let used = line.length - line.lastIndexOf("\n") - 1;
  let first = true;
  for (const w of text.split(" ")) {
    if (!first && used + 1 + w.length > WIDTH) {
      out.push(line);
      line = " ".repeat(COLUMN) + w;
      used = line.length;
    } else {
      line += (first ? "" : " ") + w;
      used += (first ? 0 : 1) + w.length;
    }
    first = false;
  }
  out.push(line);
  return out.join("\n");
}

/** The README's table of these flags (markdown), one row per flag. */
export function markdownRows<C extends string>(flags: readonly Flag<C>[], command: C): string {
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  const code = (s: string) => `\`${s}\``;
  return [
    "| flag | meaning |",
    "|---|---|",
    ...flags.map((f) => `| ${f.short ? `${code(f.short)}, ` : ""}${code(f.name + (f.value ? ` ${f.value}` : ""))} | ${cell(flagHelp(f, command))} |`),
  ].join("\n");
}

/** The flags' labels on a few lines ("-n, --dry-run   -c, --checksum   ..."), for an overview. */
export function labelList(flags: readonly Flag[], indent = 2): string {
  const lines: string[] = [];
  let line = "";
  for (const f of flags) {
    const label = flagLabel(f);
    if (line && indent + line.length + 3 + label.length > WIDTH) {
      lines.push(line);
      line = "";
    }
    line += (line ? "   " : "") + label;
  }
  if (line) lines.push(line);
  return lines.map((l) => " ".repeat(indent) + l).join("\n");
}

/** The flag spelling closest to `typed` by edit distance, if close enough to be a typo. */
export function nearestFlag(typed: string, flags: readonly Flag[]): string | undefined {
  const bare = typed.replace(/^-+/, "");
  let best: { name: string; d: number } | undefined;
  for (const f of flags) {
    const name = f.name.slice(2);
    const d = editDistance(bare, name);
    if (d <= Math.max(1, Math.ceil(name.length / 2)) && d < bare.length + 1 && (!best || d < best.d)) best = { name: f.name, d };
  }
  return best?.name;
}

/** Optimal string alignment distance (Levenshtein with adjacent swaps). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
