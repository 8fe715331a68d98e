// The LLM explainer's answers, kept in the store (table ai_answers, migration 4) per run,
// evidence hash and model: reopening a run whose evidence has not changed asks the model nothing.
// Reading and writing never fail the caller: a store that cannot be used means no cache.
import type { DroppedClaim } from "./answer-validation.ts";
import { duckdb } from "../store/duckdb-module.ts";
import type { Explanation } from "../diagnose/explanation.ts";
import { withStore } from "../store/store.ts";

export interface CachedAnswer {
  explanation: Explanation;
  dropped: DroppedClaim[];
  /** ISO 8601. */
  createdAt: string;
}

export interface CacheKey {
  /** The store file. */
  path: string;
  runId: string;
  evidenceHash: string;
  model: string;
}

/** The cached answer for `key`, or undefined (also when the store cannot be read). */
export async function cachedAnswer(key: CacheKey): Promise<CachedAnswer | undefined> {
  try {
    return await withStore(
      key.path,
      async ({ conn }) => {
        const reader = await conn.runAndReadAll(
          `SELECT CAST(explanation AS VARCHAR) AS explanation, CAST(dropped AS VARCHAR) AS dropped, epoch_ms(created_at) AS created_ms
           FROM ai_answers WHERE run_id = $1 AND evidence_hash = $2 AND model = $3 ORDER BY created_at DESC LIMIT 1`,
          [key.runId, key.evidenceHash, key.model],
        );
        const row = reader.getRowObjects()[0];
        if (!row) return undefined;
        return {
          explanation: JSON.parse(String(row.explanation)) as Explanation,
          dropped: JSON.parse(String(row.dropped)) as DroppedClaim[],
          createdAt: new Date(Number(row.created_ms)).toISOString(),
        };
      },
      { busyTimeoutMs: 1000 },
    );
  } catch {
    return undefined;
  }
}

/** Keeps `answer` for `key`, replacing an older one. Resolves false when the store could not be written. */
export async function cacheAnswer(key: CacheKey & { baseURL?: string }, answer: Omit<CachedAnswer, "createdAt">): Promise<boolean> {
  try {
    await withStore(
      key.path,
      async ({ conn }) => {
        await conn.run("BEGIN TRANSACTION");
        try {
          await conn.run("DELETE FROM ai_answers WHERE run_id = $1 AND evidence_hash = $2 AND model = $3", [key.runId, key.evidenceHash, key.model]);
          await conn.run(
            "INSERT INTO ai_answers (run_id, evidence_hash, model, base_url, explanation, dropped, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
              key.runId, key.evidenceHash, key.model, key.baseURL ?? null,
              JSON.stringify(answer.explanation), JSON.stringify(answer.dropped),
              duckdb().timestampValue(BigInt(Date.now()) * 1000n),
            ],
          );
          await conn.run("COMMIT");
        } catch (e) {
          await conn.run("ROLLBACK").catch(() => {});
          throw e;
        }
      },
      { busyTimeoutMs: 1000 },
    );
    return true;
  } catch {
    return false;
  }
}
