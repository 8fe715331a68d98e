// A fresh directory under the OS temp dir for one test's store, removed afterwards.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export interface TempStore {
  dir: string;
  /** `<dir>/telemetry.duckdb` */
  path: string;
  /** `<dir>/spool` */
  spool: string;
  remove(): void;
}

export function makeTempStore(): TempStore {
  const dir = mkdtempSync(join(tmpdir(), "blit-test-"));
  return {
    dir,
    path: join(dir, "telemetry.duckdb"),
    spool: join(dir, "spool"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The project root, so child processes resolve `@duckdb/node-api` like the tests do. */
export const PROJECT_ROOT = resolve(import.meta.dir, "../..");

export interface Holder {
  /** Kills the process and waits for it to exit. Safe to call more than once. */
  kill(): Promise<void>;
}

/**
 * Starts a second process that opens the store at `path` and keeps it open (holding DuckDB's
 * file lock) until killed. Resolves once the process says it holds the file.
 * Callers must call `kill()` in a finally block.
 */
export async function holdStore(path: string): Promise<Holder> {
  const script = `
    import { DuckDBInstance } from "@duckdb/node-api";
    const instance = await DuckDBInstance.create(${JSON.stringify(path)});
    const connection = await instance.connect();
    // Referenced from a live timer so the garbage collector never closes the store (and drops the lock).
    globalThis.blitTestHeld = { instance, connection };
    setInterval(() => void connection.run("SELECT 1"), 200);
    console.log("ready");
  `;
  const proc = Bun.spawn([process.execPath, "-e", script], {
    cwd: PROJECT_ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const holder: Holder = {
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await proc.exited;
    },
  };
  try {
    const reader = proc.stdout.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    const deadline = Date.now() + 15_000;
    while (!seen.includes("ready")) {
      const chunk = await Promise.race([
        reader.read(),
        Bun.sleep(Math.max(0, deadline - Date.now())).then(() => "timeout" as const),
      ]);
      if (chunk === "timeout") throw new Error("the holder process did not get ready in 15 s");
      if (chunk.done) {
        const stderr = await new Response(proc.stderr).text();
        throw new Error(`the holder process exited before it was ready: ${stderr}`);
      }
      seen += decoder.decode(chunk.value);
    }
    reader.releaseLock();
  } catch (err) {
    await holder.kill();
    throw err;
  }
  return holder;
}
