// Appending events to trace_events a data chunk (2048 rows) at a time instead of one native call
// per value. Numbers, booleans and null masks are filled in JS typed arrays and copied into the
// chunk's vectors with one call per column; strings of up to 12 ASCII bytes are written in place
// as DuckDB's inlined string_t (the public duckdb_string_t layout: uint32 length + 12 bytes), and
// longer ones are assigned through DuckDB once per distinct value in the chunk, their 16-byte
// string_t then copied to every other row that holds the same text. What is stored is exactly what
// appending value by value stored.
import type { DuckDBAppender, DuckDBDataChunk } from "@duckdb/node-api";
import type { TraceEvent } from "./trace-event.ts";

type Bindings = typeof import("@duckdb/node-bindings");
type Api = typeof import("@duckdb/node-api");
type RawChunk = import("@duckdb/node-bindings").DataChunk;
type RawVector = import("@duckdb/node-bindings").Vector;

/** trace_events' columns, in table order (analytics/migrations.ts, version 2). */
const COLUMNS = [
  ["trace_id", "VARCHAR"], ["seq", "BIGINT"], ["line", "BIGINT"], ["ts", "DOUBLE"], ["process", "VARCHAR"],
  ["pid", "INTEGER"], ["tid", "INTEGER"], ["kind", "VARCHAR"], ["category", "VARCHAR"], ["path", "VARCHAR"],
  ["bytes", "BIGINT"], ["duration", "DOUBLE"], ["result", "VARCHAR"], ["failed", "BOOLEAN"],
  ["event_name", "VARCHAR"], ["fields", "VARCHAR"],
] as const;
const C = { traceId: 0, seq: 1, line: 2, ts: 3, process: 4, pid: 5, tid: 6, kind: 7, category: 8, path: 9, bytes: 10, duration: 11, result: 12, failed: 13, name: 14, fields: 15 } as const;
const WIDTH: Record<string, number> = { VARCHAR: 16, BIGINT: 8, DOUBLE: 8, INTEGER: 4, BOOLEAN: 1 };
/** Columns whose text repeats (a few process names, kinds, results): worth one assignment per chunk. */
const REPEATING = new Set<number>([C.traceId, C.process, C.kind, C.category, C.path, C.result, C.name]);
const TWO32 = 4294967296;

/** A string column being filled: inline string_t bytes, and the long values to assign. */
interface TextColumn {
  bytes: Uint8Array;
  words: Uint32Array;
  /** Long values: distinct text -> the rows that hold it (repeating columns), or row -> text. */
  byText: Map<string, number[]> | null;
  rows: number[];
  texts: string[];
}

export class EventChunkWriter {
  private readonly capacity: number;
  private readonly chunk: RawChunk;
  private readonly wrapped: DuckDBDataChunk;
  private readonly vectors: RawVector[];
  private readonly data: Uint8Array[];
  private readonly f64: (Float64Array | null)[];
  private readonly i32: (Int32Array | null)[];
  private readonly text: (TextColumn | null)[];
  /** Null masks, one bit a row, for the nullable columns; null where the column has no null yet. */
  private readonly validity: Uint32Array[];
  private readonly hasNull: boolean[];
  private rows = 0;

  /** `duckdb` is the native bindings module @duckdb/node-api is built on; `api` that module. */
  constructor(private readonly duckdb: Bindings, api: Api, private readonly appender: DuckDBAppender, private readonly traceId: string) {
    if (appender.columnCount !== COLUMNS.length) {
      throw new Error(`trace_events has ${appender.columnCount} columns; the event writer knows ${COLUMNS.length}`);
    }
    const types = COLUMNS.map(([name, kind], i) => {
      const t = appender.columnType(i);
      // the JSON column reaches the appender as VARCHAR (JSON is an alias of it)
      if (t.toString() !== kind && !(name === "fields" && t.toString() === "JSON")) {
        throw new Error(`trace_events.${name} is ${t.toString()}; the event writer expects ${kind}`);
      }
      return t.toLogicalType().logical_type;
    });
    this.capacity = duckdb.vector_size();
    this.chunk = duckdb.create_data_chunk(types);
    this.wrapped = new api.DuckDBDataChunk(this.chunk);
    this.vectors = COLUMNS.map((_, i) => duckdb.data_chunk_get_vector(this.chunk, i));
    this.data = COLUMNS.map(([, kind]) => new Uint8Array(this.capacity * WIDTH[kind]!));
    this.f64 = COLUMNS.map(([, kind], i) => (kind === "BIGINT" || kind === "DOUBLE" ? new Float64Array(this.data[i]!.buffer) : null));
    this.i32 = COLUMNS.map(([, kind], i) => (kind === "BIGINT" || kind === "INTEGER" ? new Int32Array(this.data[i]!.buffer) : null));
    this.text = COLUMNS.map(([, kind], i) => kind === "VARCHAR"
      ? { bytes: this.data[i]!, words: new Uint32Array(this.data[i]!.buffer), byText: REPEATING.has(i) ? new Map() : null, rows: [], texts: [] }
      : null);
    this.validity = COLUMNS.map(() => new Uint32Array(Math.ceil(this.capacity / 32)));
    this.hasNull = COLUMNS.map(() => false);
  }

