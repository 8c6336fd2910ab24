// UUIDv7 (RFC 9562): 48 bits of Unix ms, version 7, variant 10, 74 random bits.
export const uuid7 = (t = Date.now(), b = crypto.getRandomValues(new Uint8Array(16))) => {
  // A Uint8Array keeps the low 8 bits of the integer part: byte 5 first.
  for (let i = 6; i--; t /= 256) b[i] = t
  b[6] = (b[6] & 15) | 112
  b[8] = (b[8] & 63) | 128
  // A dash before bytes 4, 6, 8 and 10 (the bits of 1360).
  return [...b].map((x, i) => ((1360 >> i) & 1 ? '-' : '') + (x | 256).toString(16).slice(1)).join('')
}
