const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * A ULID: 48 bits of milliseconds and 80 random bits in 26 Crockford
 * base32 characters, sorting by creation time (as the Go SDK's NewID).
 */
export function newUlid(ms: number): string {
  let out = "";
  let t = Math.max(Math.floor(ms), 0);
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  const rand = crypto.getRandomValues(new Uint8Array(16));
  for (let i = 0; i < 16; i++) out += CROCKFORD[rand[i] % 32];
  return out;
}
