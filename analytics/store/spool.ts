// The spool: where a run's record waits when the store is busy or broken. One JSON file per run,
// written under a temporary name and renamed, so a file with its final name is always complete.
// Whoever next opens the store merges the spool (see store.ts).
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { RunReport } from "../../engine/index.ts";
import { reportProblem } from "../diagnose/report-shape.ts";
import { insertRun } from "./run-row.ts";

const BAD_DIR = "bad";
/** A temporary file this old was left by a writer that died; nobody will rename it. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/** Writes `report` to `<spoolDir>/<id>.json` atomically and returns that path. Throws on failure. */
export function spoolReport(spoolDir: string, report: RunReport): string {
  const content = JSON.stringify(report);
  mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const name = `${spoolName(report.id)}.json`;
  const finalPath = join(spoolDir, name);
  const tempPath = join(spoolDir, `.${name}.${process.pid}.${Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString("hex")}.tmp`);
  const fd = openSync(tempPath, "wx", 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    tryUnlink(tempPath);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tempPath, finalPath);
  } catch (err) {
    tryUnlink(tempPath);
    throw err;
  }
  return finalPath;
}

export interface MergeOutcome {
  /** Spool files whose run is now in the store (newly, or already before) and were removed. */
  merged: number;
  /** Malformed spool files moved to `spool/bad/`. */
  bad: number;
  /** Files left in place because reading or inserting failed; the next open tries again. */
  failed: number;
}

/**
 * Moves every complete spool file into the store. The caller must hold the store open for
 * writing (which, in DuckDB, means no other process can be merging at the same time).
 * Safe to repeat: a file merged twice adds its run once.
 */
export async function mergeSpool(conn: DuckDBConnection, spoolDir: string): Promise<MergeOutcome> {
  const outcome: MergeOutcome = { merged: 0, bad: 0, failed: 0 };
  let names: string[];
  try {
    names = readdirSync(spoolDir).sort();
  } catch {
    return outcome; // no spool directory (the usual case) or unreadable: nothing to merge
  }
  for (const name of names) {
    const file = join(spoolDir, name);
    if (name.endsWith(".tmp")) {
      removeIfStale(file);
      continue;
    }
    if (!name.endsWith(".json") || name.startsWith(".")) continue;
    let parsed: unknown;
    try {
      const content = readFileSync(file, "utf8");
      try {
        parsed = JSON.parse(content);
      } catch {
        parsed = undefined;
      }
    } catch {
      outcome.failed++;
      continue;
    }
    if (reportProblem(parsed) !== undefined) {
      if (moveAside(spoolDir, name)) outcome.bad++;
      else outcome.failed++;
      continue;
    }
    try {
      await insertRun(conn, parsed as RunReport);
    } catch {
      outcome.failed++;
      continue;
    }
    tryUnlink(file);
    outcome.merged++;
  }
  return outcome;
}

// Run ids are UUIDs; anything else is hashed so the id can never name a path outside the spool.
function spoolName(id: string): string {
  if (/^[A-Za-z0-9_-]{1,128}$/.test(id)) return id;
  return "id-" + new Bun.CryptoHasher("sha256").update(String(id)).digest("hex").slice(0, 32);
}

function moveAside(spoolDir: string, name: string): boolean {
  try {
    const badDir = join(spoolDir, BAD_DIR);
    mkdirSync(badDir, { recursive: true });
    let target = join(badDir, name);
    if (existsSync(target)) target = join(badDir, `${name}.${Date.now()}`);
    renameSync(join(spoolDir, name), target);
    return true;
  } catch {
    return false;
  }
}

function removeIfStale(file: string): void {
  try {
    if (Date.now() - statSync(file).mtimeMs > STALE_TEMP_MS) unlinkSync(file);
  } catch {
    // gone already, or not ours to remove
  }
}

function tryUnlink(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
