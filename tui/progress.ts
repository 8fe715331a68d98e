// Progress on stderr while a run works: files, bytes, rate and ETA. On a TTY one line redrawn
// in place; elsewhere (when forced with --progress) a line every few seconds.
import type { Progress } from "../engine/index.ts";
import { bytes, clock, count } from "./format.ts";

export class ProgressView {
  private last?: Progress;
  private timer?: ReturnType<typeof setInterval>;
  private started = performance.now();
  private transferStart = 0;
  private width = 0;

  constructor(private out: NodeJS.WriteStream, private tty: boolean) {
    this.timer = setInterval(() => this.draw(), tty ? 200 : 5000);
  }

  update(p: Progress): void {
    if (p.phase === "transfer" && this.last?.phase !== "transfer") this.transferStart = performance.now();
    this.last = p;
  }

  private line(): string {
    const p = this.last;
    if (!p) return "enumerate …";
    if (p.phase === "enumerate" || p.phase === "plan") return `${p.phase} … ${clock(performance.now() - this.started)}`;
    const ms = performance.now() - (this.transferStart || this.started);
    const bps = ms > 0 ? (p.bytesDone / ms) * 1000 : 0;
    const fps = ms > 0 ? (p.filesDone / ms) * 1000 : 0;
    const left = Math.max(p.bytesTotal - p.bytesDone, 0);
    const filesLeft = Math.max(p.filesTotal - p.filesDone, 0);
    const etaMs = bps > 0 && left > 0 ? (left / bps) * 1000 : fps > 0 ? (filesLeft / fps) * 1000 : 0;
    const pct = p.bytesTotal > 0 ? Math.floor((p.bytesDone / p.bytesTotal) * 100) : p.filesTotal > 0 ? Math.floor((p.filesDone / p.filesTotal) * 100) : 100;
    return `${p.phase} ${pct}%  ${count(p.filesDone)}/${count(p.filesTotal)} files  ${bytes(p.bytesDone)}/${bytes(p.bytesTotal)}  ${bytes(bps)}/s  ETA ${clock(etaMs)}`;
  }

  private draw(): void {
    const text = this.line();
    if (this.tty) {
      const pad = Math.max(0, this.width - text.length);
      this.out.write(`\r${text}${" ".repeat(pad)}`);
      this.width = text.length;
    } else {
      this.out.write(text + "\n");
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty && this.width > 0) this.out.write(`\r${" ".repeat(this.width)}\r`);
  }
}
