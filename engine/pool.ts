// A bounded pool of worker threads. Each worker runs one request at a time; requests queue.
import type { WorkerReply, WorkerRequest } from "./worker-protocol.ts";

type Pending = { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };
type Req = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export class WorkerPool {
  private workers: Worker[] = [];
  private idle: Worker[] = [];
  private queue: { req: Req; pending: Pending }[] = [];
  private inflight = new Map<number, Pending & { worker: Worker }>();
  private nextId = 1;
  /** Set to 1 to ask every worker to stop after its current file (Ctrl-C, fatal error). */
  readonly cancel = new Int32Array(new SharedArrayBuffer(4));
  private readonly rate = new BigInt64Array(new SharedArrayBuffer(8));

  /** Workers start on demand, up to `size`: a run that only walks two trees starts two. */
  constructor(
    readonly size: number, private bwlimit: number, private onProgress: (files: number, bytes: number, path?: string) => void,
    /** The workers do not keep the process alive (a daemon's pool, which lives as long as it). */
    private unref = false,
  ) {}

  private spawn(): void {
    const w = new Worker(new URL("./worker.ts", import.meta.url));
    w.onmessage = (ev: MessageEvent<WorkerReply>) => this.reply(w, ev.data);
    w.onerror = (ev) => this.crash(w, new Error(`engine worker crashed: ${ev.message}`));
    if (this.unref) w.unref();
    w.postMessage({ type: "init", id: 0, cancel: this.cancel.buffer, rate: this.rate.buffer, bwlimit: this.bwlimit });
    this.workers.push(w);
    this.idle.push(w);
  }

  /** Workers started so far. */
  get started(): number {
    return this.workers.length;
  }

  /** Runs one request on the next free worker. */
  run(req: Req): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      this.queue.push({ req, pending: { resolve, reject } });
      this.pump();
    });
  }

  requestCancel(): void {
    Atomics.store(this.cancel, 0, 1);
  }

  get cancelled(): boolean {
    return Atomics.load(this.cancel, 0) !== 0;
  }

  async close(): Promise<void> {
    for (const w of this.workers) w.terminate();
    this.workers = [];
    this.idle = [];
  }

  private pump() {
    while (this.idle.length < this.queue.length && this.workers.length < this.size) this.spawn();
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const { req, pending } = this.queue.shift()!;
      const id = this.nextId++;
      this.inflight.set(id, { ...pending, worker: w });
      w.postMessage({ ...req, id });
    }
  }

  private reply(w: Worker, msg: WorkerReply) {
    if (msg.type === "ready") return;
    if (msg.type === "progress") {
      this.onProgress(msg.files, msg.bytes, msg.path);
      return;
    }
    const p = this.inflight.get(msg.id);
    if (!p) return;
    this.inflight.delete(msg.id);
    this.idle.push(w);
    if (msg.type === "failed") p.reject(Object.assign(new Error(msg.message), { detail: msg.error }));
    else p.resolve(msg);
    this.pump();
  }

  private crash(w: Worker, err: Error) {
    for (const [id, p] of this.inflight) {
      if (p.worker === w) {
        this.inflight.delete(id);
        p.reject(err);
      }
    }
    // A crashed worker is replaced: queued requests must not wait for it forever (a daemon's
    // pool lives as long as the daemon).
    this.workers = this.workers.filter((x) => x !== w);
    this.idle = this.idle.filter((x) => x !== w);
    w.terminate();
    this.pump();
  }
}
