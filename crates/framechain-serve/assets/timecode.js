// The timestamp code: a strip of 40 black/white blocks across the bottom of
// the picture carrying Date.now() modulo 2^32 ms. The publish page draws it
// into its test pattern; the watch page reads it back from the received,
// processed video and compares it with its own clock (both pages run on
// machines whose clocks agree, typically the same machine), giving the
// glass-to-glass latency.
//
// Why this shape: the picture is scaled (1080p -> 720p) and re-encoded twice
// (browser, then server) at a few Mbit/s, so each bit must be a large flat
// area. 40 blocks across 1920 px are 48 px wide (32 px at 720p) and the
// strip is 6 % of the height (64 px at 1080p). Only each block's central
// quarter is read, away from the blurred edges. The strip sits at the very
// bottom, far from the redacted caption area at the top.
//
// Block layout (1 = white, 0 = black):
//   0      1   start marker, also the white reference for the threshold
//   1      0   start marker, also the black reference
//   2..33      the 32 timestamp bits, most significant first
//   34..37     check bits: bit k is the even parity of timestamp byte k
//              (byte 0 the most significant)
//   38     0   end marker
//   39     1   end marker

export const BLOCKS = 40;
/** The strip's height as a fraction of the picture height. */
export const STRIP_FRACTION = 0.06;
const MODULUS = 4294967296; // 2^32

/** The current time as the code carries it: Date.now() mod 2^32 ms. */
export function nowCode() {
  return Date.now() % MODULUS;
}

/** Milliseconds from the coded time `code` to now, or null if implausible. */
export function ageOf(code, now = nowCode()) {
  const age = (now - code + MODULUS) % MODULUS;
  // More than a minute is a misread, not a latency.
  return age < 60000 ? age : null;
}

function parity(byte) {
  let p = 0;
  for (let b = byte; b; b >>>= 1) p ^= b & 1;
  return p;
}

/** The 40 bits (0/1) that encode `code` (an integer in [0, 2^32)). */
export function encodeBits(code) {
  const value = code >>> 0;
  const bits = [1, 0];
  for (let i = 31; i >= 0; i--) bits.push((value >>> i) & 1);
  for (let k = 0; k < 4; k++) bits.push(parity((value >>> (24 - 8 * k)) & 0xff));
  bits.push(0, 1);
  return bits;
}

/** The strip's rectangle in a width x height picture. */
export function stripRect(width, height) {
  const h = Math.round(height * STRIP_FRACTION);
  return { x: 0, y: height - h, width, height: h };
}

/** Draws the code for `code` into a 2D context of a width x height picture. */
export function drawCode(ctx, width, height, code) {
  const strip = stripRect(width, height);
  const bits = encodeBits(code);
  for (let i = 0; i < BLOCKS; i++) {
    const x0 = Math.round((i * width) / BLOCKS);
    const x1 = Math.round(((i + 1) * width) / BLOCKS);
    ctx.fillStyle = bits[i] ? '#ffffff' : '#000000';
    ctx.fillRect(x0, strip.y, x1 - x0, strip.height);
  }
}

/**
 * Reads the code from the RGBA pixels of the strip (an ImageData covering
 * exactly stripRect(width, height) of a width-wide picture). Returns the
 * timestamp, or null when the markers, the contrast or a check bit fail.
 */
export function readCode(image) {
  const { width, height, data } = image;
  const means = [];
  for (let i = 0; i < BLOCKS; i++) {
    const cx = ((i + 0.5) * width) / BLOCKS;
    const half = Math.max(1, Math.floor(width / BLOCKS / 4));
    const x0 = Math.max(0, Math.round(cx - half));
    const x1 = Math.min(width, Math.round(cx + half));
    const y0 = Math.floor(height / 4);
    const y1 = Math.max(y0 + 1, Math.ceil((3 * height) / 4));
    let sum = 0;
    let n = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const o = (y * width + x) * 4;
        sum += 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2];
        n++;
      }
    }
    means.push(sum / n);
  }
  const white = means[0];
  const black = means[1];
  if (white - black < 96) return null;
  const threshold = (white + black) / 2;
  const bits = means.map((m) => (m > threshold ? 1 : 0));
  if (bits[38] !== 0 || bits[39] !== 1) return null;
  let value = 0;
  for (let i = 0; i < 32; i++) value = value * 2 + bits[2 + i];
  for (let k = 0; k < 4; k++) {
    const byte = Math.floor(value / 2 ** (24 - 8 * k)) & 0xff;
    if (parity(byte) !== bits[34 + k]) return null;
  }
  return value;
}

/** The p-th percentile (0..100) of numbers, nearest rank; null if none. */
export function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}
