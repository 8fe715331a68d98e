// A worker thread of the engine's pool: walks trees, copies batches of files through the
// platform backend, hashes files for --checksum. Synchronous system calls run here so that the
// main thread stays free for progress and signals.
import { openSync, readSync, closeSync } from "node:fs";
import { backend, FsError, describeCode, fsPath, type FastPath, type FileMeta, type Keep } from "../ffi/index.ts";
import { packTree, walkTree } from "./walk.ts";
import type { RunError } from "./report.ts";
import { DESTINATION_CODES, destinationRemedy, FATAL_CODES } from "./errors.ts";
import type { CopyItem, CopyResult, WorkerRequest, WorkerReply } from "./worker-protocol.ts";

declare const self: Worker;

let cancelFlag: Int32Array | undefined;
let rateSlot: BigInt64Array | undefined;
let bwlimit = 0;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Fast paths this worker learned the filesystem refuses, per destination root. */
const denied = new Map<string, Set<FastPath>>();
const ALL_PATHS: FastPath[] = ["reflink", "copy_file_range", "sendfile", "stream"];

const cancelled = () => cancelFlag !== undefined && Atomics.load(cancelFlag, 0) !== 0;
const nowUs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));

/** Shared token bucket: each chunk reserves its slot on one clock all workers share. */
function throttle(bytes: number): void {
  if (bwlimit <= 0 || !rateSlot || bytes <= 0) return;
  const cost = BigInt(Math.round((bytes / bwlimit) * 1e6));
  let next: bigint;
  let now: bigint;
  for (;;) {
    const cur = Atomics.load(rateSlot, 0);
    now = nowUs();
    const start = cur > now ? cur : now;
    next = start + cost;
    if (Atomics.compareExchange(rateSlot, 0, cur, next) === cur) break;
  }
  let waitMs = Number(next - now) / 1000;
  while (waitMs > 1 && !cancelled()) {
    Atomics.wait(sleeper, 0, 0, Math.min(waitMs, 200));
    waitMs = Number(next - nowUs()) / 1000;
  }
}

function post(msg: WorkerReply, transfer?: ArrayBuffer[]) {
  postMessage(msg, transfer ?? []);
}

function copyBatch(id: number, srcRoot: string, dstRoot: string, items: CopyItem[], keep?: Keep): CopyResult {
  const fs = backend();
  fs.confine(srcRoot);
  fs.confine(dstRoot);
  let deny = denied.get(dstRoot);
  if (!deny) denied.set(dstRoot, (deny = new Set()));
  const result: CopyResult = {
    copied: 0, copiedBytes: 0, holeBytes: 0, filesByPath: {}, bytesByPath: {}, refused: {}, errors: [], done: 0,
  };
  let lastPost = performance.now();
  let pendingFiles = 0;
  let pendingBytes = 0;
  let current: string | undefined;
  const flush = (force: boolean) => {
    const t = performance.now();
    if (!force && t - lastPost < 100) return;
    lastPost = t;
    if (pendingFiles || pendingBytes) post({ type: "progress", id, files: pendingFiles, bytes: pendingBytes, path: current });
    pendingFiles = 0;
    pendingBytes = 0;
  };
  const chunkBytes = bwlimit > 0 ? Math.max(64 << 10, Math.min(8 << 20, Math.floor(bwlimit / 8))) : 8 << 20;
  const onChunk = (n: number) => {
    pendingBytes += n;
    throttle(n);
    flush(false);
  };
  let allow = new Set(ALL_PATHS.filter((p) => !deny!.has(p)));
  for (const [src, dst, size, mode, sec, nsec, uid, gid, blocks] of items) {
    if (cancelled()) {
      result.cancelled = true;
      break;
    }
    current = src;
    try {
      // What the walk saw saves the backend a stat of the source.
      const meta: FileMeta = { size, mode, mtimeSec: sec, mtimeNsec: nsec };
      if (keep?.owner && uid >= 0) meta.uid = uid;
      if (keep?.group && gid >= 0) meta.gid = gid;
      if (blocks >= 0) meta.blocks = blocks;
      const out = fs.copyFile(src, dst, meta, { allow, onChunk, cancelled, chunkBytes, keep });
      result.copied++;
      result.copiedBytes += out.bytes;
      result.holeBytes += out.holeBytes ?? 0;
      pendingBytes += out.holeBytes ?? 0; // progress counts holes as done (onChunk saw only data)
      result.filesByPath[out.path] = (result.filesByPath[out.path] ?? 0) + 1;
      result.bytesByPath[out.path] = (result.bytesByPath[out.path] ?? 0) + out.bytes;
      if (out.refused) {
        for (const [p, code] of Object.entries(out.refused) as [FastPath, string][]) {
          deny.add(p);
          result.refused[p] ??= code;
        }
        allow = new Set(ALL_PATHS.filter((p) => !deny!.has(p)));
      }
      pendingFiles++;
    } catch (err) {
      const e = err as FsError;
      const code = e.code ?? "EIO";
      if (code === "ECANCELED") {
        result.cancelled = true;
        break;
      }
      if (DESTINATION_CODES.has(code)) {
        result.errors.push({ path: dst, side: "destination", code, message: `cannot write: ${describeCode(code)} (${destinationRemedy(code)})` });
      } else {
        const onSource = e.path !== undefined && (e.path === src || src.startsWith(e.path + "/"));
        const side: RunError["side"] = onSource ? "source" : "destination";
        result.errors.push({ path: side === "source" ? src : dst, side, code, message: e.message ?? describeCode(code) });
      }
      if (FATAL_CODES.has(code)) {
        result.fatal = code;
        break;
      }
    }
    result.done++;
    flush(false);
  }
  flush(true);
  return result;
}

