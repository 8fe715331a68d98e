// The README's flag tables (copy/mirror, push/pull, check, ls, diagnose, predict, tune, the trace
// subcommands, report, telemetry, blitd), made from the same tables as --help: each sits between
// `<!-- flags:NAME -->` and `<!-- /flags:NAME -->`; `npm run docs:flags` rewrites them and
// test/kit/flags.test.ts fails when the README is behind.
import type { Flag } from "./flag.ts";
import { flagHelp, markdownRows } from "./flag.ts";
import type { CommandSpec } from "./command.ts";
import { BLITD_FLAGS } from "../../daemon/index.ts";
import { CHECK_FLAGS } from "../check-command.ts";
import { DIAGNOSE_SPEC, PREDICT_SPEC, TUNE_SPEC } from "../diagnose-flags.ts";
import { LS_SPEC } from "../remote-command.ts";
import { REPORT_SPEC } from "../report-flags.ts";
import { TELEMETRY_SPEC } from "../telemetry-flags.ts";
import { TRACE_SPECS } from "../trace-flags.ts";
import { TRANSFER_FLAGS } from "../transfer-flags.ts";

/** One table per block: the flags of `commands` in table order; a flag not all of them take says which do. */
function table<C extends string>(flags: readonly Flag<C>[], commands: readonly C[]): string {
  const code = (s: string) => `\`${s}\``;
  const rows = flags.filter((f) => commands.some((c) => f.commands.includes(c))).map((f) => {
    const takers = commands.filter((c) => f.commands.includes(c));
    const only = takers.length < commands.length ? `${takers.join(", ")} only: ` : "";
    const text = `${only}${flagHelp(f, takers[0]!)}`.replace(/\|/g, "\\|");
    return `| ${f.short ? `${code(f.short)}, ` : ""}${code(f.name + (f.value ? ` ${f.value}` : ""))} | ${text} |`;
  });
  return ["| flag | meaning |", "|---|---|", ...rows].join("\n");
}

/** The commands whose README block is their whole table, as --help prints it; the block is named as the command ("trace-show"). */
export const SPEC_BLOCKS: readonly CommandSpec[] = [LS_SPEC, DIAGNOSE_SPEC, PREDICT_SPEC, TUNE_SPEC, ...Object.values(TRACE_SPECS), REPORT_SPEC, TELEMETRY_SPEC];

/** The README block name of a command: "trace show" -> "trace-show". */
export function blockName(spec: CommandSpec): string {
  return spec.name.replace(/ /g, "-");
}

/** The generated blocks by name. */
export function flagBlocks(): Record<string, string> {
  return {
    "copy-mirror": table(TRANSFER_FLAGS, ["copy", "mirror"]),
    "push-pull": table(TRANSFER_FLAGS, ["push", "pull"]),
    check: table(CHECK_FLAGS, ["check"]),
    // daemon/ keeps its own table (it cannot import tui/), in the shape of the kit's Flag rows.
    blitd: markdownRows(BLITD_FLAGS, "blitd"),
    ...Object.fromEntries(SPEC_BLOCKS.map((spec) => [blockName(spec), markdownRows(spec.flags, spec.name)])),
  };
}

/** `readme` with every block replaced by its generated table; unknown or unclosed markers throw. */
export function renderReadme(readme: string): string {
  const blocks = flagBlocks();
  return readme.replace(/<!-- flags:([\w-]+) -->\n[\s\S]*?<!-- \/flags:\1 -->/g, (_all, name: string) => {
    const body = blocks[name];
    if (body === undefined) throw new Error(`README: no flag table named '${name}'`);
    return `<!-- flags:${name} -->\n${body}\n<!-- /flags:${name} -->`;
  });
}
