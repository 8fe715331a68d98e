// The client's TLS (blits:// URLs): whom it trusts and how. With --tls-ca FILE the daemon's
// certificate must chain to that CA, name the host of the URL and be within its dates. Without
// it the daemon's public key is pinned as ssh pins host keys: $BLIT_HOME/known_daemons holds
// "HOST:PORT SHA256:<base64>" lines; a daemon not listed is trusted only with --tls-accept-new
// or --tls-fingerprint (and is then recorded), and a listed daemon showing another key is
// refused in words. The pin replaces chain, name and date checks. The same check runs on the
// gRPC connection and on the data connection, before a byte of ours (the token) is sent.
import type { TLSOptions } from "bun";
import type * as Grpc from "@grpc/grpc-js";
import type { X509Certificate } from "node:crypto";
import { appendFileSync, chmodSync, mkdirSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { dirname } from "node:path";
import type { TLSSocket } from "node:tls";
import { blitClient, grpc } from "../../proto/index.ts";
import { UsageError } from "../errors.ts";
import { channelEvents, SocketChannel } from "./channel.ts";
import type { RemoteUrl } from "./url.ts";

/** How the client trusts a blits:// daemon (the CLI's --tls-* flags). */
export interface TlsClientOptions {
  /** --tls-ca FILE: verify the certificate by this CA (PEM), with its host name and dates. @default undefined: pin */
  caFile?: string;
  /** --tls-fingerprint SHA256:...: the daemon's key must have this fingerprint; it is recorded. @default undefined */
  fingerprint?: string;
  /** --tls-accept-new: trust a daemon that known_daemons does not list, and record its key. @default false */
  acceptNew?: boolean;
  /** The pin file; the CLI passes $BLIT_HOME/known_daemons. Required for pinning. */
  knownDaemonsFile?: string;
}

// node:crypto and node:tls are loaded on first use: every blit command imports this module
// (through engine/index.ts) and loading them cost a local copy ~10 ms at start.
const nodeCrypto = (): typeof import("node:crypto") => require("node:crypto");
const nodeTls = (): typeof import("node:tls") => require("node:tls");

/** SSL_OP_NO_* bits that leave TLS 1.3 only (Bun's sockets take no minVersion). */
export function tls13Only(): number {
  const { constants } = nodeCrypto();
  return constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1 | constants.SSL_OP_NO_TLSv1_2;
}

/** "SHA256:<base64, unpadded>" of a certificate's public key (SubjectPublicKeyInfo, DER), as ssh shows keys. */
export function keyFingerprint(cert: X509Certificate): string {
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  return `SHA256:${new Bun.CryptoHasher("sha256").update(spki).digest("base64").replace(/=+$/, "")}`;
}

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** A TLS check that failed; the message says what to do. */
export class TlsTrustError extends Error {
  readonly code = "TLS";
}

/** Checks the TLS flags against the URL; throws UsageError naming the flag. */
export function checkTlsFlags(u: RemoteUrl, o: TlsClientOptions | undefined): void {
  const given = o && ([o.caFile && "--tls-ca", o.fingerprint && "--tls-fingerprint", o.acceptNew && "--tls-accept-new"].filter(Boolean) as string[]);
  if (!u.tls) {
    if (given?.length) throw new UsageError("TLS_FLAGS", `${given.join(", ")} apply to a daemon that speaks TLS: write the URL as blits://${u.address}/...`);
    return;
  }
  if (o?.fingerprint !== undefined && !FINGERPRINT.test(o.fingerprint)) {
    throw new UsageError("TLS_FLAGS", `--tls-fingerprint '${o.fingerprint}' is not a key fingerprint: expected SHA256: and 43 base64 characters, as blitd logs at start`);
  }
  if (o?.caFile && (o.fingerprint || o.acceptNew)) throw new UsageError("TLS_FLAGS", "--tls-ca verifies by a CA; --tls-fingerprint and --tls-accept-new pin a key: give one or the other");
}

interface KnownLine {
  line: number;
  fingerprint: string;
}

/** One daemon's trust for one run: the pin, once accepted, holds for every connection of the run. */
export class TlsTrust {
  /** The key this run accepted (pinning), so the data connection must show the same. */
  private accepted: string | undefined;
  private readonly ca: string | undefined;
  /** What the last failed check said; the gRPC layer reports only "unavailable". */
  failure: TlsTrustError | undefined;
  /** For the run's notes: how the daemon was trusted. */
  note = "";

  constructor(readonly url: RemoteUrl, readonly opts: TlsClientOptions) {
    if (opts.caFile) {
      try {
        this.ca = readFileSync(opts.caFile, "utf8");
        new (nodeCrypto().X509Certificate)(this.ca);
      } catch (err) {
        throw new UsageError("TLS_CA", `--tls-ca '${opts.caFile}' is not a readable PEM certificate (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    } else if (!opts.knownDaemonsFile) throw new UsageError("TLS_FLAGS", "pinning needs a known_daemons file (BLIT_HOME)");
  }

  /** The host name as the pin file keys it: "host:port", IPv6 in brackets, lower case. */
  get address(): string {
    return this.url.address.toLowerCase();
  }

  /** Checks a handshake's outcome; undefined when the daemon is trusted. Records a first-use key. */
  verify(cert: X509Certificate | undefined, chainError: string | undefined): TlsTrustError | undefined {
    let err: string | undefined;
    try {
      err = cert ? (this.ca ? this.verifyByCa(cert, chainError) : this.verifyPin(keyFingerprint(cert))) : `${this.address} presented no certificate`;
    } catch (e) {
      err = (e as Error).message;
    }
    this.failure = err ? new TlsTrustError(err) : undefined;
    return this.failure;
  }

  private verifyByCa(cert: X509Certificate, chainError: string | undefined): string | undefined {
    const who = `the certificate of ${this.address}`;
    if (chainError) return `${who} is not trusted by --tls-ca '${this.opts.caFile}': ${chainError}`;
    const host = this.url.host;
    const matches = isIP(host) ? cert.checkIP(host) : cert.checkHost(host);
    if (!matches) return `${who} is not for '${host}' (it names ${cert.subjectAltName ?? cert.subject.replace(/\n/g, ", ")}); connect by a name it holds`;
    this.note = `certificate verified by --tls-ca '${this.opts.caFile}' (${cert.subject.replace(/\n/g, ", ")}, until ${new Date(cert.validTo).toISOString()})`;
    return undefined;
  }

  private verifyPin(fp: string): string | undefined {
    if (this.accepted) return fp === this.accepted ? undefined : `${this.address} showed key ${fp} on a second connection, not the ${this.accepted} it showed first; refused`;
    const file = this.opts.knownDaemonsFile!;
    const known = readKnown(file, this.address);
    const given = this.opts.fingerprint;
    if (known.length > 0 && !known.some((k) => k.fingerprint === fp)) {
      const k = known[0]!;
      return [
        `the key of the daemon at ${this.address} has CHANGED: ${file} line ${k.line} says ${k.fingerprint}, the daemon showed ${fp}.`,
        "Someone may be intercepting the connection (a man in the middle), or the daemon's certificate was replaced.",
        `If you know it was replaced, remove line ${k.line} of ${file} and connect again with --tls-fingerprint ${fp} (checked with the daemon's operator) or --tls-accept-new.`,
      ].join(" ");
    }
    if (given && given !== fp) return `the key of the daemon at ${this.address} is ${fp}, not the ${given} given with --tls-fingerprint; refused`;
    if (known.length > 0) {
      this.accepted = fp;
      this.note = `key ${fp} pinned in ${file}`;
      return undefined;
    }
    if (!given && !this.opts.acceptNew) {
      return [
        `the daemon at ${this.address} is not in ${file}; its key is ${fp}.`,
        `Check that fingerprint with the daemon's operator (blitd logs it at start), then run again with --tls-fingerprint ${fp}, or --tls-accept-new to trust it on first use; either records it.`,
        "Or verify the daemon by a CA with --tls-ca FILE.",
      ].join(" ");
    }
    try {
      recordKnown(file, this.address, fp);
    } catch (err) {
      return `cannot record the daemon's key in ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
    this.accepted = fp;
    this.note = `key ${fp} of a new daemon added to ${file}`;
    return undefined;
  }

  /** node:tls options for the gRPC connection; every check is ours (verify), after the handshake. */
  private nodeOptions() {
    const host = this.url.host;
    return {
      ...(this.ca ? { ca: this.ca } : {}),
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      minVersion: "TLSv1.3" as const,
      ALPNProtocols: ["h2"],
    };
  }

  /** grpc-js channel credentials that run verify() on each connection before it carries a call. */
  grpcCredentials(): Grpc.ChannelCredentials {
    const trust = this;
    // Made here, not at import: grpc-js loads on first use. createSsl cannot pin a key, and its
    // connector sets an IP address as the TLS server name, which Bun refuses.
    class VerifiedCredentials extends grpc.ChannelCredentials {
      _isSecure(): boolean {
        return true;
      }
      _equals(other: Grpc.ChannelCredentials): boolean {
        return other === this;
      }
      _createSecureConnector(_target: unknown, _options: unknown, callCredentials?: Grpc.CallCredentials) {
        const creds = callCredentials ?? grpc.CallCredentials.createEmpty();
        return {
          connect: (socket: import("node:net").Socket) => new Promise<{ socket: import("node:net").Socket; secure: boolean }>((resolve, reject) => {
            const s: TLSSocket = nodeTls().connect({ socket, ...trust.nodeOptions() }, () => {
              const err = trust.verify(s.getPeerX509Certificate(), s.authorized ? undefined : String(s.authorizationError ?? "unverified"));
              if (err) {
                s.destroy();
                reject(err);
              } else resolve({ socket: s, secure: true });
            });
            s.on("error", (e) => {
              const hint = /WRONG_VERSION_NUMBER|wrong version number/i.test(e.message) ? " (the daemon does not speak TLS: write blit:// for a daemon without tls_cert_file)" : "";
              trust.failure ??= new TlsTrustError(`TLS with ${trust.address} failed: ${e.message}${hint}`);
              reject(e);
            });
          }),
          waitForReady: () => Promise.resolve(),
          getCallCredentials: () => creds,
          destroy: () => {},
        };
      }
    }
    return new VerifiedCredentials();
  }

  /** Bun.connect's `tls` for the data connection: TLS 1.3; verify() runs in the handshake handler. */
  bunOptions(): TLSOptions {
    const host = this.url.host;
    return { ...(this.ca ? { ca: this.ca } : {}), ...(isIP(host) ? {} : { serverName: host }), rejectUnauthorized: false, secureOptions: tls13Only() };
  }
}

const trusts = new WeakMap<object, TlsTrust>();

/**
 * A gRPC client for the URL's daemon: plaintext for blit://, TLS with `opts`' trust for
 * blits://. Throws UsageError for flags that do not fit the URL.
 */
export function remoteClient(u: RemoteUrl, opts: TlsClientOptions | undefined, channel: Record<string, string | number> = {}): ReturnType<typeof blitClient> {
  checkTlsFlags(u, opts);
  if (!u.tls) return blitClient(u.address, channel);
  const trust = new TlsTrust(u, opts ?? {});
  const client = blitClient(u.address, channel, trust.grpcCredentials());
  trusts.set(client, trust);
  return client;
}

/** The trust of a client made by remoteClient; undefined for plaintext. */
export function tlsTrustOf(client: object): TlsTrust | undefined {
  return trusts.get(client);
}

/**
 * The data connection under TLS: resolves once the handshake is done and the daemon's
 * certificate passed the same check as the gRPC connection's, so the token in HELLO is sent
 * only to the trusted daemon.
 */
export function connectTls(trust: TlsTrust, port: number, timeoutMs: number): Promise<SocketChannel> {
  return new Promise((resolveConn, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => settle(() => reject(new Error(`no TLS connection to port ${port} within ${timeoutMs} ms`))), timeoutMs);
    let trusted = false;
    Bun.connect<SocketChannel>({
      hostname: trust.url.host,
      port,
      tls: trust.bunOptions(),
      socket: {
        open(s) {
          s.data = new SocketChannel(s, true);
        },
        handshake(s, _ok, chainError) {
          const err = trust.verify(s.getPeerX509Certificate(), chainError ? chainError.message : undefined);
          if (err) {
            s.terminate();
            settle(() => reject(err));
          } else {
            settle(() => {
              trusted = true;
              resolveConn(s.data);
            });
          }
        },
        ...channelEvents<SocketChannel>((ch) => ch),
        close(s, err) {
          s.data?.onClose(err);
          settle(() => reject(err ?? new Error("connection closed during the TLS handshake")));
        },
        error(s, err) {
          s.data?.onClose(err);
          settle(() => reject(err));
        },
        connectError(_s, err) {
          settle(() => reject(err));
        },
      },
    }).then((s) => {
      if (settled && !trusted) s.terminate(); // timed out meanwhile
    }, (err) => settle(() => reject(err)));
  });
}

/** The lines of `file` for `address` (none when the file does not exist). */
function readKnown(file: string, address: string): KnownLine[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new TlsTrustError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const out: KnownLine[] = [];
  text.split("\n").forEach((raw, i) => {
    const [host, fp] = raw.trim().split(/\s+/);
    if (host && !host.startsWith("#") && host.toLowerCase() === address && fp) out.push({ line: i + 1, fingerprint: fp });
  });
  return out;
}

const HEADER = "# blit known daemons: HOST:PORT SHA256:<key fingerprint>, one per line (see docs/remote.md)\n";

function recordKnown(file: string, address: string, fp: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let before: string | undefined;
  try {
    before = readFileSync(file, "utf8");
  } catch {
    before = undefined;
  }
  // a file edited by hand may lack its last newline: the new line must not join the old one
  const lead = before === undefined ? HEADER : before !== "" && !before.endsWith("\n") ? "\n" : "";
  appendFileSync(file, `${lead}${address} ${fp}\n`, { mode: 0o600 });
  if (before === undefined) chmodSync(file, 0o600);
}
