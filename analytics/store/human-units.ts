// Numbers as a person reads them in a terminal. Decimal units throughout (1 MB = 1,000,000 bytes),
// so sizes and MB/s rates agree with each other.

const BYTE_UNITS = ["B", "kB", "MB", "GB", "TB", "PB"] as const;

/** 0 -> "0 B", 1536 -> "1.5 kB", 2_000_000_000 -> "2.0 GB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "-";
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** 850 -> "850ms", 12_340 -> "12.3s", 245_000 -> "4m05s", 3_720_000 -> "1h02m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 3600) {
    return `${Math.floor(totalSeconds / 60)}m${String(totalSeconds % 60).padStart(2, "0")}s`;
  }
  const totalMinutes = Math.floor(totalSeconds / 60);
  return `${Math.floor(totalMinutes / 60)}h${String(totalMinutes % 60).padStart(2, "0")}m`;
}

/** Megabytes per second, one decimal; "-" when nothing moved or no time passed. */
export function formatRate(bytes: number, ms: number): string {
  if (!(bytes > 0) || !(ms > 0)) return "-";
  return `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
}
