// blitd --help, also printed by `blit help blitd` (a small module: no gRPC loaded to show it).
import { VERSION } from "../engine/index.ts";

export const BLITD_HELP = `blitd ${VERSION} — the blit daemon: serves 'blit push', 'blit pull' and 'blit ls'

Usage:
  blitd --config FILE [--bind HOST:PORT] [--force-grpc-data]

Flags:
  -c, --config FILE      blitd.toml: modules, auth token file, limits (see docs/remote.md)
      --bind HOST:PORT   where to listen (default: 'bind' in the config, else 127.0.0.1:9031);
                         IPv6 as [::1]:9031; port 0 picks a free port. A non-loopback address
                         requires auth_token_file in the config, and TLS (tls_cert_file,
                         tls_key_file) unless allow_plaintext = true.
      --force-grpc-data  carry file data inside gRPC streams, never on a TCP data connection
  -q, --quiet            log nothing but errors and warnings
  -V, --version          print the version
  -h, --help             this help

On start blitd prints one line on stdout: 'blitd listening on HOST:PORT'. With TLS
(tls_cert_file, tls_key_file) it logs the key fingerprint clients pin, even with --quiet.
It removes temporary files that an interrupted transfer left in writable modules. SIGINT/SIGTERM stop it; transfers
in progress are ended and their temporary files removed.

Exit codes: 0 stopped by a signal, 2 bad flags or config, 1 could not start (port in use...).
`;
