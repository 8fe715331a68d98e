// Human-readable numbers for terminal output: the one formatter lives in analytics
// (analytics/store/human-units.ts), so the commands, `diagnostics perf`, diagnose and the TUI
// print a run's size, rate and time alike; the short names here are what the commands call.
import { countOf, formatBytes, formatCount, formatDuration, formatIsoTime, formatRate, formatTime } from "../analytics/index.ts";

export { countOf, formatIsoTime, formatTime };
export const bytes = formatBytes;
export const count = formatCount;
export const seconds = formatDuration;
/** Bytes moved over the transfer phase's ms, as every rate blit prints. */
export const rate = formatRate;

/** Elapsed time and ETA on the progress line: "1:05", "1:02:03" (a clock, short and steady in width). */
export function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

const SPECIAL_NAMES: Record<string, [string, string, string]> = {
  fifo: ["FIFO", "FIFOs", "--specials"], socket: ["socket", "sockets", "--specials"],
  char: ["character device", "character devices", "--devices"], block: ["block device", "block devices", "--devices"],
};

/** "2 FIFOs (--specials), 1 block device (--devices)" for the special files a run left out, or "". */
export function specialsNote(skipped: Partial<Record<string, number>> | undefined): string {
  if (!skipped) return "";
  return Object.entries(skipped)
    .filter(([, n]) => n)
    .map(([k, n]) => {
      const [one, many, flag] = SPECIAL_NAMES[k] ?? [k, k, "--specials"];
      return `${countOf(n ?? 0, one, many)} (${flag})`;
    })
    .join(", ");
}

/** ", N of it holes" after a byte count when sparse files kept holes; "" otherwise. */
export function holeNote(c: { holeBytes?: number }): string {
  return c.holeBytes ? `, ${bytes(c.holeBytes)} of it holes` : "";
}

/**
 * A path as one line of terminal output: control characters (C0, DEL, C1) as \xNN and a
 * backslash doubled, so a name holding a newline cannot forge another line.
 */
export function escapePath(p: string): string {
  return p.replace(/[\\\u0000-\u001f\u007f-\u009f]/g, (c) => (c === "\\" ? "\\\\" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
}
