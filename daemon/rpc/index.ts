// blitd's RPC handlers, one per RPC of proto/blit.proto, over one shared RpcContext.
import type { grpc } from "../../proto/index.ts";
import { complete } from "./complete.ts";
import type { RpcContext } from "./context.ts";
import { data } from "./data.ts";
import { listDir } from "./list-dir.ts";
import { listModules } from "./list-modules.ts";
import { negotiate } from "./negotiate.ts";

export type { DaemonLogger, RpcContext } from "./context.ts";
export { lenientRequests } from "./context.ts";

/** The Blit service implementation for grpc.Server.addService. */
export function blitHandlers(ctx: RpcContext): grpc.UntypedServiceImplementation {
  return {
    ListModules: listModules(ctx),
    ListDir: listDir(ctx),
    Negotiate: negotiate(ctx),
    Complete: complete(ctx),
    Data: data(ctx),
  } as unknown as grpc.UntypedServiceImplementation;
}
