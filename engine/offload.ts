// The long synchronous steps of a daemon's Negotiate, run on worker threads so that its event
// loop keeps answering other clients: decoding and checking a peer's manifest, walking a push's
// target and planning against it (with --checksum, hashing what the plan compares), walking a
// pull's source and encoding its manifest. Errors come back as they were thrown in the worker
// (a PathError stays a PathError, an FsError keeps its code), without the worker's stack.
import { FsError, type RootHandoff, type XattrSelection } from "../ffi/index.ts";
import { ManifestLimitError, PathError, type ManifestExtras, type ManifestMsg } from "../proto/index.ts";
import { compactManifest, fromWire, toWire, type DecodeOptions, type Listed, type PlanWork } from "./offload-work.ts";
import type { Plan, PlanOptions } from "./plan.ts";
import { WorkerPool } from "./pool.ts";
import type { WorkerReply } from "./worker-protocol.ts";
import type { Tree } from "./walk.ts";

export type { DecodeOptions } from "./offload-work.ts";

export class FsWorkers {
  private pool: WorkerPool;
  /** Listings get a thread of their own: a `blit ls` never waits behind a big Negotiate. */
  private quick: WorkerPool;

  /** Up to `size` worker threads (and one for listings), started on first use; they do not keep the process alive. */
  constructor(size = 2) {
    this.pool = new WorkerPool(size, 0, () => {}, true);
    this.quick = new WorkerPool(1, 0, () => {}, true);
  }

  /** decodeManifest (and mapOwners, setuid/setgid clearing) of a peer's manifest. */
  async decodeManifest(msg: ManifestMsg | null | undefined, opts: DecodeOptions = {}): Promise<{ tree: Tree; singleFile: boolean; setIdsCleared: number }> {
    if (!msg) throw new PathError("manifest missing");
    const r = await this.run({ type: "decodeManifest", manifest: compactManifest(msg), opts }, "decoded");
    return { ...r.result, tree: fromWire(r.result.tree) };
  }

  /**
   * planTrees(src, dst) where dst is the directory open as `dst.fd` (walked there) or a given
   * tree; with `hashFd`, the files the plan compares by content are hashed beneath it.
   */
  async plan(src: Tree, dst: { fd: RootHandoff; rules: string[] } | { tree: Tree }, opts: PlanOptions, hashFd?: RootHandoff): Promise<{ dst: Tree; plan: Plan; hashes: (Uint8Array | null)[] }> {
    const work: PlanWork = { src: toWire(src), dst: "fd" in dst ? dst : { tree: toWire(dst.tree) }, opts, hashFd };
    const r = await this.run({ type: "plan", work }, "planned");
    return { ...r.result, dst: fromWire(r.result.dst) };
  }

  /** A pull's source: the directory open as `fd` walked, its attributes read (xattrSel), its manifest. */
  async source(
    fd: RootHandoff, rules: string[], o: { inodes: boolean; xattrSel?: XattrSelection; extras: Omit<ManifestExtras, "xattrs" | "rootXattrs"> },
  ): Promise<{ tree: Tree; manifest: ManifestMsg }> {
    const r = await this.run({ type: "source", work: { fd, rules, ...o } }, "sourced");
    return { tree: fromWire(r.result.tree), manifest: r.result.manifest };
  }

  /** The directory open as `fd`: sorted names (temporaries left out), the first `max` with their lstat. */
  async list(fd: RootHandoff, max: number): Promise<Listed> {
    return (await this.run({ type: "list", fd, max }, "listed", this.quick)).result;
  }

  /** BLAKE2b-256 of regular files beneath the directory open as `fd` (null: unreadable or not a regular file). */
  async hash(fd: RootHandoff, paths: string[]): Promise<(Uint8Array | null)[]> {
    return (await this.run({ type: "hashAt", fd, paths }, "hashedAt")).hashes;
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.quick.close();
  }

  private async run<T extends WorkerReply["type"]>(req: Parameters<WorkerPool["run"]>[0], want: T, pool = this.pool): Promise<Extract<WorkerReply, { type: T }>> {
    let reply: WorkerReply;
    try {
      reply = await pool.run(req);
    } catch (err) {
      throw rebuild(err);
    }
    if (reply.type !== want) throw new Error(`engine worker answered ${reply.type} to ${req.type}`);
    return reply as Extract<WorkerReply, { type: T }>;
  }
}

/** The error the worker threw, as the caller would have seen it on its own thread. */
function rebuild(err: unknown): unknown {
  const d = (err as { detail?: { name: string; code?: string; message: string } }).detail;
  if (!d) return err;
  if (d.name === "PathError") return new PathError(d.message);
  if (d.name === "ManifestLimitError") return new ManifestLimitError(d.message);
  if (d.name === "FsError" && d.code) return Object.assign(new FsError(d.code, "", ""), { message: d.message });
  return Object.assign(new Error(d.message), { code: d.code, workerStack: (err as Error).message });
}