function hashFiles(paths: string[]): (string | null)[] {
  const buf = Buffer.allocUnsafe(1 << 20);
  return paths.map((p) => {
    let fd = -1;
    try {
      fd = openSync(fsPath(p), "r");
      const h = new Bun.CryptoHasher("blake2b256");
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
      }
      return h.digest("hex");
    } catch {
      return null;
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  });
}

type OffloadWork = typeof import("./offload-work.ts");
let offloadModule: Promise<OffloadWork> | undefined;
/**
 * The daemon's offloaded work (manifests, plans, listings) needs proto/ and the remote receiver,
 * which take ~20 ms to load: only a worker that is handed such a request loads them, so a local
 * copy's workers start as fast as before.
 */
const offloadWork = () => (offloadModule ??= import("./offload-work.ts"));

function failed(msg: WorkerRequest, err: unknown): void {
  const e = err as { name?: string; code?: unknown; message?: string };
  post({
    type: "failed", id: msg.id, message: err instanceof Error ? err.stack ?? err.message : String(err),
    error: { name: String(e?.name ?? "Error"), code: typeof e?.code === "string" ? e.code : undefined, message: String(e?.message ?? err) },
  });
}

/** One offloaded request; false when `msg` is not one. */
function offloaded(msg: WorkerRequest, w: OffloadWork): boolean {
  switch (msg.type) {
    case "decodeManifest": {
      const result = w.decodeWork(msg.manifest, msg.opts);
      post({ type: "decoded", id: msg.id, result }, w.buffersOf(result.tree));
      return true;
    }
    case "plan": {
      const result = w.planWork(msg.work);
      post({ type: "planned", id: msg.id, result }, w.buffersOf(result.dst));
      return true;
    }
    case "source": {
      const result = w.sourceWork(msg.work);
      post({ type: "sourced", id: msg.id, result }, w.buffersOf(result.tree, result.manifest));
      return true;
    }
    case "list":
      post({ type: "listed", id: msg.id, result: w.listWork(msg.fd, msg.max) });
      return true;
    case "hashAt":
      post({ type: "hashedAt", id: msg.id, hashes: w.hashWork(msg.fd, msg.paths) });
      return true;
    default:
      return false;
  }
}

const OFFLOADED = new Set<WorkerRequest["type"]>(["decodeManifest", "plan", "source", "list", "hashAt"]);

self.onmessage = (ev: MessageEvent<WorkerRequest>) => {
  const msg = ev.data;
  if (OFFLOADED.has(msg.type)) {
    offloadWork().then((w) => offloaded(msg, w)).catch((err) => failed(msg, err));
    return;
  }
  try {
    switch (msg.type) {
      case "init":
        cancelFlag = new Int32Array(msg.cancel);
        rateSlot = new BigInt64Array(msg.rate);
        bwlimit = msg.bwlimit;
        post({ type: "ready", id: msg.id });
        break;
      case "walk": {
        const inodes = msg.inodes ?? true;
        const { packed, transfer } = packTree(walkTree(msg.root, msg.rules, msg.side, { inodes, only: msg.only }), inodes);
        post({ type: "walked", id: msg.id, tree: packed }, transfer);
        break;
      }
      case "copy":
        post({ type: "copied", id: msg.id, result: copyBatch(msg.id, msg.srcRoot, msg.dstRoot, msg.items, msg.keep) });
        break;
      case "hash":
        post({ type: "hashed", id: msg.id, hashes: hashFiles(msg.paths) });
        break;
      case "close":
        backend().closeCache();
        post({ type: "closed", id: msg.id });
        break;
    }
  } catch (err) {
    failed(msg, err);
  }
};
