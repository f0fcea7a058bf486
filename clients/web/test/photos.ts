/** A JPEG-looking photo of size bytes (SOI, a JFIF segment, scan data from seed, EOI): what the server's type check takes. */
export function jpeg(size: number, seed: number): Buffer {
  const head = [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xda];
  const out = Buffer.alloc(Math.max(size, head.length + 2));
  out.set(head);
  let x = seed >>> 0 || 1;
  for (let i = head.length; i < out.length - 2; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  out.set([0xff, 0xd9], out.length - 2);
  return out;
}
