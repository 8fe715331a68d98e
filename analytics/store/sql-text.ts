// Values put into SQL text where DuckDB takes no parameter (COPY targets, read_parquet file lists,
// filters it should prune Parquet files on, which it does only for constants).

/** `value` as an SQL string literal: 'it''s'. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** `name` as a quoted SQL identifier: "a ""b""". */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
