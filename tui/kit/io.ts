// Where a command writes, and what it knows of the terminal: the one Io every command takes.
// Tests pass sinks; the entry point passes the process's streams.

/** A stream a command writes to; a terminal says so (isTTY) and how wide it is (columns). */
export interface Out {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Io {
  stdout: Out;
  stderr: Out;
  env: Record<string, string | undefined>;
  /** Key input of full-screen views. @default process.stdin */
  stdin?: NodeJS.ReadStream;
}

/** The process's streams; a reader that went away (`blit copy -v | head`) ends output quietly. */
export function processIo(): Io {
  guardPipes();
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

let guarded = false;

// A write to a closed pipe fails later, as an 'error' event: unheard, it would end the process
// with a stack trace and exit 1 in the middle of a run. Heard, the run finishes, is recorded,
// and exits with its own code; what could not be written is dropped.
function guardPipes(): void {
  if (guarded) return;
  guarded = true;
  for (const [name, stream] of [["stdout", process.stdout], ["stderr", process.stderr]] as const) {
    let told = false;
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE" || told || name === "stderr") return;
      told = true;
      process.stderr.write(`blit: cannot write to stdout: ${e.code ?? e.message}\n`);
    });
  }
}

/** Writes `text` on stdout as one line. */
export function say(io: Io, text: string): void {
  io.stdout.write(text.endsWith("\n") ? text : text + "\n");
}

/** Writes "blit: text" on stderr. */
export function warn(io: Io, text: string): void {
  io.stderr.write(`blit: ${text}\n`);
}

/** True when `out` is a terminal. */
export function isTerminal(out: Out): boolean {
  return out.isTTY === true;
}

/** The width of `out` when it is a terminal (else 80). */
export function columnsOf(out: Out): number {
  return out.isTTY && out.columns ? out.columns : 80;
}
