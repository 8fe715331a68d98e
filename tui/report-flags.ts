// The flag table of `blit report`: its parser, --help and the README's table are made from it
// (tui/kit). Apart from report-command.ts so that the README generator and `blit help` need not
// load the analytics queries.
import type { CommandSpec } from "./kit/command.ts";
import { helpFlag, type Flag } from "./kit/flag.ts";
import { storeFlag } from "./diagnose-flags.ts";

const REPORT_FLAGS: readonly Flag<"report">[] = [
  { name: "--html", value: "FILE", commands: ["report"], help: "write the report as one self-contained HTML file (required for now; the only format)" },
  { name: "--since", value: "SPAN", commands: ["report"], help: "history window: 90m, 12h, 7d, 2w, or a date like 2025-03-01", default: "30d" },
  { name: "--last", commands: ["report"], help: "report on the most recent run" },
  { name: "--limit", value: "N", commands: ["report"], help: "runs listed as slowest and as flagged", default: "10" },
  storeFlag("report"),
  helpFlag("report"),
];

export const REPORT_SPEC: CommandSpec<"report"> = {
  name: "report",
  usage: "blit report --html FILE [RUN_ID | --last | --since 30d] [--store SPEC]",
  about: `Write one HTML file to open in a browser or send to a colleague. It needs no network: the
chart library (uPlot) and the data are inside it.
Without a run: the history of the window: each run's duration against its prediction and 80%
band over time, the transfer rate by route, the flagged and slowest runs with their flags and
first cause, trends per route and the models.
With a run id (or a unique prefix of one, 4+ characters) or --last: that run's timeline
(throughput with blit's CPU, others' CPU and CPU and I/O pressure where recorded), its phases,
its duration against the prediction and band, its flags, the causes and suggestions with the
evidence (E1, E2, ...) they cite.
The facts are those of 'blit diagnose'. The file is written under a temporary name beside FILE
and renamed, so FILE is never half written.`,
  flags: REPORT_FLAGS,
  positionals: ["[RUN_ID]"],
  after: `Exit codes: 0 written; 2 usage error, no such run, a store that cannot be read, or FILE
cannot be written (nothing is left at FILE then).`,
};
