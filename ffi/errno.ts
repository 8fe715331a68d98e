// Linux errno numbers (x86_64 and aarch64 share these) to their names, so errors carry the
// same codes Node's fs uses and callers can classify them without knowing the OS.
const LINUX_ERRNO: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 9: "EBADF", 11: "EAGAIN", 12: "ENOMEM",
  13: "EACCES", 16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR",
  21: "EISDIR", 22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 26: "ETXTBSY", 27: "EFBIG",
  28: "ENOSPC", 29: "ESPIPE", 30: "EROFS", 31: "EMLINK", 34: "ERANGE", 36: "ENAMETOOLONG", 38: "ENOSYS",
  39: "ENOTEMPTY", 40: "ELOOP", 61: "ENODATA", 95: "EOPNOTSUPP", 122: "EDQUOT", 125: "ECANCELED",
};

const MESSAGES: Record<string, string> = {
  EPERM: "operation not permitted", ENOENT: "no such file or directory", EIO: "input/output error",
  EACCES: "permission denied", EEXIST: "file exists", EXDEV: "cross-device link",
  ENOTDIR: "not a directory", EISDIR: "is a directory", EINVAL: "invalid argument",
  EMFILE: "too many open files", ENOSPC: "no space left on device", EROFS: "read-only file system",
  ENAMETOOLONG: "file name too long", ENOSYS: "function not implemented",
  ENOTEMPTY: "directory not empty", ELOOP: "too many levels of symbolic links",
  EOPNOTSUPP: "operation not supported", ENODATA: "no such attribute", E2BIG: "attribute too large",
  ENXIO: "no such device or address", EDQUOT: "disk quota exceeded", ECANCELED: "cancelled",
  NOT_REGULAR: "not a regular file",
  CHANGED: "the older version it is updated from changed while it was read; run the transfer again",
};

export function errnoName(n: number): string {
  return LINUX_ERRNO[n] ?? `ERRNO_${n}`;
}

/** A short human text for an errno-style code ("ENOSPC" -> "no space left on device"). */
export function describeCode(code: string): string {
  return MESSAGES[code] ?? code;
}
