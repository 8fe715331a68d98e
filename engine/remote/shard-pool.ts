// The threads that write received shards (engine/remote/shard-writer.ts): one pool per process, shared
// by every transfer (blitd runs many), started on first use and never keeping the process alive.
import { availableParallelism } from "node:os";
import type { EntryMeta } from "./metadata.ts";

export interface ShardJob {
  id: number;
  /** The receiver's root (RootedDir.handoff(): an fd it keeps open until its jobs are settled). */
  root: number | string;
  /** Int32 flag: non-zero stops the job before its next file. */
  cancel: SharedArrayBuffer;
  payload: ArrayBuffer;
  rels: string[];
  offsets: number[];
  lengths: number[];
  modes: number[];
  mtimeSec: number[];
  mtimeNsec: number[];
  /** Per file, the owner, group and attributes it gets (absent: none asked for). */
  metas?: (EntryMeta | undefined)[];
}

export interface ShardReply {
  id: number;
  written: number;
  bytes: number;
  /** Files not written: their position in the job and the errno name. */
  errors: { k: number; code: string }[];
  /** Files left out because the job was cancelled. */
  stopped: number;
  /** The thread failed as a whole (none of the job's files is known to be written). */
  failed?: string;
}

type Pending = { resolve: (r: ShardReply) => void; files: number };

export class ShardWriterPool {
  private workers: { w: Worker; jobs: Set<number> }[] = [];
  private pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(readonly size: number) {}

  /** Writes a shard on the least busy thread; never rejects (a crashed thread fails its jobs). */
  run(job: Omit<ShardJob, "id">): Promise<ShardReply> {
    const id = this.nextId++;
    let slot = this.workers.reduce<(typeof this.workers)[number] | undefined>((best, s) => (!best || s.jobs.size < best.jobs.size ? s : best), undefined);
    if (!slot || (slot.jobs.size > 0 && this.workers.length < this.size)) slot = this.spawn();
    slot.jobs.add(id);
    return new Promise<ShardReply>((resolve) => {
      this.pending.set(id, { resolve, files: job.rels.length });
      slot!.w.postMessage({ ...job, id } satisfies ShardJob, [job.payload]);
    });
  }

  private spawn() {
    const w = new Worker(new URL("./shard-writer.ts", import.meta.url));
    const slot = { w, jobs: new Set<number>() };
    w.unref();
    w.onmessage = (ev: MessageEvent<ShardReply>) => {
      slot.jobs.delete(ev.data.id);
      const p = this.pending.get(ev.data.id);
      this.pending.delete(ev.data.id);
      p?.resolve(ev.data);
    };
    w.onerror = (ev) => {
      // the thread is gone: its jobs fail (their files count as not written), the next job starts a new one
      this.workers = this.workers.filter((s) => s !== slot);
      for (const id of slot.jobs) {
        const p = this.pending.get(id);
        this.pending.delete(id);
        p?.resolve({ id, written: 0, bytes: 0, errors: [], stopped: 0, failed: `shard writer thread crashed: ${ev.message}` });
      }
      slot.jobs.clear();
      w.terminate();
    };
    this.workers.push(slot);
    return slot;
  }
}

let shared: ShardWriterPool | null | undefined;

/**
 * The process's shard writers, or null where received shards are written on the receiving
 * thread (not Linux, the portable backend, or BLIT_SHARD_WRITERS=0). BLIT_SHARD_WRITERS=N sets
 * the thread count (default 2, at most the CPU count).
 */
export function shardWriters(): ShardWriterPool | null {
  if (shared !== undefined) return shared;
  const env = process.env.BLIT_SHARD_WRITERS;
  const n = env !== undefined && /^\d+$/.test(env) ? Number(env) : Math.min(2, availableParallelism());
  shared = n > 0 && process.platform === "linux" && process.env.BLIT_BACKEND !== "portable" ? new ShardWriterPool(Math.min(n, 16)) : null;
  return shared;
}
