// The temporary name a received file is written under before it is renamed into place. blitd
// removes names with this prefix that an interrupted transfer left behind.
import { TEMP_PREFIX } from "../ffi/index.ts";

export function tempName(name: string): string {
  const rand = crypto.getRandomValues(new Uint32Array(2));
  const tail = name.length > 200 ? name.slice(0, 200) : name;
  return `${TEMP_PREFIX}${rand[0]!.toString(16)}${rand[1]!.toString(16)}-${tail}`;
}
