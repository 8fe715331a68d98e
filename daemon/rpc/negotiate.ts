// Negotiate: checks what every transfer asks (direction, module, path, options, the limit of
// concurrent transfers), then hands a push or a pull to its own function. A negotiated transfer
// is registered and its data plane opened (a dry run ends at the reply).
import { metadataPrivileges, type RootedDir } from "../../ffi/index.ts";
import { Scope } from "../../engine/index.ts";
import { FEATURE_DELTA, FEATURE_SPARSE, peerFeatures, printable, type grpc } from "../../proto/index.ts";
import type { ModuleConfig } from "../config.ts";
import { DaemonError, readOnly } from "../errors.ts";
import { slotsHeld, type TransferOptions } from "../transfers.ts";
import { findModule, openModule, requestPath, unary, type RpcContext } from "./context.ts";
import { negotiatePull } from "./negotiate-pull.ts";
import { negotiatePush } from "./negotiate-push.ts";

const MAX_EXCLUDES = 1000;

/** One Negotiate request, checked: what the push or pull functions start from. */
export interface NegotiateRequest {
  mod: ModuleConfig;
  /** The checked remote path (relative to the module; "" is its root). */
  path: string;
  opts: TransferOptions;
  peer: string;
  /** The module's root directory, open for this call only (the caller closes it). */
  modRoot: RootedDir;
  /** The raw request (push: its manifest). */
  req: any;
}

export function negotiate(ctx: RpcContext) {
  return unary(ctx, async (req: any, call: grpc.ServerUnaryCall<any, any>) => {
    try {
      return await negotiateTransfer(ctx, req, call);
    } catch (err) {
      // Only a configured module's name becomes a label: a client cannot add series.
      const mod = typeof req?.module === "string" && ctx.config.modules.has(req.module) ? req.module : undefined;
      ctx.metrics.transferRejected(mod, String(req?.direction), rejectionCode(err));
      throw err;
    }
  });
}

/** The code a refused Negotiate is counted under: the daemon's error code, INTERNAL for anything unclassified. */
function rejectionCode(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && /^[A-Z_]{1,32}$/.test(code) ? code : "INTERNAL";
}

/** One Negotiate, checked and handed to the push or pull function; any refusal is thrown. */
async function negotiateTransfer(ctx: RpcContext, req: any, call: grpc.ServerUnaryCall<any, any>) {
  const direction = String(req.direction);
  if (direction !== "push" && direction !== "pull") throw new DaemonError("BAD_REQUEST", `unknown direction '${printable(direction)}'`);
  const mod = findModule(ctx, req.module);
  if (direction === "push" && mod.readOnly) throw readOnly(mod.name);
  const path = requestPath(req.path, "remote path");
  const opts = normalizeOpts(req.options, direction, peerFeatures(req.features), mod);
  const { config } = ctx;
  // Transfers that may still move data, and Negotiates under way, hold slots (daemon/transfers.ts slotsHeld).
  if (slotsHeld(ctx.transfers.values()) + ctx.negotiating.count >= config.maxConnections) {
    throw new DaemonError("BUSY", `blitd is at its limit of ${config.maxConnections} concurrent transfers (max_connections); try again later`);
  }
  const modRoot = openModule(mod);
  ctx.negotiating.count++;
  try {
    const n: NegotiateRequest = { mod, path, opts, peer: call.getPeer(), modRoot, req };
    // Awaited here: the module's root stays open until the push or pull is done with it.
    return await (direction === "push" ? negotiatePush(ctx, n) : negotiatePull(ctx, n));
  } finally {
    ctx.negotiating.count--;
    modRoot.close();
  }
}

function normalizeOpts(o: any, direction: string, features: Set<string>, mod: ModuleConfig): TransferOptions {
  const exclude: string[] = Array.isArray(o?.exclude) ? o.exclude.map(String) : [];
  const sent: string[] = Array.isArray(o?.filter) ? o.filter.map(String) : [];
  for (const list of [exclude, sent]) {
    if (list.length > MAX_EXCLUDES || list.some((e) => e.length > 4096 || e.includes("\0"))) throw new DaemonError("BAD_REQUEST", "too many or too long selection rules (--exclude, --include, --filter)");
  }
  // A client that knows rules sends them all in `filter`; an older one only its --exclude patterns.
  const filter = sent.length > 0 ? sent : exclude.map((p) => `- ${p}`);
  try {
    Scope.top(filter);
  } catch (err) {
    throw new DaemonError("BAD_REQUEST", printable((err as Error).message));
  }
  const maxDelete = Number(o?.max_delete ?? -1);
  return {
    ...metadataOpts(o, direction, mod),
    mirror: !!o?.mirror, checksum: !!o?.checksum, sizeOnly: !!o?.size_only, ignoreTimes: !!o?.ignore_times,
    maxDelete: Number.isInteger(maxDelete) && maxDelete >= -1 ? maxDelete : -1, force: !!o?.force,
    dryRun: !!o?.dry_run, exclude, filter,
    bwlimit: Number.isSafeInteger(Number(o?.bwlimit)) && Number(o?.bwlimit) > 0 ? Number(o.bwlimit) : 0,
    hardLinks: !!o?.hard_links,
    sparse: direction === "pull" && features.has(FEATURE_SPARSE),
    // push: the client sends KEEP against our blocks; it asked for deltas (not --whole-file), and parts kept by broken pushes resume either way.
    delta: direction === "push" && features.has(FEATURE_DELTA) && !!o?.delta,
    resume: direction === "push" && features.has(FEATURE_DELTA),
  };
}

/**
 * What a transfer keeps beyond content, mode and mtime. A pull's daemon sends what the client
 * asks for (trusted.* and security.* attributes only from a keep_owners module). A push keeps
 * owners and groups, device nodes and trusted.* / security.* attributes only in a module with
 * keep_owners = true and only when blitd may give them (root); anything asked for and not kept
 * is named in notKept. user.* attributes, ACLs, FIFOs and sockets need neither.
 */
function metadataOpts(o: any, direction: string, mod: ModuleConfig) {
  const asked = {
    owner: !!o?.owner, group: !!o?.group, xattrs: !!o?.xattrs, acls: !!o?.acls, numericIds: !!o?.numeric_ids,
    specials: !!o?.specials, devices: !!o?.devices,
  };
  const notKept: Record<string, string> = {};
  const priv = metadataPrivileges();
  if (direction === "pull") {
    // trusted.* attributes are for root's eyes: read for clients only from a keep_owners module.
    const privileged = mod.keepOwners && priv.systemXattrs;
    const xattrSel = asked.xattrs || asked.acls ? { xattrs: asked.xattrs, acls: asked.acls, privileged } : undefined;
    return { ...asked, xattrSel, notKept };
  }
  const why = !mod.keepOwners ? `module '${mod.name}' does not keep owners (keep_owners = false)` : undefined;
  const owners = !why && priv.owners;
  if ((asked.owner || asked.group) && !owners) notKept.owners = why ?? `blitd is ${priv.reasons.owners ?? "not allowed to give owners"}`;
  const devices = asked.devices && !why && priv.devices;
  if (asked.devices && !devices) notKept.devices = why ? `module '${mod.name}' does not create device nodes (keep_owners = false)` : `blitd is ${priv.reasons.devices}`;
  const xattrSel = asked.xattrs || asked.acls ? { xattrs: asked.xattrs, acls: asked.acls, privileged: owners && priv.systemXattrs } : undefined;
  return { ...asked, owner: asked.owner && owners, group: asked.group && owners, devices, xattrSel, notKept };
}
