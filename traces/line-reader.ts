// Reading a text file as lines, a chunk at a time, so memory stays bounded whatever the file's
// size. The encoding comes from the byte-order mark: UTF-16 (either order) or UTF-8 (the default).
// Records split across chunk boundaries (even inside a multi-byte character) come out whole.
import { closeSync, openSync, readSync } from "node:fs";

/**
 * Bytes read per chunk.
 * @default 64 KiB (larger chunks gave no speed and held more memory: every line is a slice of its chunk)
 */
export const DEFAULT_CHUNK_SIZE = 1 << 16;

export type TextEncoding = "utf-8" | "utf-16le" | "utf-16be";

/** The encoding a file's first bytes announce, and how many bytes the mark takes. */
export function sniffEncoding(head: Uint8Array): { encoding: TextEncoding; bomLength: number } {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return { encoding: "utf-8", bomLength: 3 };
  if (head[0] === 0xff && head[1] === 0xfe) return { encoding: "utf-16le", bomLength: 2 };
  if (head[0] === 0xfe && head[1] === 0xff) return { encoding: "utf-16be", bomLength: 2 };
  return { encoding: "utf-8", bomLength: 0 };
}

/**
 * The lines of `path`, without their line ends (\n or \r\n), and without a byte-order mark.
 * A last line without a line end is still yielded. Stop iterating early and the file is closed.
 */
export function* readLines(path: string, chunkSize: number = DEFAULT_CHUNK_SIZE): Generator<string> {
  const fd = openSync(path, "r");
  try {
    const buffer = new Uint8Array(Math.max(1, chunkSize));
    let decoder: TextDecoder | undefined;
    let first = true;
    let carry = "";
    let pendingHead: Uint8Array | undefined;
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      let bytes: Uint8Array = buffer.subarray(0, n);
      if (first) {
        // The mark may itself be split by a tiny chunk: gather 3 bytes before deciding.
        if (n > 0 && (pendingHead?.length ?? 0) + n < 3) {
          pendingHead = concat(pendingHead, bytes);
          continue;
        }
        const head = concat(pendingHead, bytes);
        pendingHead = undefined;
        const { encoding, bomLength } = sniffEncoding(head);
        decoder = new TextDecoder(encoding, { fatal: false });
        bytes = head.subarray(bomLength);
        first = false;
      }
      const text = decoder!.decode(bytes, { stream: n > 0 });
      let start = 0;
      let data = carry.length > 0 ? carry + text : text;
      for (;;) {
        const nl = data.indexOf("\n", start);
        if (nl < 0) break;
        const end = nl > start && data.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        yield data.slice(start, end);
        start = nl + 1;
      }
      carry = start < data.length ? data.slice(start) : "";
      data = "";
      if (n === 0) break;
    }
    if (carry.length > 0) yield carry.endsWith("\r") ? carry.slice(0, -1) : carry;
  } finally {
    closeSync(fd);
  }
}

function concat(a: Uint8Array | undefined, b: Uint8Array): Uint8Array {
  if (!a || a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
