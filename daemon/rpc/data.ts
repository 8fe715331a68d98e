// Data: the data plane over the gRPC stream (when the one-time TCP port cannot be reached). The
// first frame, HELLO with the transfer's token, names the transfer; a stream without one in time
// is closed.
import { GrpcChannel, type GrpcDuplex } from "../../engine/index.ts";
import { grpc } from "../../proto/index.ts";
import { authRejected, toStatus } from "../errors.ts";
import { acceptChannel } from "../transfers.ts";
import type { RpcContext } from "./context.ts";

const HELLO_TIMEOUT_MS = 3000;

export function data(ctx: RpcContext) {
  return (call: grpc.ServerDuplexStream<any, any>) => {
    const ch = new GrpcChannel(call as unknown as GrpcDuplex, (reason) => {
      call.emit("error", { code: grpc.status.ABORTED, details: reason, metadata: new grpc.Metadata() });
    });
    try {
      ctx.authorize(call.metadata);
    } catch {
      call.emit("error", toStatus(authRejected()));
      return;
    }
    // The token inside HELLO names the transfer; until then this stream belongs to none.
    let bound = false;
    const timer = setTimeout(() => {
      if (!bound) ch.destroy("no HELLO in time");
    }, HELLO_TIMEOUT_MS);
    acceptChannel(ch, (tok) => {
      const t = ctx.byToken.get(Buffer.from(tok).toString("hex"));
      return t && t.tokenMatches(tok) ? t : undefined;
    }, () => {
      bound = true;
      clearTimeout(timer);
    }, ctx.log);
  };
}
