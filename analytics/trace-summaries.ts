// Trace summaries linked to a run, when the store has them (table trace_summaries, written by
// traces/). Read defensively: the table or its columns may not exist in a given store, and a
// summary is whatever JSON the ingester wrote, so only its scalar fields are taken.
import type { DuckDBConnection } from "@duckdb/node-api";

export interface TraceSummaryFact {
  traceId: string;
  scope: string;
  /** Scalar fields of the summary (numbers, strings, booleans), flattened one level deep with dots. */
  fields: Record<string, number | string | boolean>;
}

const MAX_SUMMARIES = 10;
const MAX_FIELDS = 24;

/** Summaries for `runId`; empty when there are none or the store has no such table. Never throws. */
export async function traceSummariesFor(conn: DuckDBConnection, runId: string): Promise<TraceSummaryFact[]> {
  try {
    const cols = await conn.runAndReadAll(
      "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = 'trace_summaries'",
    );
    const names = new Set(cols.getRowObjects().map((r) => String(r.column_name)));
    if (!names.has("run_id") || !names.has("summary")) return [];
    const trace = names.has("trace_id") ? "CAST(trace_id AS VARCHAR)" : "''";
    const scope = names.has("scope") ? "CAST(scope AS VARCHAR)" : "''";
    const order = names.has("created_at") ? "ORDER BY created_at" : "";
    const reader = await conn.runAndReadAll(
      `SELECT ${trace} AS trace_id, ${scope} AS scope, CAST(summary AS VARCHAR) AS summary
       FROM trace_summaries WHERE run_id = $1 ${order} LIMIT ${MAX_SUMMARIES}`,
      [runId],
    );
    return reader.getRowObjects().map((r) => ({
      traceId: String(r.trace_id ?? ""),
      scope: String(r.scope ?? ""),
      fields: scalars(parse(r.summary)),
    }));
  } catch {
    return [];
  }
}

function parse(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function scalars(value: unknown): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = {};
  const visit = (v: unknown, prefix: string, depth: number) => {
    if (Object.keys(out).length >= MAX_FIELDS) return;
    if (typeof v === "number" || typeof v === "boolean" || (typeof v === "string" && v.length <= 200)) {
      out[prefix || "value"] = v;
    } else if (v && typeof v === "object" && !Array.isArray(v) && depth < 2) {
      for (const [k, x] of Object.entries(v)) visit(x, prefix ? `${prefix}.${k}` : k, depth + 1);
    }
  };
  visit(value, "", 0);
  return out;
}
