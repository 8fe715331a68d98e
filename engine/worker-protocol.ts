// Messages between the engine's main thread and its worker threads.
import type { Keep, RootHandoff } from "../ffi/index.ts";
import type { FastPath, RunError } from "./report.ts";
import type { PackedTree } from "./walk.ts";
import type { ManifestMsg } from "../proto/index.ts";
import type { Decoded, DecodeOptions, Listed, Planned, PlanWork, Sourced, SourceWork } from "./offload-work.ts";

/**
 * [source path, destination path, size, mode, mtime seconds, mtime nanoseconds, and from the
 * walk (-1 when unknown): uid, gid, 512-byte blocks allocated]
 */
export type CopyItem = [string, string, number, number, number, number, number, number, number];

export interface CopyResult {
  copied: number;
  copiedBytes: number;
  /** Bytes of copiedBytes that were holes kept as holes. */
  holeBytes: number;
  filesByPath: Partial<Record<FastPath, number>>;
  bytesByPath: Partial<Record<FastPath, number>>;
  /** First refusal code per fast path, e.g. { reflink: "EOPNOTSUPP" }. */
  refused: Partial<Record<FastPath, string>>;
  errors: RunError[];
  /** Items processed (copied or failed). */
  done: number;
  cancelled?: boolean;
  /** Set when an error stops the whole run (ENOSPC, EROFS...). */
  fatal?: string;
}

export type WorkerRequest =
  | { type: "init"; id: number; cancel: SharedArrayBuffer; rate: SharedArrayBuffer; bwlimit: number }
  /** `inodes`: keep the dev, ino and nlink columns (-H). `root`: a path, or an open directory fd of this process. */
  | { type: "walk"; id: number; root: string | number; rules: string[]; only?: string[]; side: "source" | "destination"; inodes?: boolean }
  // A daemon's Negotiate steps (engine/offload.ts), run off its event loop.
  | { type: "decodeManifest"; id: number; manifest: ManifestMsg; opts: DecodeOptions }
  | { type: "plan"; id: number; work: PlanWork }
  | { type: "source"; id: number; work: SourceWork }
  | { type: "list"; id: number; fd: RootHandoff; max: number }
  | { type: "hashAt"; id: number; fd: RootHandoff; paths: string[] }
  /** `keep`: metadata every copied file takes from its source (absent: content, mode and mtime only). */
  /** Items lie at or below srcRoot and dstRoot; directories below them are opened without following symlinks. */
  | { type: "copy"; id: number; srcRoot: string; dstRoot: string; items: CopyItem[]; keep?: Keep }
  | { type: "hash"; id: number; paths: string[] }
  | { type: "close"; id: number };

export type WorkerReply =
  | { type: "ready"; id: number }
  | { type: "walked"; id: number; tree: PackedTree }
  | { type: "copied"; id: number; result: CopyResult }
  | { type: "hashed"; id: number; hashes: (string | null)[] }
  /** `path`: the source file being copied when the message was sent (the progress line shows it). */
  | { type: "progress"; id: number; files: number; bytes: number; path?: string }
  | { type: "closed"; id: number }
  | { type: "decoded"; id: number; result: Decoded }
  | { type: "planned"; id: number; result: Planned }
  | { type: "sourced"; id: number; result: Sourced }
  | { type: "listed"; id: number; result: Listed }
  | { type: "hashedAt"; id: number; hashes: (Uint8Array | null)[] }
  /** `message` carries the stack; `error` the thrown error's class name, code and plain message. */
  | { type: "failed"; id: number; message: string; error?: { name: string; code?: string; message: string } };
