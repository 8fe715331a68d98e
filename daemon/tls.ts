// blitd's TLS: one certificate and key (tls_cert_file, tls_key_file) for the control plane (gRPC)
// and every data-plane listener, TLS 1.3 only. Clients verify it by a CA or pin the fingerprint
// of its public key (SHA256 of the SubjectPublicKeyInfo, as ssh pins host keys), which blitd
// logs at start so an operator can hand it out.
import type { TLSOptions } from "bun";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type * as Grpc from "@grpc/grpc-js";
import { grpc } from "../proto/index.ts";
import { keyFingerprint, tls13Only } from "../engine/index.ts";

/** The keys of blitd.toml this module reads. */
export const TLS_CONFIG_KEYS = ["tls_cert_file", "tls_key_file", "allow_plaintext"] as const;

export interface DaemonTls {
  certFile: string;
  keyFile: string;
  /** PEM: the certificate (chain) and its private key. */
  cert: string;
  key: string;
  /** "SHA256:<base64, unpadded>" of the leaf certificate's public key (SPKI DER; engine's keyFingerprint). */
  fingerprint: string;
  /** The certificate's subject and validity, for the start-up log. */
  subject: string;
  validFrom: Date;
  validTo: Date;
}

/**
 * The TLS part of blitd.toml, checked: both files or neither, readable, a certificate and the
 * key that belongs to it. `bad` throws the config error (naming the file and the key).
 */
export function loadDaemonTls(raw: Record<string, unknown>, base: string, bad: (msg: string) => never): { tls?: DaemonTls; allowPlaintext: boolean } {
  const allow = raw.allow_plaintext;
  if (allow !== undefined && typeof allow !== "boolean") bad("'allow_plaintext' must be true or false");
  const certFile = pathKey(raw, "tls_cert_file", base, bad);
  const keyFile = pathKey(raw, "tls_key_file", base, bad);
  if (!certFile !== !keyFile) bad(`'${certFile ? "tls_key_file" : "tls_cert_file"}' is missing: TLS needs both tls_cert_file and tls_key_file`);
  if (!certFile || !keyFile) return { allowPlaintext: allow === true };
  const read = (file: string, key: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch (err) {
      return bad(`cannot read ${key} '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const cert = read(certFile, "tls_cert_file");
  const key = read(keyFile, "tls_key_file");
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    return bad(`tls_cert_file '${certFile}' holds no PEM certificate (${(err as Error).message})`);
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) bad(`tls_key_file '${keyFile}' is not the key of the certificate in '${certFile}'`);
  } catch (err) {
    if ((err as { code?: string }).code === "CONFIG") throw err;
    bad(`tls_key_file '${keyFile}' holds no usable PEM private key (${(err as Error).message})`);
  }
  const tls: DaemonTls = {
    certFile, keyFile, cert, key, fingerprint: keyFingerprint(x509), subject: x509.subject.replace(/\n/g, ", "),
    validFrom: new Date(x509.validFrom), validTo: new Date(x509.validTo),
  };
  return { tls, allowPlaintext: allow === true };
}

function pathKey(raw: Record<string, unknown>, key: string, base: string, bad: (msg: string) => never): string | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") bad(`'${key}' must be a non-empty string`);
  return isAbsolute(v as string) ? (v as string) : resolve(base, v as string);
}

/** Why a bind off loopback without TLS is refused, or undefined when it is allowed. */
export function plaintextRefusal(bind: string, loopback: boolean, tls: DaemonTls | undefined, allowPlaintext: boolean): string | undefined {
  if (loopback || tls || allowPlaintext) return undefined;
  return `binding ${bind} (not loopback) without TLS would send the auth token and every file in clear: set 'tls_cert_file' and 'tls_key_file' (see docs/remote.md), or 'allow_plaintext = true' to accept that (behind a tunnel, say)`;
}

/** grpc-js credentials for the gRPC port: TLS 1.3 with the certificate, or plaintext. */
export function grpcServerCredentials(tls: DaemonTls | undefined): Grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  // ServerCredentials.createSsl with TLS 1.3 as the minimum: createSsl offers no minVersion, and
  // these options reach http2.createSecureServer as they are. Made here, not at import: grpc-js
  // loads on first use.
  class Tls13ServerCredentials extends grpc.ServerCredentials {
    _equals(other: Grpc.ServerCredentials): boolean {
      return other === this;
    }
  }
  return new Tls13ServerCredentials({ minVersion: "TLSv1.3" }, { cert: tls.cert, key: tls.key, minVersion: "TLSv1.3" });
}

/** Options for Bun.listen's `tls` on a data-plane listener: the same certificate, TLS 1.3 only. */
export function dataPlaneTls(tls: DaemonTls | undefined): TLSOptions | undefined {
  return tls ? { cert: tls.cert, key: tls.key, secureOptions: tls13Only() } : undefined;
}

/** The start-up lines about TLS: the fingerprint clients pin, and a warning for a certificate out of its validity. */
export function tlsStartupLines(tls: DaemonTls | undefined, now = new Date()): string[] {
  if (!tls) return [];
  const lines = [`TLS 1.3 on the gRPC port and every data port; certificate ${tls.subject}, valid until ${tls.validTo.toISOString()}; key fingerprint ${tls.fingerprint}`];
  if (now > tls.validTo) lines.push(`warning: the certificate in '${tls.certFile}' expired on ${tls.validTo.toISOString()}: clients that verify it by a CA (--tls-ca) will refuse it`);
  else if (now < tls.validFrom) lines.push(`warning: the certificate in '${tls.certFile}' is not valid before ${tls.validFrom.toISOString()}: clients that verify it by a CA (--tls-ca) will refuse it`);
  return lines;
}
