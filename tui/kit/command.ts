// A command as data (usage, text, flags, positionals) and the one way every command is parsed:
// node:util parseArgs with the spec made from the flags, and one usage-error path that names
// the command, the option or argument, and what to do ("did you mean", a pointer to the right
// command), always exit 2 (main maps UsageError to it).
import { parseArgs } from "node:util";
import { UsageError } from "../../engine/index.ts";
import { helpLines, nearestFlag, parseSpec, type Flag } from "./flag.ts";
export { editDistance } from "./flag.ts";
import { warn, type Io } from "./io.ts";

export interface CommandSpec<C extends string = string> {
  /** The name after "blit" ("copy", "diagnostics perf"). */
  name: C;
  /** "blit copy SRC DST [flags]" (one or more lines). */
  usage: string;
  /** What it does: the paragraphs between the usage and the flags. */
  about: string;
  flags: readonly Flag<C>[];
  /**
   * Names of the positional arguments in order; a name ending in "..." takes one or more, and a
   * name in brackets ("[RUN_ID]", "[COMMAND...]") may be left out (optional names come last).
   */
  positionals: readonly string[];
  /** Text after the flags (what a mirror guarantees, exit codes). */
  after?: string;
  /** Options that are not this command's but someone will type: the answer instead of "unknown". */
  hints?: Record<string, string>;
  /** Options accepted and ignored with one note on stderr saying why (rsync's -a and -r): option -> reason. */
  noOps?: Record<string, string>;
}

export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Parsed {
  values: Values;
  positionals: string[];
  /** What parseArgs read, in command-line order (rsync's selection rules are ordered). */
  tokens: { kind: string; name?: string; value?: string; index: number }[];
  /** The arguments as parsed (after no-ops were dropped), which `tokens` index. */
  args: string[];
}

/** The command's --help text, made from its spec. */
export function helpText<C extends string>(spec: CommandSpec<C>): string {
  const parts = [spec.usage, spec.about, `Flags:\n${helpLines(spec.flags, spec.name)}`];
  if (spec.after) parts.push(spec.after);
  return parts.map((p) => p.trimEnd()).join("\n\n") + "\n";
}

/** Parses `args` for `spec`; a usage error throws UsageError("USAGE") with the whole answer. */
export function parseCommand<C extends string>(spec: CommandSpec<C>, args: string[], io: Io): Parsed {
  const cleaned = dropNoOps(spec, args, io);
  let parsed: Parsed;
  try {
    const result = parseArgs({ args: cleaned, options: parseSpec(spec.flags), allowPositionals: true, strict: true, tokens: true });
    parsed = { values: result.values as Values, positionals: result.positionals, tokens: result.tokens as Parsed["tokens"], args: cleaned };
  } catch (e) {
    throw usageErrorOf(spec, e);
  }
  if (!parsed.values.help) checkPositionals(spec, parsed.positionals);
  return parsed;
}

