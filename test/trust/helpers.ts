// Shared helpers for the trust suites (issue 11): a real blitd serving one writable module, the
// CLI run hermetically, entries that must stay untouched, and system tricks (chattr +i, bind
// mounts, running as `nobody`) with a way to tell whether this machine allows them.
import type { Subprocess } from "bun";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listing, makeTempDir, runCli, type CliResult, type TempDir } from "../helpers/index.ts";
import { moduleToml, startBlitd, type Daemon } from "../remote/helpers.ts";

/** The unprivileged user the race suite runs its attacker as. */
export const NOBODY = { user: "nobody", group: "nogroup" } as const;
/** `setpriv` prefix that runs a command as NOBODY with no supplementary groups. */
export const AS_NOBODY = ["setpriv", `--reuid=${NOBODY.user}`, `--regid=${NOBODY.group}`, "--clear-groups"];

/** Runs `blit ...args` with its BLIT_HOME in t and telemetry off (these suites test files, not runs). */
export function blit(t: TempDir, args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
  return runCli(args, { home: t.home, env: { BLIT_TELEMETRY: "off", ...opts.env }, timeoutMs: opts.timeoutMs });
}

/**
 * What a run said, short enough for a failure message: exit code, error count, the first three
 * errors of its --json report and the start of stderr. An ok run is
 * `{ exit: 0, errorCount: 0, errors: [], stderr: "" }`.
 */
export function outcome(r: CliResult): { exit: number; errorCount: number | undefined; errors: string[] | undefined; stderr: string } {
  const errors: { path: string; code: string }[] | undefined = Array.isArray(r.json?.errors) ? r.json.errors : undefined;
  return {
    exit: r.exitCode,
    errorCount: r.json?.errorCount,
    errors: errors?.slice(0, 3).map((e) => `${e.path}: ${e.code}`),
    stderr: r.stderr.length > 600 ? `${r.stderr.slice(0, 600)}...` : r.stderr,
  };
}

/** `n` small files `${prefix}0..` in dir, each holding its own name. */
export function fillFiles(dir: string, n: number, prefix = "f"): string[] {
  mkdirSync(dir, { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${prefix}${i}`;
    writeFileSync(join(dir, name), `${name}\n`);
    names.push(name);
  }
  return names;
}

/** The kind of entry at path, without following a symlink; "missing" when there is none. */
export function kindOf(path: string): "file" | "dir" | "symlink" | "other" | "missing" {
  if (!lexists(path)) return "missing";
  const st = lstatSync(path);
  return st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other";
}

/** existsSync without following a final symlink. */
export function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** An entry (or tree) whose every detail is recorded now, to check later that nothing changed. */
export interface Snapshot {
  /** listing() of root when the snapshot was taken. */
  readonly before: string[];
  /**
   * What changed since, as short lines ("- old entry", "+ new entry"), at most `limit` of them
   * followed by a count of the rest; [] when root is exactly as it was.
   */
  changes(limit?: number): string[];
}

/** Records root (type, mode, size, mtime, content hash of every entry, nothing followed). */
export function snapshot(root: string): Snapshot {
  const before = listing(root);
  return {
    before,
    changes(limit = 6) {
      const now = lexists(root) ? listing(root) : [];
      const was = new Set(before);
      const is = new Set(now);
      // Sorted by entry, so that a type change shows as its "- old" and "+ new" lines together.
      const out = [...before.filter((l) => !is.has(l)).map((l) => `- ${l}`), ...now.filter((l) => !was.has(l)).map((l) => `+ ${l}`)]
        .sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : a.slice(2) > b.slice(2) ? 1 : 0));
      if (!lexists(root)) out.unshift(`${root} is gone`);
      return out.length > limit ? [...out.slice(0, limit), `... and ${out.length - limit} more`] : out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A real daemon

export interface Module {
  daemon: Daemon;
  /** The module's directory on disk. */
  path: string;
  /** `blit://127.0.0.1:PORT/m` */
  url: string;
  /** Stops the daemon and removes its temp dir (for afterAll). */
  stop(): Promise<void>;
}

/**
 * A blitd on 127.0.0.1 (random port) serving one writable module `m` from a fresh temp dir. The
 * module keeps owners (keep_owners = true): pushes are compared with `rsync -aHAXS` as root.
 */
export async function startModule(): Promise<Module> {
  const t = makeTempDir();
  const path = t.join("module");
  mkdirSync(path, { recursive: true });
  let daemon: Daemon;
  try {
    daemon = await startBlitd(t.path, moduleToml({ m: { path, readOnly: false, keepOwners: true } }));
  } catch (e) {
    t.remove();
    throw e;
  }
  return {
    daemon,
    path,
    url: `blit://127.0.0.1:${daemon.port}/m`,
    async stop() {
      try {
        await daemon.stop("SIGKILL");
      } finally {
        t.remove();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// System tricks that may be refused (containers, filesystems); callers skip with a message.

/** `chattr +i path`; returns the undo (chattr -i), or undefined when the filesystem refuses. */
export function makeImmutable(path: string): (() => void) | undefined {
  const r = spawnSync("chattr", ["+i", path], { encoding: "utf8" });
  if (r.status !== 0) return undefined;
  return () => void spawnSync("chattr", ["-i", path]);
}

/** `mount --bind from to`; false when mounting is not permitted. TempDir.remove unmounts it. */
export function bindMount(from: string, to: string): boolean {
  return spawnSync("mount", ["--bind", from, to]).status === 0;
}

/** chown -R to nobody:nogroup. */
export function giveToNobody(path: string): void {
  const r = spawnSync("chown", ["-R", "-h", `${NOBODY.user}:${NOBODY.group}`, path], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`chown ${path}: ${r.stderr}`);
}

/** A running swapper.ts; stop() ends its loop and returns how many exchanges it made. */
export interface Swapper {
  stop(): Promise<number>;
}

/**
 * Starts swapper.ts as nobody: it exchanges parent/name with parent/name.swap (a symlink to
 * `target`) in a loop until stop(), or for `seconds` at most should the test die; `refill`
 * names files it puts back into parent/name as bait. `work` holds its stop file.
 */
export function startSwapper(work: string, parent: string, name: string, target: string, opts: { seconds: number; refill?: string[] }): Swapper {
  const stopFile = join(work, "stop-swapping");
  const proc: Subprocess<"ignore", "pipe", "pipe"> = Bun.spawn(
    [...AS_NOBODY, process.execPath, join(import.meta.dir, "swapper.ts"), parent, name, target, stopFile, String(opts.seconds), ...(opts.refill?.length ? [opts.refill.join(",")] : [])],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent" } },
  );
  return {
    async stop() {
      writeFileSync(stopFile, "");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      try {
        const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
        await proc.exited;
        const n = Number.parseInt(out, 10);
        if (!Number.isFinite(n)) throw new Error(`the swapper failed (exit ${proc.exitCode}): ${err}${out}`);
        return n;
      } finally {
        clearTimeout(timer);
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
    },
  };
}
