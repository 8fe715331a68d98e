// Progress on stderr while a run works: phase, files, bytes, rate, ETA and the file in flight.
// On a TTY one line redrawn in place, cut to the terminal's width (read at every redraw, so a
// resize is followed) and never wrapped; elsewhere (when forced with --progress) a line every
// second, so a log or a CI job sees the run move.
import cliTruncate from "cli-truncate";
import type { Progress } from "../engine/index.ts";
import { bytes, clock, count, escapePath } from "./format.ts";

/** How often the line is redrawn on a terminal, and printed elsewhere. */
export const TTY_REDRAW_MS = 200;
export const LOG_LINE_MS = 1000;
// Below this many columns for the file in flight, its name would be only an ellipsis.
const MIN_FILE_COLUMNS = 8;

export class ProgressView {
  private last?: Progress;
  private timer?: ReturnType<typeof setInterval>;
  private started = performance.now();
  private transferStart = 0;
  private drawn = false;

  constructor(private out: NodeJS.WriteStream, private tty: boolean) {
    this.timer = setInterval(() => this.draw(), tty ? TTY_REDRAW_MS : LOG_LINE_MS);
  }

  update(p: Progress): void {
    if (p.phase === "transfer" && this.last?.phase !== "transfer") this.transferStart = performance.now();
    this.last = p;
  }

  private draw(): void {
    if (this.tty) {
      // The last column is left free: a line that fills it makes some terminals wrap.
      const width = Math.max(10, (this.out.columns || 80) - 1);
      this.out.write(`\r${progressLine(this.last, this.clocks(), width)}\x1b[K`);
      this.drawn = true;
    } else {
      this.out.write(`${progressLine(this.last, this.clocks(), Infinity)}\n`);
    }
  }

  private clocks(): Clocks {
    const now = performance.now();
    return { elapsedMs: now - this.started, transferMs: now - (this.transferStart || this.started) };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty && this.drawn) this.out.write("\r\x1b[K");
  }
}

export interface Clocks {
  /** Since the view started. */
  elapsedMs: number;
  /** Since the transfer phase started (what the rate is measured over). */
  transferMs: number;
}

/**
 * The progress line, at most `width` columns: the most telling parts first (phase and percent,
 * bytes, rate, ETA, files), then the file in flight in what is left, cut from its start so the
 * name stays readable; parts that do not fit are left out rather than wrapped.
 */
export function progressLine(p: Progress | undefined, clocks: Clocks, width: number): string {
  if (!p) return fit(["enumerate …"], width);
  if (p.phase === "enumerate" || p.phase === "plan") return fit([`${p.phase} … ${clock(clocks.elapsedMs)}`], width);
  const ms = clocks.transferMs;
  const bps = ms > 0 ? (p.bytesDone / ms) * 1000 : 0;
  const fps = ms > 0 ? (p.filesDone / ms) * 1000 : 0;
  const left = Math.max(p.bytesTotal - p.bytesDone, 0);
  const filesLeft = Math.max(p.filesTotal - p.filesDone, 0);
  const etaMs = bps > 0 && left > 0 ? (left / bps) * 1000 : fps > 0 ? (filesLeft / fps) * 1000 : 0;
  const pct = p.bytesTotal > 0 ? Math.floor((p.bytesDone / p.bytesTotal) * 100) : p.filesTotal > 0 ? Math.floor((p.filesDone / p.filesTotal) * 100) : 100;
  const parts = [
    `${p.phase} ${pct}%`,
    `${bytes(p.bytesDone)}/${bytes(p.bytesTotal)}`,
    `${bytes(bps)}/s`,
    `ETA ${clock(etaMs)}`,
    `${count(p.filesDone)}/${count(p.filesTotal)} ${p.filesTotal === 1 ? "file" : "files"}`,
  ];
  const line = fit(parts, width);
  const room = width - line.length - 2;
  if (!p.current || p.phase !== "transfer" || room < MIN_FILE_COLUMNS) return line;
  const name = escapePath(p.current);
  return `${line}  ${Number.isFinite(room) ? cliTruncate(name, room, { position: "start" }) : name}`;
}

/** The parts, two spaces apart, as many as fit from the first; the first alone is cut to fit. */
function fit(parts: readonly string[], width: number): string {
  let line = "";
  for (const part of parts) {
    const next = line ? `${line}  ${part}` : part;
    if (next.length > width) break;
    line = next;
  }
  return line || cliTruncate(parts[0] ?? "", width);
}