  add(seq: number, e: TraceEvent): void {
    const r = this.rows;
    this.setText(C.traceId, r, this.traceId);
    this.setInt64(C.seq, r, seq);
    this.setInt64(C.line, r, e.line);
    this.f64[C.ts]![r] = e.ts;
    this.setText(C.process, r, e.process);
    if (e.pid === null) this.setNull(C.pid, r); else this.i32[C.pid]![r] = e.pid;
    if (e.tid === null) this.setNull(C.tid, r); else this.i32[C.tid]![r] = e.tid;
    this.setText(C.kind, r, e.kind);
    this.setText(C.category, r, e.category);
    if (e.path === null) this.setNull(C.path, r); else this.setText(C.path, r, e.path);
    if (e.bytes === null) this.setNull(C.bytes, r); else this.setInt64(C.bytes, r, Math.trunc(e.bytes));
    if (e.duration === null) this.setNull(C.duration, r); else this.f64[C.duration]![r] = e.duration;
    if (e.result === null) this.setNull(C.result, r); else this.setText(C.result, r, e.result);
    if (e.failed === null) this.setNull(C.failed, r); else this.data[C.failed]![r] = e.failed ? 1 : 0;
    this.setText(C.name, r, e.name);
    this.setText(C.fields, r, JSON.stringify(e.fields));
    if (++this.rows === this.capacity) this.flush();
  }

  /** Appends the rows gathered so far (a partial chunk at the end). */
  flush(): void {
    const n = this.rows;
    if (n === 0) return;
    const d = this.duckdb;
    d.data_chunk_reset(this.chunk);
    d.data_chunk_set_size(this.chunk, n);
    for (let i = 0; i < COLUMNS.length; i++) {
      const vector = this.vectors[i]!;
      const col = this.text[i];
      if (col?.byText && col.byText.size > 0) {
        // one assignment per distinct long value, then its string_t (pointing into the chunk's own
        // string heap) copied to every row holding the same text
        for (const [value, rows] of col.byText) d.vector_assign_string_element(vector, rows[0]!, value);
        const assigned = d.vector_get_data(vector, n * 16);
        for (const rows of col.byText.values()) {
          const slot = assigned.subarray(rows[0]! * 16, rows[0]! * 16 + 16);
          for (const row of rows) col.bytes.set(slot, row * 16);
        }
      }
      const data = this.data[i]!;
      d.copy_data_to_vector(vector, 0, data.buffer as ArrayBuffer, data.byteOffset, n * WIDTH[COLUMNS[i]![1]]!);
      if (col && !col.byText) {
        for (let k = 0; k < col.rows.length; k++) d.vector_assign_string_element(vector, col.rows[k]!, col.texts[k]!);
      }
      if (this.hasNull[i]) {
        const mask = this.validity[i]!;
        d.vector_ensure_validity_writable(vector);
        d.copy_data_to_vector_validity(vector, 0, mask.buffer as ArrayBuffer, mask.byteOffset, Math.ceil(n / 64) * 8);
        mask.fill(0);
        this.hasNull[i] = false;
      }
      if (col) {
        col.byText?.clear();
        col.rows.length = 0;
        col.texts.length = 0;
      }
    }
    this.appender.appendDataChunk(this.wrapped);
    this.rows = 0;
  }

  private setNull(column: number, row: number): void {
    if (!this.hasNull[column]) {
      // from now on this chunk's column has a mask: every row valid but the nulls
      this.validity[column]!.fill(0xffffffff);
      this.hasNull[column] = true;
    }
    this.validity[column]![row >>> 5]! &= ~(1 << (row & 31));
  }

  private setInt64(column: number, row: number, v: number): void {
    const words = this.i32[column]!;
    if (Number.isSafeInteger(v)) {
      words[row * 2] = v % TWO32; // low word; the Int32Array keeps its bits
      words[row * 2 + 1] = Math.floor(v / TWO32);
    } else {
      // as the value-by-value appender did: BigInt() refuses NaN and infinities
      const big = BigInt(v);
      if (BigInt.asIntN(64, big) !== big) throw new RangeError(`${v} does not fit a BIGINT column`);
      new BigInt64Array(this.data[column]!.buffer)[row] = big;
    }
  }

  private setText(column: number, row: number, value: string): void {
    const col = this.text[column]!;
    const len = value.length;
    if (len <= 12) {
      let simple = true;
      for (let k = 0; k < len; k++) {
        const c = value.charCodeAt(k);
        if (c === 0 || c > 127) {
          simple = false;
          break;
        }
      }
      if (simple) {
        // an inlined string_t: length, then the bytes, zero padded
        const at = row * 16;
        const w = row * 4;
        col.words[w] = len;
        col.words[w + 1] = 0;
        col.words[w + 2] = 0;
        col.words[w + 3] = 0;
        const b = col.bytes;
        for (let k = 0; k < len; k++) b[at + 4 + k] = value.charCodeAt(k);
        return;
      }
    }
    if (col.byText) {
      const rows = col.byText.get(value);
      if (rows) rows.push(row);
      else col.byText.set(value, [row]);
    } else {
      col.rows.push(row);
      col.texts.push(value);
    }
  }
}
