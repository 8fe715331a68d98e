// ListModules: the daemon's version and its modules (names, comments, read-only flags).
import { VERSION } from "../../engine/index.ts";
import { unary, type RpcContext } from "./context.ts";

export function listModules(ctx: RpcContext) {
  return unary(ctx, () => ({
    version: VERSION,
    modules: [...ctx.config.modules.values()].map((m) => ({ name: m.name, comment: m.comment, read_only: m.readOnly })),
  }));
}
