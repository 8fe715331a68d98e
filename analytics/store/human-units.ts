// Numbers as a person reads them, the one voice of every command and the TUI (tui/format.ts
// re-exports these). Sizes and rates in IEC units (1 KiB = 1024 bytes), as --bwlimit reads them;
// a rate is bytes moved over the transfer phase's time; durations in one style ("360 ms",
// "2.48 s", "4 min 05 s"); times with their zone. Machine output (--json) keeps raw numbers.

/** Bytes in a MiB: machine figures given "per MiB" (evidence rates in MiB/s) use it. */
export const MIB = 1024 * 1024;

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/** 0 -> "0 B", 1536 -> "1.5 KiB", 143_360 -> "140 KiB", 2_000_000_000 -> "1.9 GiB"; "-" when not a size. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "-";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  // Byte counts are whole; a fractional byte rate below 1 KiB/s is rounded like the rest.
  if (unit === 0) return `${Math.round(value)} B`;
  // 1023.96 KiB rounds to "1024 KiB", never "1024.0 KiB": the next unit reads better.
  const text = value >= 100 ? value.toFixed(0) : value.toFixed(1);
  return `${text} ${BYTE_UNITS[unit]}`;
}

/** Bytes per second: "33.1 MiB/s"; "-" when not a rate. */
export function formatBytesPerSec(bytesPerSec: number): string {
  if (!Number.isFinite(bytesPerSec) || bytesPerSec < 0) return "-";
  return `${formatBytes(bytesPerSec)}/s`;
}

/**
 * The rate of a run: bytes moved over the transfer phase's milliseconds (pass the transfer
 * phase, not the whole run, so every place shows the same figure); "-" when nothing moved or no
 * time passed.
 */
export function formatRate(bytes: number, ms: number): string {
  if (!(bytes > 0) || !(ms > 0)) return "-";
  return formatBytesPerSec((bytes / ms) * 1000);
}

/** 360 -> "360 ms", 2_480 -> "2.48 s", 12_340 -> "12.3 s", 245_000 -> "4 min 05 s", 3_720_000 -> "1 h 02 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)} min ${pad2(totalSeconds % 60)} s`;
  const totalMinutes = Math.round(totalSeconds / 60);
  return `${Math.floor(totalMinutes / 60)} h ${pad2(totalMinutes % 60)} min`;
}

/** 1234 -> "1,234" (whole numbers; a fraction is rounded). */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return "-";
  return Math.round(n).toLocaleString("en-US");
}

/** 1 -> "1 file", 1234 -> "1,234 files"; `many` for irregular plurals ("1 process", "2 processes"). */
export function countOf(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${Math.round(n) === 1 ? one : many}`;
}

export interface TimeFormat {
  /** Print in UTC ("… UTC") instead of the local zone with its offset. @default false */
  utc?: boolean;
  /** Include seconds. @default true */
  seconds?: boolean;
}

/**
 * A moment with its zone: "2026-11-30 09:46:14 +01:00" in the local zone, "… UTC" when the local
 * zone is UTC or `utc` is asked; "-" for an unreadable time. Accepts epoch ms, an ISO string or a Date.
 */
export function formatTime(when: number | string | Date, options: TimeFormat = {}): string {
  const d = when instanceof Date ? when : new Date(when);
  if (Number.isNaN(d.getTime())) return "-";
  const offsetMin = options.utc ? 0 : -d.getTimezoneOffset();
  const shifted = new Date(d.getTime() + offsetMin * 60_000);
  const iso = shifted.toISOString(); // the wall-clock fields of the chosen zone, read as UTC
  const clock = options.seconds === false ? iso.slice(11, 16) : iso.slice(11, 19);
  return `${iso.slice(0, 10)} ${clock} ${zoneText(offsetMin)}`;
}

/**
 * A moment as ISO 8601 with milliseconds and its offset, "2026-11-30T09:46:14.042+01:00"
 * ("+00:00" in UTC, never "Z"): the stamp of log lines, which people read in their own zone and
 * programs parse. Local zone unless `utc`; "-" for an unreadable time.
 */
export function formatIsoTime(when: number | string | Date, options: Pick<TimeFormat, "utc"> = {}): string {
  const d = when instanceof Date ? when : new Date(when);
  if (Number.isNaN(d.getTime())) return "-";
  const offsetMin = options.utc ? 0 : -d.getTimezoneOffset();
  const wall = new Date(d.getTime() + offsetMin * 60_000).toISOString(); // the zone's wall clock, read as UTC
  return `${wall.slice(0, 23)}${offsetText(offsetMin)}`;
}

function zoneText(offsetMin: number): string {
  return offsetMin === 0 ? "UTC" : offsetText(offsetMin);
}

/** "+01:00", "-03:30", "+00:00". */
function offsetText(offsetMin: number): string {
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  return `${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}
