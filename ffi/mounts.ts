// Which filesystem holds a path: the deepest mount point that prefixes it, from the kernel's
// mount table. "unknown" where the OS has no /proc/self/mountinfo.
import { readFileSync } from "node:fs";

let mounts: { point: string; type: string }[] | undefined;

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function filesystemType(absPath: string): string {
  if (!mounts) {
    mounts = [];
    try {
      for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
        // id parent major:minor root mountpoint options [optional...] - fstype source superopts
        const parts = line.split(" ");
        const dash = parts.indexOf("-");
        if (dash < 0 || parts.length < 5) continue;
        mounts.push({ point: unescape(parts[4]!), type: parts[dash + 1] ?? "unknown" });
      }
    } catch {
      return "unknown";
    }
  }
  let best = { point: "", type: "unknown" };
  for (const m of mounts) {
    const under = m.point === "/" || absPath === m.point || absPath.startsWith(m.point + "/");
    if (under && m.point.length >= best.point.length) best = m;
  }
  return best.type;
}
