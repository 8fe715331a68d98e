// `blit copy SRC1 SRC2 ... DST` (and mirror): as `cp -r a b dst/` and rsync without a trailing
// slash, each source's own name becomes an entry of DST (a directory SRC1 goes to DST/NAME1, a
// file to DST/NAME1). One source keeps blit's meaning (a directory's contents go into DST).
// Each source is its own run, recorded on its own; a mirror's deletes stay inside each
// source's DST/NAME, so nothing else in DST is ever deleted.
import { statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { UsageError } from "../engine/index.ts";
import { EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK } from "./exit-codes.ts";

/** The entry name a source gets under DST; refuses a source without one ('/'). */
function entryName(src: string): string {
  const name = basename(resolve(src));
  if (name === "" || name === "/") throw new UsageError("SOURCE_NAME", `source '${src}' has no name to give its entry under DST; name a directory below it`);
  return name;
}

/** Each source with where it goes, checked before any is copied: every one exists, no two share a name. */
export function planSources(positionals: readonly string[]): { source: string; destination: string }[] {
  const dst = positionals[positionals.length - 1]!;
  const seen = new Map<string, string>();
  return positionals.slice(0, -1).map((src) => {
    let isDir: boolean;
    try {
      isDir = statSync(src).isDirectory();
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new UsageError(code === "ENOENT" ? "SOURCE_MISSING" : "SOURCE_UNREADABLE", `source '${src}' ${code === "ENOENT" ? "does not exist" : `cannot be read (${code})`}`);
    }
    const name = entryName(src);
    const other = seen.get(name);
    if (other !== undefined) throw new UsageError("SOURCE_NAME", `sources '${other}' and '${src}' both have the name '${name}'; they would go to the same entry of DST`);
    seen.set(name, src);
    // A file goes into DST (a directory, made when missing); a directory becomes DST/NAME.
    return { source: src, destination: isDir ? join(dst, name) : `${dst.replace(/\/+$/, "")}/` };
  });
}

/**
 * Runs `one` for each source in turn and returns the worst exit code (interrupted stops the
 * rest; any other failure goes on with the next source, as rsync does).
 */
export async function severalSources(positionals: readonly string[], one: (src: string, dst: string) => Promise<number>): Promise<number> {
  let worst = EXIT_OK;
  for (const s of planSources(positionals)) {
    const code = await one(s.source, s.destination);
    if (code === EXIT_INTERRUPTED) return code;
    worst = Math.max(worst, code);
  }
  return Math.min(worst, EXIT_FATAL);
}

type Token = { kind: string; index: number };

/** `args` with its paths replaced by `src` and `dst` (after "--", so a name starting with '-' stays a path). */
export function withPaths(args: readonly string[], tokens: readonly Token[], src: string, dst: string): string[] {
  const drop = new Set(tokens.filter((t) => t.kind === "positional" || t.kind === "option-terminator").map((t) => t.index));
  return [...args.filter((_, i) => !drop.has(i)), "--", src, dst];
}
