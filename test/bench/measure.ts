// Running and timing one command, statistics, and stopping what we started on a signal.
import type { Subprocess } from "bun";
import { readdirSync, readFileSync, rmSync } from "node:fs";

export interface Timed {
  /** Wall clock from spawn to exit, milliseconds (performance.now() around Bun.spawn(...).exited). */
  ms: number;
  /** Peak resident set size reported by /usr/bin/time -f %M, KiB; null if it could not be read. */
  peakKiB: number | null;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Every process we started and that has not exited yet, so a signal handler can stop them. */
const live = new Set<Subprocess>();

/**
 * Runs `cmd` under `/usr/bin/time -f %M -o timeFile` (for every tool alike, so the wrapper's cost is
 * the same for all) and times it. stdout and stderr are collected.
 */
export async function timed(cmd: string[], opts: { timeFile: string; env?: Record<string, string | undefined>; cwd?: string }): Promise<Timed> {
  const t0 = performance.now();
  const proc = Bun.spawn(["/usr/bin/time", "-f", "%M", "-o", opts.timeFile, ...cmd], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: opts.env,
    cwd: opts.cwd,
  });
  live.add(proc);
  let t1 = t0;
  const exited = proc.exited.then((code) => {
    t1 = performance.now();
    return code;
  });
  try {
    const [exitCode, stdout, stderr] = await Promise.all([
      exited,
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    let peakKiB: number | null = null;
    try {
      // On a non-zero exit GNU time writes "Command exited with non-zero status N" first.
      const lines = readFileSync(opts.timeFile, "utf8").trim().split("\n");
      const v = Number(lines[lines.length - 1]);
      if (Number.isFinite(v)) peakKiB = v;
      rmSync(opts.timeFile, { force: true });
    } catch {
      /* left null */
    }
    return { ms: t1 - t0, peakKiB, exitCode, stdout, stderr };
  } finally {
    live.delete(proc);
  }
}

/** Runs a helper command (sync, diff, version queries) untimed. */
export async function run(cmd: string[], env?: Record<string, string | undefined>): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
  live.add(proc);
  try {
    const [exitCode, stdout, stderr] = await Promise.all([
      proc.exited,
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    return { exitCode, stdout, stderr };
  } finally {
    live.delete(proc);
  }
}

/** Flushes dirty pages, so that one run's writeback is not charged to the next. */
export async function sync(): Promise<void> {
  const r = await run(["sync"]);
  if (r.exitCode !== 0) throw new Error(`sync failed: ${r.stderr.trim()}`);
}

/** Pids of the descendants of `root` (children of children, ...), from /proc/PID/stat. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const kids = parent.get(ppid) ?? [];
      kids.push(Number(name));
      parent.set(ppid, kids);
    } catch {
      /* exited meanwhile */
    }
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    for (const k of parent.get(todo.pop()!) ?? []) {
      out.push(k);
      todo.push(k);
    }
  }
  return out;
}

/** Stops every process we started (and their descendants, by pid) and waits up to 5 s for them. */
export async function stopAll(): Promise<void> {
  const procs = [...live];
  for (const p of procs) {
    for (const pid of [...descendants(p.pid), p.pid]) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        /* already gone */
      }
    }
  }
  const deadline = Bun.sleep(5000).then(() => "timeout" as const);
  for (const p of procs) {
    if ((await Promise.race([p.exited, deadline])) === "timeout") {
      for (const pid of [...descendants(p.pid), p.pid]) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
    }
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
