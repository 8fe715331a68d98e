// Storing events in trace_events through batch files that DuckDB loads on its own threads, so
// that parsing (JS) and loading (DuckDB) use both cores at once. Events are written as
// tab-separated text to a file in a temp directory; when the file is full, DuckDB loads it with
// `INSERT … SELECT … FROM read_csv(…)`, asynchronously, while the parser fills the next one. At most
// one load is in flight, so memory stays bounded whatever the trace's size; a large INSERT writes
// its row groups to the database file as it goes instead of pinning them in memory.
//
// The text format: quote and escape are the control character \x02 (STX). JSON.stringify never
// emits a raw control character, so the fields column is written as it is; other text is quoted
// only when it holds a tab, a line end or \x02, and an empty string is always quoted (`\x02\x02`),
// as an unquoted empty cell is NULL. What is stored equals what the parser produced.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { TraceEvent } from "./trace-event.ts";
import { sqlString } from "../analytics/index.ts";

export interface EventBatchOptions {
  /**
   * Events per batch file. One DuckDB row group: each load then writes a whole row group straight
   * to the database file (nothing goes through the write-ahead log), and the last load, which
   * nothing overlaps, is short.
   * @default 122,880
   */
  batchRows?: number;
  /**
   * Where the batch files go (in a fresh subdirectory, removed by close()).
   * @default os.tmpdir()
   */
  tempDir?: string;
  /**
   * When DuckDB runs under a memory limit: how to run a load with more memory. Used for a batch
   * whose longest line needs a large read buffer, and to retry a load that ran out of memory
   * (a failed INSERT stored nothing).
   */
  roomy?: <T>(run: () => Promise<T>) => Promise<T>;
}

/** trace_events' columns after trace_id, in table order, as read_csv declares them. */
const CSV_COLUMNS = [
  ["seq", "BIGINT"], ["line", "BIGINT"], ["ts", "DOUBLE"], ["process", "VARCHAR"], ["pid", "INTEGER"],
  ["tid", "INTEGER"], ["kind", "VARCHAR"], ["category", "VARCHAR"], ["path", "VARCHAR"], ["bytes", "BIGINT"],
  ["duration", "DOUBLE"], ["result", "VARCHAR"], ["failed", "BOOLEAN"], ["event_name", "VARCHAR"], ["fields", "VARCHAR"],
] as const;
const Q = "\x02";
const NEEDS_QUOTES = /[\t\n\r\x02]/;
const QUOTE_ALL = /\x02/g;
/** Bytes gathered before they are written to the batch file. */
const WRITE_BYTES = 1 << 20;
/** Microseconds beyond which r / 1e6 is no longer exact. */
const MAX_MICROS = 2 ** 53;
/** DuckDB's rows per row group. */
const ROW_GROUP_ROWS = 122_880;
/** read_csv's default longest line; longer ones raise it for their batch. */
const DEFAULT_MAX_LINE = 2_097_152;

export class EventBatchLoader {
  private readonly dir: string;
  private readonly batchRows: number;
  private fd = -1;
  private file = "";
  private files = 0;
  private buf = new Uint8Array(WRITE_BYTES + 1024);
  private pos = 0;
  private rows = 0;
  /** The longest line in the current batch, in bytes. */
  private longest = 0;
  private inFlight: Promise<void> | null = null;
  private inFlightFile = "";

  private readonly roomy: (<T>(run: () => Promise<T>) => Promise<T>) | undefined;

  constructor(private readonly conn: DuckDBConnection, private readonly traceId: string, options: EventBatchOptions = {}) {
    this.roomy = options.roomy;
    this.batchRows = Math.max(1, options.batchRows ?? ROW_GROUP_ROWS);
    this.dir = mkdtempSync(join(options.tempDir ?? tmpdir(), "blit-trace-"));
  }

