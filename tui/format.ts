// Human-readable numbers for terminal output.
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  // byte counts are whole; a rate below 1 KiB/s is not, and is rounded like the rest
  return u === 0 ? `${Math.round(n)} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

export function count(n: number): string {
  return n.toLocaleString("en-US");
}

export function seconds(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`;
}

export function rate(bytesDone: number, ms: number): string {
  return ms > 0 ? `${bytes((bytesDone / ms) * 1000)}/s` : "-";
}

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
      return `${n} ${n === 1 ? one : many} (${flag})`;
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
