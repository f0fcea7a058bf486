/**
 * A minimal protobuf wire reader: picks the few top-level fields Today needs
 * out of a record's stored bytes without building the whole message, so
 * Today reads 10k records fast. Unknown and unwanted fields are skipped.
 */
const utf8 = new TextDecoder();

/** How a wanted field is read: text, an integer (varint), or a Timestamp as Unix ms (0 when unset). */
export type Want = "str" | "int" | "ts";

/** The wanted fields of bytes, by field number; absent fields are absent. */
export function pick(bytes: Uint8Array, want: Readonly<Record<number, Want>>): Record<number, string | number> {
  const out: Record<number, string | number> = {};
  let pos = 0;
  const varint = (): number => {
    let x = 0;
    let mul = 1;
    for (;;) {
      const b = bytes[pos++];
      if (b === undefined) throw new Error("truncated varint");
      x += (b & 0x7f) * mul;
      if (b < 0x80) return x;
      mul *= 128;
    }
  };
  while (pos < bytes.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    const w = want[field];
    if (wire === 0) {
      const v = varint();
      if (w === "int") out[field] = v;
    } else if (wire === 2) {
      const len = varint();
      const end = pos + len;
      if (w === "str") out[field] = utf8.decode(bytes.subarray(pos, end));
      else if (w === "ts") out[field] = timestampMs(bytes.subarray(pos, end));
      pos = end;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`wire type ${wire} not supported`);
  }
  return out;
}

/** A google.protobuf.Timestamp's bytes as Unix milliseconds (seconds read as int64: before 1970 too). */
function timestampMs(b: Uint8Array): number {
  let secs = 0n;
  let nanos = 0;
  let pos = 0;
  while (pos < b.length) {
    const tag = b[pos++];
    let x = 0n;
    let shift = 0n;
    for (;;) {
      const c = b[pos++];
      if (c === undefined) throw new Error("truncated timestamp");
      x |= BigInt(c & 0x7f) << shift;
      if (c < 0x80) break;
      shift += 7n;
    }
    if (tag === 0x08) secs = BigInt.asIntN(64, x);
    else if (tag === 0x10) nanos = Number(BigInt.asIntN(32, x));
    else throw new Error(`unexpected timestamp field tag ${tag}`);
  }
  return Number(secs) * 1000 + Math.floor(nanos / 1e6);
}
