// Every transfer has a deadline, so a client that vanishes (or never meant to finish) cannot hold
// a slot or the daemon's memory: the token clock (token_ttl, in transfers.ts) frees the slot of a
// transfer whose data connection never came; after its data ended (or its token expired unused)
// a transfer waits complete_timeout for its Complete; a transfer moving data may sit idle for
// idle_timeout. The reaper ends whatever is past its deadline, its temporaries removed.
import type { Transfer } from "./transfers.ts";

export interface TransferDeadlines {
  /** idle_timeout: a transfer with no traffic for this long is ended. */
  idleMs: number;
  /** complete_timeout: how long a transfer whose data ended waits for its Complete. */
  completeMs: number;
}

const REAP_EVERY_MS = 250;

/** Why `t` must end now, or undefined when it is within its deadlines. */
export function overdue(t: Transfer, now: number, d: TransferDeadlines): string | undefined {
  if (t.dataEndedAt !== undefined) {
    if (now - t.dataEndedAt <= d.completeMs) return undefined;
    const what = t.dataState === "expired" ? "its data connection never came" : "its data ended";
    return `no Complete within ${d.completeMs / 1000} s after ${what} (complete_timeout)`;
  }
  if (now - t.lastActivity > d.idleMs) return `idle for more than ${d.idleMs / 1000} s (idle_timeout)`;
  return undefined;
}

/**
 * Ends `t` at once: its data connection closed, its temporaries removed, nothing deleted, its
 * fds released, and it is forgotten (`forget` removes it from the daemon's tables).
 */
export function endTransfer(t: Transfer, reason: string, forget: (t: Transfer) => void): void {
  t.abort(reason);
  forget(t);
  if (t.direction === "push") t.receiver!.finish({ interrupted: true });
  t.release();
}

/** Checks every transfer's deadlines a few times a second. Returns the function that stops it. */
export function startReaper(
  transfers: () => Iterable<Transfer>,
  d: TransferDeadlines,
  forget: (t: Transfer) => void,
  log: (msg: string) => void,
): () => void {
  const timer = setInterval(() => {
    const now = Date.now();
    for (const t of [...transfers()]) {
      const why = overdue(t, now, d);
      if (!why) continue;
      log(`transfer ${t.id}: ${why}; ended`);
      endTransfer(t, why, forget);
    }
  }, REAP_EVERY_MS);
  // The reaper also keeps the process alive: the gRPC server's socket may be unref'd under Bun.
  return () => clearInterval(timer);
}
