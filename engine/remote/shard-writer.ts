// A shard-writer thread: writes the small files of one data-plane shard beneath a root (a
// RootedDir adopted from the receiver's handoff), each under a temporary name, then renamed into place with its mode and mtime, exactly as
// TreeReceiver does on its own thread. The receiver hands shards here so that file creation (most
// of a small-file transfer's cost is system calls) runs beside the thread that reads the socket.
import { adoptRooted, type RootedDir } from "../../ffi/index.ts";
import { writeFileAt } from "./receive-file.ts";
import type { ShardJob, ShardReply } from "./shard-pool.ts";

declare const self: Worker;

function writeShard(job: ShardJob): ShardReply {
  const cancel = new Int32Array(job.cancel);
  const payload = new Uint8Array(job.payload);
  const root = adoptRooted(job.root);
  const dirs = new Map<string, RootedDir>();
  const reply: ShardReply = { id: job.id, written: 0, bytes: 0, errors: [], stopped: 0 };
  try {
    for (let k = 0; k < job.rels.length; k++) {
      if (Atomics.load(cancel, 0) !== 0) {
        reply.stopped = job.rels.length - k;
        break;
      }
      const rel = job.rels[k]!;
      const slash = rel.lastIndexOf("/");
      const dir = slash < 0 ? "" : rel.slice(0, slash);
      const len = job.lengths[k]!;
      try {
        let d = dir === "" ? root : dirs.get(dir);
        if (d === undefined) {
          d = root.openDir(dir);
          dirs.set(dir, d);
        }
        writeFileAt(d, rel.slice(slash + 1), payload, job.offsets[k]!, len, job.modes[k]!, job.mtimeSec[k]!, job.mtimeNsec[k]!, rel, job.metas?.[k]);
        reply.written++;
        reply.bytes += len;
      } catch (err) {
        reply.errors.push({ k, code: (err as { code?: string }).code ?? "EIO" });
      }
    }
  } finally {
    // closed after every shard: the root of the next one may be another transfer's
    for (const d of dirs.values()) d.close();
    root.close(); // adopted, not owned: the receiver's fd stays open
  }
  return reply;
}

self.onmessage = (ev: MessageEvent<ShardJob>) => {
  const job = ev.data;
  let reply: ShardReply;
  try {
    reply = writeShard(job);
  } catch (err) {
    reply = { id: job.id, written: 0, bytes: 0, errors: [], stopped: 0, failed: err instanceof Error ? err.message : String(err) };
  }
  self.postMessage(reply);
};
