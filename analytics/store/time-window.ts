// "--since 7d": how far back a history report looks.

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * "90m", "12h", "7d", "2w" (a span back from `now`) or an ISO 8601 date/time: the window's start in
 * ms since the epoch. Throws RangeError on anything else.
 */
export function parseSince(text: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)\s*([mhdw])$/i.exec(text.trim());
  if (m) return now - Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  if (/^\d{4}-\d{2}-\d{2}/.test(text.trim())) {
    const t = Date.parse(text.trim());
    if (!Number.isNaN(t)) return t;
  }
  throw new RangeError(`--since needs a span like 90m, 12h, 7d, 2w or a date like 2025-03-01, got '${text}'`);
}
