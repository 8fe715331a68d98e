// Splitting one CSV line: quoted fields may hold the separator and doubled quotes. Fields are
// trimmed (xperf pads its columns) and unquoted.

export function splitCsv(line: string, sep: string = ","): string[] {
  const out: string[] = [];
  const s = sep.charCodeAt(0);
  let i = 0;
  const n = line.length;
  while (i <= n) {
    while (i < n && line.charCodeAt(i) === 32) i++;
    if (line.charCodeAt(i) === 34 /* " */) {
      let value = "";
      let j = i + 1;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) {
          value += line.slice(j);
          j = n;
          break;
        }
        value += line.slice(j, q);
        if (line.charCodeAt(q + 1) === 34) {
          value += '"';
          j = q + 2;
        } else {
          j = q + 1;
          break;
        }
      }
      const next = line.indexOf(sep, j);
      // text after the closing quote (rare) belongs to the field
      const tail = line.slice(j, next < 0 ? n : next).trim();
      out.push(tail ? value + tail : value);
      if (next < 0) break;
      i = next + 1;
    } else {
      let next = -1;
      for (let k = i; k < n; k++) if (line.charCodeAt(k) === s) { next = k; break; }
      out.push(line.slice(i, next < 0 ? n : next).trim());
      if (next < 0) break;
      i = next + 1;
    }
  }
  return out;
}

/** `name ( PID)` or `name (PID)` as xperf and WPA print a process; names may contain spaces. */
export function splitProcess(text: string): { process: string; pid: number | null } {
  const m = /^(.*?)\s*\(\s*(\d+)\s*\)$/.exec(text);
  return m ? { process: m[1]!, pid: +m[2]! } : { process: text, pid: null };
}

/** An integer in decimal or 0x hex; null when the text is neither. */
export function parseIntField(text: string | undefined): number | null {
  if (text === undefined || text === "") return null;
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t, 16);
  if (/^-?\d+$/.test(t)) return parseInt(t, 10);
  return null;
}
