// DuckDB's native module takes ~50 ms to load, so it is loaded on first use; the CLI calls
// preloadTelemetry() when a run starts so that the load overlaps the run instead of adding to it.
type DuckDB = typeof import("@duckdb/node-api");

let loading: Promise<DuckDB> | undefined;
let loaded: DuckDB | undefined;

export function preloadTelemetry(): Promise<DuckDB> {
  loading ??= import("@duckdb/node-api").then((m) => (loaded = m));
  return loading;
}

/** The module, once preloadTelemetry() has resolved (every store open awaits it first). */
export function duckdb(): DuckDB {
  if (!loaded) throw new Error("DuckDB module used before it was loaded");
  return loaded;
}
