// Which tool wrote a file, judged by its first lines (never by its name). Each format has a
// line test; the format whose test fits most of the sampled lines wins, and a file that fits none
// well enough is refused.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { sniffEncoding } from "./line-reader.ts";
import { TraceError } from "./trace-error.ts";

export type TraceFormat = "xperf" | "tracerpt" | "wpa-csv" | "perf-script" | "perf-trace" | "strace";
export const TRACE_FORMATS: readonly TraceFormat[] = ["xperf", "tracerpt", "wpa-csv", "perf-script", "perf-trace", "strace"];

const SAMPLE_BYTES = 64 * 1024;
const SAMPLE_LINES = 200;

const STRACE = /^\s*(?:\[pid\s+\d+\]\s*|\d+\s+)?(?:\d\d:\d\d:\d\d(?:\.\d+)?\s+|\d+\.\d+\s+)?(?:[A-Za-z_]\w*\(|<\.\.\. \w+ resumed>|\+\+\+ (?:exited|killed)|--- SIG|strace: Process)/;
const PERF_TRACE = /^\s*(?:\?|\d+(?:\.\d+)?)\s+(?:\(\s*(?:\d+(?:\.\d+)?)?\s*(?:ms)?\s*\):\s+)?\S.*?\/\d+\s+(?:\.\.\. \[continued\]: )?\w+\(/;
const PERF_SCRIPT = /^.*?\s+\d+(?:\/\d+)?\s+(?:\[\d+\]\s+)?\d+\.\d+:\s/;
/** A perf script header without the time field (`-F comm,pid,event,ip,sym`): a CPU field, or an event ending in ':'. */
const PERF_SCRIPT_NO_TIME = /^.*?\s+\d+(?:\/\d+)?\s+(?:\[\d+\]\s+(?:\d+\s+)?[A-Za-z_]\S*(?:\s|$)|(?:\d+\s+)?[A-Za-z_][\w\-.,=/]*(?::[\w\-.,=/]+)*:(?:\s|$))/;
/** strace -k: a stack frame under a call. */
const STRACE_FRAME = /^ > \S/;
const PERF_STACK = /^\s+\S+\s+\S/;
const XPERF_HEADER = /^\s*[A-Za-z][\w\-/ ]*,\s*TimeStamp,/;
const XPERF_LINE = /^\s*[A-Za-z][\w\-/ ]*,\s+\d+,/;

/**
 * The format of `path`, from its content. Throws TraceError TRACE_EMPTY for an empty file,
 * TRACE_NOT_A_TRACE for binary data or text that is no supported trace.
 */
export function detectFormat(path: string): TraceFormat {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw new TraceError("TRACE_NOT_FOUND", path, `${path}: cannot read the trace file (${(err as Error).message})`, err);
  }
  if (size === 0) throw new TraceError("TRACE_EMPTY", path, `${path}: the file is empty; there is no trace to ingest`);
  const head = readHead(path);
  const { encoding, bomLength } = sniffEncoding(head);
  const body = head.subarray(bomLength);
  if (encoding === "utf-8" && (body.includes(0) || !validUtf8(body, head.length === SAMPLE_BYTES))) {
    throw new TraceError(
      "TRACE_NOT_A_TRACE", path,
      `${path}: binary data, not a trace text. Export it first: 'perf script -i perf.data > out.txt', ` +
        `'xperf -i trace.etl -o out.txt -a dumper', or 'tracerpt trace.etl -of CSV'`,
    );
  }
  const text = new TextDecoder(encoding).decode(body);
  const lines = text.split(/\r?\n/);
  if (head.length === SAMPLE_BYTES) lines.pop(); // the last line may be cut
  const sample = lines.filter((l) => l.trim().length > 0).slice(0, SAMPLE_LINES);
  if (sample.length === 0) throw new TraceError("TRACE_EMPTY", path, `${path}: the file holds only blank lines; there is no trace to ingest`);
  const first = sample[0]!.trim();
  if (/^Event Name\s*,\s*Type\s*,/.test(first)) return "tracerpt";
  if (sample.some((l) => l.trim() === "BeginHeader") || sample.some((l) => XPERF_HEADER.test(l))) return "xperf";
  if (looksLikeWpaHeader(first)) return "wpa-csv";
  const content = sample.filter((l) => !l.startsWith("#"));
  const score = (test: (l: string) => boolean) => content.filter(test).length / Math.max(1, content.length);
  const scores: [TraceFormat, number][] = [
    // (with a call line's rest after the program's output broke it: `) = 3`, ` <unfinished ...>`)
    ["strace", score((l) => STRACE.test(l) || l.startsWith(" <detached") || STRACE_FRAME.test(l) || l.startsWith(") = ") || l.startsWith(" <unfinished"))],
    ["perf-trace", score((l) => PERF_TRACE.test(l))],
    ["perf-script", score((l) => perfScriptHeader(l) || PERF_STACK.test(l))],
    ["xperf", score((l) => XPERF_LINE.test(l))],
  ];
  // perf trace lines also look like strace calls after their prefix: prefer the stricter one
  scores.sort((a, b) => b[1] - a[1] || (a[0] === "perf-trace" ? -1 : b[0] === "perf-trace" ? 1 : 0));
  const [best, fit] = scores[0]!;
  if (fit >= 0.5 && (best !== "perf-script" || content.some(perfScriptHeader))) return best;
  throw new TraceError(
    "TRACE_NOT_A_TRACE", path,
    `${path}: not a trace this version can read (looked for xperf dumper text, tracerpt or wpaexporter CSV, ` +
      `perf script, perf trace and strace output; first line: ${JSON.stringify(first.slice(0, 80))})`,
  );
}

function perfScriptHeader(line: string): boolean {
  return PERF_SCRIPT.test(line) || PERF_SCRIPT_NO_TIME.test(line);
}

function readHead(path: string): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(SAMPLE_BYTES);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** A CSV header whose column names look like a WPA table: units in parentheses or WPA's names. */
function looksLikeWpaHeader(line: string): boolean {
  const sep = [",", ";", "\t"].find((s) => line.split(s).length >= 3);
  if (!sep) return false;
  const names = line.split(sep).map((n) => n.trim().replace(/^"|"$/g, ""));
  if (names.some((n) => n === "" || /^-?[\d.,]+$/.test(n))) return false;
  const known = /^(Process|Process Name|Thread ID|Path Name|File Name|IO Type|Disk|Priority|Size|Duration|Line #|Count|Stack|Module|Function|Event Name|Complete Time|Init Time)\b/i;
  const units = /\((µs|μs|us|ms|s|ns|B|KB|MB|GB|%)\)$/;
  const hits = names.filter((n) => known.test(n) || units.test(n)).length;
  return hits >= 2;
}

/** Whether `bytes` is UTF-8; when the sample was cut, up to 3 trailing bytes may be a split character. */
function validUtf8(bytes: Uint8Array, cut: boolean): boolean {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (let trim = 0; trim <= (cut ? 3 : 0); trim++) {
    try {
      decoder.decode(bytes.subarray(0, bytes.length - trim));
      return true;
    } catch {}
  }
  return false;
}
