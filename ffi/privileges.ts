// What metadata this process is allowed to keep. Root (more exactly: the capabilities in effect)
// can give files any owner, create device nodes and read trusted.* attributes; other users
// cannot, and a summary says why in the words of `reasons`.
import { readFileSync } from "node:fs";

export interface MetadataPrivileges {
  /** Any owner and group can be given (CAP_CHOWN). */
  owners: boolean;
  /** Device nodes can be created (CAP_MKNOD). FIFOs and sockets need no privilege. */
  devices: boolean;
  /** trusted.* and security.* attributes can be read and set (CAP_SYS_ADMIN). */
  systemXattrs: boolean;
  /** For each false above, why, e.g. { owners: "not running as root" }. */
  reasons: Partial<Record<"owners" | "devices" | "systemXattrs", string>>;
}

const CAP_CHOWN = 0n;
const CAP_SYS_ADMIN = 21n;
const CAP_MKNOD = 27n;

/** The effective capability set from /proc/self/status, or undefined where it cannot be read. */
function effectiveCaps(): bigint | undefined {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "latin1"));
    return m ? BigInt(`0x${m[1]}`) : undefined;
  } catch {
    return undefined;
  }
}

let cached: MetadataPrivileges | undefined;

/** What this process can keep; learned once (a process does not gain capabilities later). */
export function metadataPrivileges(): MetadataPrivileges {
  if (cached) return cached;
  const root = process.geteuid?.() === 0;
  const caps = effectiveCaps();
  // Without /proc (or off Linux) the effective uid decides, as it does for most systems.
  const has = (bit: bigint) => (caps === undefined ? root : ((caps >> bit) & 1n) === 1n);
  const why = (cap: string) => (root ? `running as root without ${cap}` : "not running as root");
  const p: MetadataPrivileges = {
    owners: has(CAP_CHOWN),
    devices: has(CAP_MKNOD),
    systemXattrs: has(CAP_SYS_ADMIN),
    reasons: {},
  };
  if (!p.owners) p.reasons.owners = why("CAP_CHOWN");
  if (!p.devices) p.reasons.devices = why("CAP_MKNOD");
  if (!p.systemXattrs) p.reasons.systemXattrs = why("CAP_SYS_ADMIN");
  return (cached = p);
}
