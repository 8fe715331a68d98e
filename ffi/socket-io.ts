// Direct socket I/O for the data plane on Linux: the data connection is a Bun socket, and once it
// carries bulk data its fd is read with large read(2) calls and fed from files with sendfile(2),
// through the thread's libc binding. This is what a C tool does: the bytes of a large file cross
// user space once on the receiver (socket -> buffer -> page cache) and not at all on the sender,
// instead of through the runtime's smaller socket buffers and a copy per callback.
//
// Every call is non-blocking (Bun keeps its sockets O_NONBLOCK): EAGAIN comes back as -1 so the
// caller can return to the event loop or wait with pollWritable. Other errors are returned as
// the errno name, so the owner of the socket decides how the connection ends.
import { ptr } from "bun:ffi";
import { errno, libc } from "./libc.ts";

/** True when this platform has the direct path (Linux through bun:ffi, not the portable backend). */
export function directSocketIoAvailable(): boolean {
  return process.platform === "linux" && process.env.BLIT_BACKEND !== "portable" && process.env.BLIT_DIRECT_SOCKET !== "0";
}

/** Reads up to len bytes into buf at off: n > 0, 0 at end of stream, -1 when nothing is waiting. */
export function socketRead(fd: number, buf: Uint8Array, off: number, len: number): number | string {
  const l = libc();
  for (;;) {
    const n = Number(l.read(fd, ptr(buf, off), len));
    if (n >= 0) return n;
    const e = errno();
    if (e === "EINTR") continue;
    if (e === "EAGAIN" || e === "EWOULDBLOCK") return -1;
    return e;
  }
}

/**
 * Sends up to len bytes of fileFd, from its current offset, to the socket: n > 0 sent, 0 when the
 * file ended early, -1 when the socket buffer is full; an errno name on failure.
 */
export function socketSendFile(sock: number, fileFd: number, len: number): number | string {
  const l = libc();
  for (;;) {
    const n = Number(l.sendfile(sock, fileFd, null, len));
    if (n >= 0) return n;
    const e = errno();
    if (e === "EINTR") continue;
    if (e === "EAGAIN" || e === "EWOULDBLOCK") return -1;
    return e;
  }
}

// struct pollfd { int fd; short events; short revents; }
const pollBuf = new ArrayBuffer(8);
const pollView = new DataView(pollBuf);
const POLLOUT = 0x004;
const POLLERR = 0x008;
const POLLHUP = 0x010;

/** Waits up to timeoutMs for the socket to take more bytes; true when it will (or has failed, so a send reports why). */
export function pollWritable(fd: number, timeoutMs: number): boolean {
  pollView.setInt32(0, fd, true);
  pollView.setInt16(4, POLLOUT, true);
  pollView.setInt16(6, 0, true);
  const n = libc().poll(ptr(new Uint8Array(pollBuf)), 1, timeoutMs);
  if (n <= 0) return false;
  return (pollView.getInt16(6, true) & (POLLOUT | POLLERR | POLLHUP)) !== 0;
}
