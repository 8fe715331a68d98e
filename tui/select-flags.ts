// The selection flags of copy, mirror, push and pull in the order they were given: rsync's rules
// are "first match wins", so --include and --exclude (and --filter, --*-from) only mean something
// in command-line order, which parseArgs' values lose and its tokens keep.
import { readFileSync } from "node:fs";
import { buildRules, readFilesFrom, SelectError, UsageError, type SelectFlag } from "../engine/index.ts";

/** The parseArgs options of the selection flags every transfer command takes (--exclude is in COMMON_TRANSFER_OPTIONS). */
export const SELECT_OPTIONS = {
  include: { type: "string", multiple: true },
  "exclude-from": { type: "string", multiple: true },
  "include-from": { type: "string", multiple: true },
  filter: { type: "string", multiple: true },
} as const;

/** copy and mirror only. */
export const LOCAL_SELECT_OPTIONS = {
  "files-from": { type: "string" },
  "delete-excluded": { type: "boolean" },
} as const;

const VALUE_FLAGS = new Set(["--include", "--exclude", "--filter", "--include-from", "--exclude-from", "--files-from"]);

/**
 * `args` with each selection flag's separate value joined to it ("--filter", "- *" becomes
 * "--filter=- *"), as getopt takes the next argument whatever it starts with: rules start with
 * '-' and '+', and '-' names stdin, which parseArgs would otherwise read as flags.
 */
export function joinSelectValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") return [...out, ...args.slice(i)];
    if (VALUE_FLAGS.has(a) && i + 1 < args.length) out.push(`${a}=${args[++i]}`);
    else out.push(a);
  }
  return out;
}

type Token = { kind: string; name?: string; value?: string };

/** The selection flags among parseArgs tokens, in order. */
export function selectFlagsOf(tokens: readonly Token[]): SelectFlag[] {
  const out: SelectFlag[] = [];
  for (const t of tokens) {
    if (t.kind !== "option" || t.value === undefined) continue;
    if (t.name === "include" || t.name === "exclude") out.push({ kind: t.name, value: t.value });
    else if (t.name === "include-from" || t.name === "exclude-from") out.push({ kind: t.name, file: t.value });
    else if (t.name === "filter") out.push({ kind: "filter", rule: t.value });
  }
  return out;
}

/** One read of stdin shared by every flag given '-' (only one may be). */
function stdinOnce(tokens: readonly Token[]): () => string {
  const readers = tokens.filter((t) => t.kind === "option" && t.value === "-" && /^(include-from|exclude-from|files-from)$/.test(t.name ?? ""));
  if (readers.length > 1) throw new UsageError("BAD_RULE", `only one flag may read stdin ('-'); got ${readers.map((t) => `--${t.name}`).join(" and ")}`);
  let text: string | undefined;
  return () => (text ??= readFileSync(0, "utf8"));
}

/**
 * The canonical rules and the --files-from list of the parsed flags. Reads the rules files and
 * the list now, so that a bad rule, an unreadable file or a path leaving SRC stops the command
 * (SelectError, exit 2) before anything is written.
 */
export function selectionOf(tokens: readonly Token[], filesFrom?: string): { filter: string[]; filesFrom?: string[] } {
  const stdin = stdinOnce(tokens);
  const filter = buildRules(selectFlagsOf(tokens), stdin);
  return filesFrom === undefined ? { filter } : { filter, filesFrom: readFilesFrom(filesFrom, stdin) };
}

export { SelectError };
