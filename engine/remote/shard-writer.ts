// A shard-writer thread: writes the small files of one data-plane shard beneath a root directory
// fd, each under a temporary name, then renamed into place with its mode and mtime, exactly as
// TreeReceiver does on its own thread. The receiver hands shards here so that file creation (most
// of a small-file transfer's cost is system calls) runs beside the thread that reads the socket.
import { closeFd, openBeneath, O_DIRECTORY, O_RDONLY } from "../../ffi/index.ts";
import { writeFileAt } from "./receive-file.ts";
import type { ShardJob, ShardReply } from "./shard-pool.ts";

declare const self: Worker;

function writeShard(job: ShardJob): ShardReply {
  const cancel = new Int32Array(job.cancel);
  const payload = new Uint8Array(job.payload);
  const dirs = new Map<string, number>();
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
        let dfd = dir === "" ? job.rootFd : dirs.get(dir);
        if (dfd === undefined) {
          dfd = openBeneath(job.rootFd, dir, O_RDONLY | O_DIRECTORY);
          dirs.set(dir, dfd);
        }
        writeFileAt(dfd, rel.slice(slash + 1), payload, job.offsets[k]!, len, job.modes[k]!, job.mtimeSec[k]!, job.mtimeNsec[k]!, rel, job.metas?.[k]);
        reply.written++;
        reply.bytes += len;
      } catch (err) {
        reply.errors.push({ k, code: (err as { code?: string }).code ?? "EIO" });
      }
    }
  } finally {
    // closed after every shard: the root fd of the next one may be another transfer's
    for (const fd of dirs.values()) closeFd(fd);
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
