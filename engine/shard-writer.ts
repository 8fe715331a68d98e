// A shard-writer thread: writes the small files of one data-plane shard beneath a root directory
// fd, each under a temporary name, then renamed into place with its mode and mtime, exactly as
// TreeReceiver does on its own thread. The receiver hands shards here so that file creation (most
// of a small-file transfer's cost is system calls) runs beside the thread that reads the socket.
import {
  closeFd, createExclusive, fchmodIfNeeded, futimes, openBeneath, renameAt, unlinkQuiet, writeAll, O_DIRECTORY, O_RDONLY,
} from "../ffi/index.ts";
import type { ShardJob, ShardReply } from "./shard-pool.ts";
import { tempName } from "./temp-name.ts";

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
      const name = rel.slice(slash + 1);
      const tmp = tempName(name);
      const off = job.offsets[k]!;
      const len = job.lengths[k]!;
      const mode = job.modes[k]! & 0o7777;
      let dfd = -1;
      let fd = -1;
      try {
        if (dir === "") dfd = job.rootFd;
        else {
          dfd = dirs.get(dir) ?? -1;
          if (dfd < 0) {
            dfd = openBeneath(job.rootFd, dir, O_RDONLY | O_DIRECTORY);
            dirs.set(dir, dfd);
          }
        }
        fd = createExclusive(dfd, tmp, mode);
        if (len > 0) writeAll(fd, payload, off, len, rel);
        fchmodIfNeeded(fd, mode, rel);
        futimes(fd, job.mtimeSec[k]!, job.mtimeNsec[k]!, rel);
        closeFd(fd);
        fd = -1;
        renameAt(dfd, tmp, name);
        reply.written++;
        reply.bytes += len;
      } catch (err) {
        if (fd >= 0) closeFd(fd);
        if (dfd >= 0) unlinkQuiet(dfd, tmp);
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