/** A string flag's value (the last one given). */
export function stringFlag(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

export function boolFlag(values: Values, name: string): boolean | undefined {
  const v = values[name];
  return typeof v === "boolean" ? v : undefined;
}

export function listFlag(values: Values, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** Removes the options in spec.noOps (also from short groups: -av is -v), saying once on stderr why. */
function dropNoOps<C extends string>(spec: CommandSpec<C>, args: string[], io: Io): string[] {
  const noOps = spec.noOps ?? {};
  if (Object.keys(noOps).length === 0) return args;
  const valued = new Set(spec.flags.filter((f) => f.value).flatMap((f) => (f.short ? [f.name, f.short] : [f.name])));
  const out: string[] = [];
  const noted = new Set<string>();
  const note = (name: string) => void noted.add(name);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    if (a in noOps) {
      note(a);
      continue;
    }
    if (/^-[A-Za-z]{2,}$/.test(a)) {
      // A short group: drop its no-op letters, keep the rest (-av is -v).
      const kept = [...a.slice(1)].filter((ch) => !(`-${ch}` in noOps && !spec.flags.some((f) => f.short === `-${ch}`)) || (note(`-${ch}`), false));
      if (kept.length) out.push(`-${kept.join("")}`);
      continue;
    }
    out.push(a);
    if (valued.has(a) && i + 1 < args.length) out.push(args[++i]!);
  }
  // One line for all of them: "-a, -r ignored: ...".
  if (noted.size > 0) {
    const names = [...noted];
    const reasons = [...new Set(names.map((n) => noOps[n]!))].filter((r, _, all) => !all.some((o) => o !== r && o.includes(r)));
    warn(io, `note: ${names.join(", ")} ignored: ${reasons.join("; ")}`);
  }
  return out;
}

function checkPositionals<C extends string>(spec: CommandSpec<C>, got: string[]): void {
  const names = spec.positionals;
  const required = names.filter((n) => !isOptional(n));
  const variadic = names.some((n) => n.replace(/\]$/, "").endsWith("..."));
  const max = variadic ? Infinity : names.length;
  const usage = `usage: ${spec.usage.split("\n")[0]}`;
  if (got.length < required.length) {
    // Optional names come last, so what is missing is the required names not yet filled.
    const what = required.slice(got.length).map((n) => n.replace(/\.\.\.$/, "")).join(" and ");
    throw new UsageError("USAGE", `${spec.name}: missing ${what}${got.length ? ` (got ${got.map((g) => `'${g}'`).join(", ")})` : ""}; ${usage}`);
  }
  if (got.length > max) {
    const extra = got.slice(max);
    const takes = names.length ? `takes ${names.join(" ")}` : "takes no arguments";
    throw new UsageError("USAGE", `${spec.name}: unexpected extra argument${extra.length === 1 ? "" : "s"} ${extra.map((g) => `'${g}'`).join(", ")} (${takes}); ${usage}`);
  }
}

/** "[RUN_ID]": a positional that may be left out (only after the required ones). */
function isOptional(name: string): boolean {
  return name.startsWith("[") && name.endsWith("]");
}

/** The usage error for a parseArgs failure: the option named, with "did you mean" or a hint. */
export function usageErrorOf<C extends string>(spec: CommandSpec<C>, e: unknown): UsageError {
  const code = (e as { code?: string }).code ?? "";
  const message = (e as Error).message ?? String(e);
  // "Unknown option '--foo'", "Option '-w, --workers <value>' argument missing": the long name wins.
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? "";
  const option = /--[\w-]+(=\S*)?/.exec(quoted)?.[0] ?? /-\w/.exec(quoted)?.[0] ?? quoted;
  const where = `for 'blit ${spec.name}'`;
  const helpHint = `run 'blit ${spec.name} --help' for its flags`;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const name = option.split("=")[0]!;
    const hint = spec.hints?.[name];
    if (hint) return new UsageError("USAGE", `unknown option '${name}' ${where}: ${hint}`);
    const guess = nearestFlag(name, spec.flags);
    return new UsageError("USAGE", `unknown option '${name}' ${where}; ${guess ? `did you mean '${guess}'?` : helpHint}`);
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const flag = spec.flags.find((f) => f.name === option || f.short === option);
    if (flag?.value && message.includes("ambiguous")) {
      return new UsageError("USAGE", `option '${flag.name}' ${where} is followed by a flag, not a ${flag.value}; to give a value that starts with '-', write ${flag.name}=VALUE`);
    }
    if (flag?.value) return new UsageError("USAGE", `option '${option}' needs a value (${flag.value}) ${where}; ${helpHint}`);
    return new UsageError("USAGE", `option '${option}' takes no value ${where}`);
  }
  if (code.startsWith("ERR_PARSE_ARGS")) return new UsageError("USAGE", `${message.split(". ")[0]} ${where}; ${helpHint}`);
  return e instanceof UsageError ? e : new UsageError("USAGE", message);
}

