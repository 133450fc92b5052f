/**
 * Minimal fixed-point decimal arithmetic for the simulator (8 decimal places,
 * BigInt based) so balances stay exact and render like the exchange does.
 */

export const SCALE = 100_000_000n;
const DIGITS = 8;

/** Parse a decimal string (or number) into a scaled BigInt. Throws on garbage. */
export function dec(v: string | number | bigint): bigint {
  if (typeof v === 'bigint') return v * SCALE;
  const s = typeof v === 'number' ? v.toFixed(DIGITS) : v.trim();
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) {
    throw new Error(`invalid decimal: ${JSON.stringify(v)}`);
  }
  const frac = (m[3] ?? '').padEnd(DIGITS, '0').slice(0, DIGITS);
  const abs = BigInt(m[2] === '' ? '0' : m[2]) * SCALE + BigInt(frac === '' ? '0' : frac);
  return m[1] === '-' ? -abs : abs;
}

export function mul(a: bigint, b: bigint): bigint {
  return (a * b) / SCALE;
}

export function div(a: bigint, b: bigint): bigint {
  if (b === 0n) return 0n;
  return (a * SCALE) / b;
}

export function abs(a: bigint): bigint {
  return a < 0n ? -a : a;
}

export function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** Fixed number of decimals, e.g. fmt(dec('0.01')) === '0.01000000'. */
export function fmt(a: bigint, decimals = DIGITS): string {
  const neg = a < 0n;
  let x = neg ? -a : a;
  if (decimals < DIGITS) {
    const f = 10n ** BigInt(DIGITS - decimals);
    x = x / f;
  }
  const base = 10n ** BigInt(Math.min(decimals, DIGITS));
  const int = x / base;
  const frac = x % base;
  let s = int.toString();
  if (decimals > 0) s += '.' + frac.toString().padStart(Math.min(decimals, DIGITS), '0').padEnd(decimals, '0');
  return (neg && x !== 0n ? '-' : '') + s;
}

/** Shortest form without trailing zeros, e.g. '0.001', '9000', '0'. */
export function fmtTrim(a: bigint): string {
  const s = fmt(a);
  if (!s.includes('.')) return s;
  const t = s.replace(/0+$/, '').replace(/\.$/, '');
  return t === '-0' ? '0' : t;
}