  /** Adds one event. True when the batch is full: the caller then awaits rotate(). */
  add(seq: number, e: TraceEvent): boolean {
    if (this.pos >= WRITE_BYTES) this.write();
    const start = this.pos;
    this.uint(seq);
    this.tab();
    this.uint(e.line);
    this.tab();
    this.double(e.ts);
    this.tab();
    this.text(e.process);
    this.tab();
    if (e.pid !== null) this.int(e.pid);
    this.tab();
    if (e.tid !== null) this.int(e.tid);
    this.tab();
    this.text(e.kind);
    this.tab();
    this.text(e.category);
    this.tab();
    if (e.path !== null) this.text(e.path);
    this.tab();
    if (e.bytes !== null) this.ascii(int64(e.bytes));
    this.tab();
    if (e.duration !== null) this.double(e.duration);
    this.tab();
    if (e.result !== null) this.text(e.result);
    this.tab();
    if (e.failed !== null) this.buf[this.pos++] = e.failed ? 116 /* t */ : 102 /* f */;
    this.tab();
    this.text(e.name);
    this.tab();
    this.json(e.fields);
    this.buf[this.pos++] = 10;
    const length = this.pos - start;
    if (length > this.longest) this.longest = length;
    return ++this.rows >= this.batchRows;
  }

  /** Starts loading the current batch, after the previous load is done. */
  async rotate(): Promise<void> {
    this.write();
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    const file = this.file;
    const longest = this.longest;
    this.rows = 0;
    this.longest = 0;
    await this.settle();
    this.inFlightFile = file;
    this.inFlight = this.load(file, longest);
  }

  /** Loads what is left and waits for every load. */
  async finish(): Promise<void> {
    await this.rotate();
    await this.settle();
  }

  /** Removes the batch files, whether the loads succeeded or not. Waits for a load in flight. */
  async close(): Promise<void> {
    try {
      if (this.fd >= 0) closeSync(this.fd);
      this.fd = -1;
      await this.inFlight?.catch(() => {});
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private async settle(): Promise<void> {
    const p = this.inFlight;
    if (!p) return;
    this.inFlight = null;
    try {
      await p;
    } finally {
      rmSync(this.inFlightFile, { force: true });
    }
  }

  private write(): void {
    if (this.pos === 0) return;
    if (this.fd < 0) {
      this.file = join(this.dir, `batch-${this.files++}.tsv`);
      this.fd = openSync(this.file, "w");
    }
    let done = 0;
    while (done < this.pos) done += writeSync(this.fd, this.buf, done, this.pos - done);
    this.pos = 0;
  }

  private async load(file: string, longest: number): Promise<void> {
    // small read buffers keep the load's memory down; a line longer than read_csv's default
    // needs a larger limit and buffer
    const maxLine = Math.max(DEFAULT_MAX_LINE, longest + 2);
    const sizes = `max_line_size=${maxLine}, buffer_size=${2 * maxLine}`;
    const columns = CSV_COLUMNS.map(([name, type]) => `'${name}': '${type}'`).join(", ");
    // one native call, no bound values: the whole statement runs on DuckDB's side while this thread
    // goes on parsing (with values, preparing and executing are two calls, and the second would
    // only start when this thread next awaits)
    const run = () => this.conn.run(
      `INSERT INTO trace_events SELECT ${sqlString(this.traceId)}, ${CSV_COLUMNS.map(([name]) => name).join(", ")}
       FROM read_csv(${sqlString(file)}, columns={${columns}}, header=false, delim='\t', new_line='\\n', quote='${Q}', escape='${Q}',
                     auto_detect=false, allow_quoted_nulls=false, nullstr='', strict_mode=true, ${sizes})`,
    );
    if (!this.roomy) return void (await run());
    if (maxLine > DEFAULT_MAX_LINE) return void (await this.roomy(run));
    try {
      await run();
    } catch (err) {
      if (!String(err).includes("Out of Memory Error")) throw err;
      await this.roomy(run);
    }
  }

  /** Room for `n` more bytes: written out first when the buffer is short, grown for a huge value. */
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (n > WRITE_BYTES) {
      const bigger = new Uint8Array(this.pos + n + 1024);
      bigger.set(this.buf.subarray(0, this.pos));
      this.buf = bigger;
      return;
    }
    // keep the line being built whole in the buffer: only whole lines before it are written
    const grown = new Uint8Array(this.buf.length * 2);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }

  private tab(): void {
    this.room(1);
    this.buf[this.pos++] = 9;
  }

  private uint(v: number): void {
    if (!(v >= 0 && v <= 0x7fffffff && v === (v | 0))) return this.ascii(int64(v));
    this.room(10);
    const b = this.buf;
    if (v < 10) {
      b[this.pos++] = 48 + v;
      return;
    }
    let digits = 1;
    for (let t = v; t >= 10; t = (t / 10) | 0) digits++;
    let at = this.pos + digits;
    this.pos = at;
    for (let t = v; at > this.pos - digits; t = (t / 10) | 0) b[--at] = 48 + (t % 10);
  }

  private int(v: number): void {
    if (v >= 0) return this.uint(v);
    this.ascii(String(v));
  }

  /**
   * A double as text that reads back as the same double. Most trace times are a whole number of
   * microseconds: when v is the double nearest to such a decimal (r / 1e6 is, division being
   * correctly rounded, and so is DuckDB's reading of the decimal), the decimal is written from
   * integers; anything else goes through String(), which is exact but slow.
   */
  private double(v: number): void {
    const r = Math.round(v * 1e6);
    if (r / 1e6 !== v || r > MAX_MICROS || r < -MAX_MICROS || Object.is(v, -0)) {
      this.ascii(Object.is(v, -0) ? "-0" : String(v));
      return;
    }
    let u = r;
    if (u < 0) {
      this.room(1);
      this.buf[this.pos++] = 45; // -
      u = -u;
    }
    const whole = Math.floor(u / 1e6);
    this.uint(whole);
    let frac = u - whole * 1e6;
    this.room(7);
    const b = this.buf;
    b[this.pos] = 46; // .
    for (let k = 6; k >= 1; k--) {
      b[this.pos + k] = 48 + (frac % 10);
      frac = Math.floor(frac / 10);
    }
    this.pos += 7;
  }

  /** ASCII-only text known to need no quotes (numbers). */
  private ascii(s: string): void {
    this.room(s.length);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** A text cell: as it is when plain ASCII, else UTF-8, quoted when it holds a tab, line end or \x02. */
  private text(s: string): void {
    const n = s.length;
    this.room(n * 3 + 2);
    const b = this.buf;
    if (n === 0) {
      b[this.pos++] = 2;
      b[this.pos++] = 2;
      return;
    }
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 32 || c > 126) return this.textSlow(s);
      b[p++] = c;
    }
    this.pos = p;
  }

