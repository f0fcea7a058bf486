// CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum
// MediaService.PutChunk verifies per chunk. Table-driven, a byte at a time.

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * The CRC32C of data, as an unsigned 32-bit number. Pass the CRC of the
 * bytes before data as crc to continue a checksum over several pieces.
 */
export function crc32c(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