  private textSlow(s: string): void {
    const cell = NEEDS_QUOTES.test(s) ? Q + s.replace(QUOTE_ALL, Q + Q) + Q : s;
    this.room(cell.length * 3);
    this.pos += encoder.encodeInto(cell, this.buf.subarray(this.pos)).written;
  }

  /** The fields as JSON.stringify writes them (never a raw control character, so never quoted). */
  private json(fields: Record<string, string>): void {
    const start = this.pos;
    this.room(1);
    this.buf[this.pos++] = 123; // {
    let first = true;
    for (const key in fields) {
      const value = fields[key];
      if (typeof value !== "string") {
        this.pos = start;
        return this.jsonSlow(JSON.stringify(fields));
      }
      if (!first) {
        this.room(1);
        this.buf[this.pos++] = 44; // ,
      }
      first = false;
      this.jsonString(key);
      this.room(1);
      this.buf[this.pos++] = 58; // :
      this.jsonString(value);
    }
    this.room(1);
    this.buf[this.pos++] = 125; // }
  }

  private jsonString(s: string): void {
    const n = s.length;
    this.room(n * 2 + 2);
    const b = this.buf;
    let p = this.pos;
    b[p++] = 34;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 32 || c > 126) return this.jsonSlow(JSON.stringify(s));
      if (c === 34 || c === 92) b[p++] = 92; // \" and \\
      b[p++] = c;
    }
    b[p++] = 34;
    this.pos = p;
  }

  private jsonSlow(json: string): void {
    this.room(json.length * 3);
    this.pos += encoder.encodeInto(json, this.buf.subarray(this.pos)).written;
  }
}

const encoder = new TextEncoder();

/** As the appender stored a BIGINT: truncated, and refused when it does not fit. */
function int64(v: number): string {
  const t = Math.trunc(v);
  if (Number.isSafeInteger(t)) return String(t);
  const big = BigInt(t); // refuses NaN and infinities
  if (BigInt.asIntN(64, big) !== big) throw new RangeError(`${v} does not fit a BIGINT column`);
  return String(big);
}

