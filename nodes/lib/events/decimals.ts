/**
 * Exact decimal arithmetic on strings (bigint; no floating point): what averagePrice and the
 * zero checks use. Decimals stay strings everywhere else (docs/decisions/strings-for-decimals.md).
 */
import { dec } from './fields';

interface Dec {
  int: bigint;
  scale: number;
}

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Plain decimals as the exchange sends them ("123", "-0.00400000"): no regular expression. */
function parsePlainDec(s: string): Dec | undefined {
  const n = s.length;
  const i = s.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  let dot = -1;
  for (let k = i; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c === 46 /* . */) {
      if (dot >= 0) return undefined;
      dot = k;
    } else if (c < 48 || c > 57) return undefined;
  }
  if (i === n || (dot === i && n === i + 1)) return undefined;
  const neg = i === 1;
  let digits: string;
  let scale = 0;
  if (dot < 0) digits = i === 0 ? s : s.slice(1);
  else {
    scale = n - dot - 1;
    digits = s.slice(i, dot) + s.slice(dot + 1);
    if (digits === '') return undefined;
  }
  const int = BigInt(digits);
  return { int: neg ? -int : int, scale };
}

function parseDec(s: string): Dec | undefined {
  const plain = parsePlainDec(s);
  if (plain) return plain;
  const m = DECIMAL_RE.exec(s.trim());
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return undefined;
  const sign = m[1] === '-' ? -1n : 1n;
  const frac = m[3] ?? '';
  let int = BigInt((m[2] || '0') + frac) * sign;
  let scale = frac.length;
  const exp = m[4] ? Number(m[4]) : 0;
  if (exp > 0) {
    if (exp >= scale) {
      int *= 10n ** BigInt(exp - scale);
      scale = 0;
    } else scale -= exp;
  } else if (exp < 0) scale -= exp;
  return { int, scale };
}

function formatDec(int: bigint, scale: number): string {
  const neg = int < 0n;
  let digits = (neg ? -int : int).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    let whole = digits.slice(0, digits.length - scale);
    const frac = digits.slice(digits.length - scale).replace(/0+$/, '');
    if (whole === '') whole = '0';
    digits = frac ? `${whole}.${frac}` : whole;
  }
  return neg && digits !== '0' ? `-${digits}` : digits;
}

/**
 * a / b as a decimal string, rounded half-up (away from zero) to `scale` decimals,
 * trailing zeros trimmed. Returns undefined for unparsable input or b = 0.
 */
export function divideDecimals(a: string, b: string, scale = 8): string | undefined {
  const x = parseDec(a);
  const y = parseDec(b);
  if (!x || !y) return undefined;
  return divideParsed(x, y, scale);
}

function divideParsed(x: Dec, y: Dec, scale: number): string | undefined {
  if (y.int === 0n) return undefined;
  // a/b = (x.int / 10^x.scale) / (y.int / 10^y.scale) = x.int * 10^(y.scale - x.scale) / y.int
  let numer = x.int * 10n ** BigInt(scale);
  let denom = y.int;
  const shift = y.scale - x.scale;
  if (shift >= 0) numer *= 10n ** BigInt(shift);
  else denom *= 10n ** BigInt(-shift);
  if (denom < 0n) {
    numer = -numer;
    denom = -denom;
  }
  const neg = numer < 0n;
  const absN = neg ? -numer : numer;
  let q = absN / denom;
  const r = absN % denom;
  if (r * 2n >= denom) q += 1n;
  return formatDec(neg ? -q : q, scale);
}

/** a * b as an exact decimal string. */
export function multiplyDecimals(a: string, b: string): string | undefined {
  const x = parseDec(a);
  const y = parseDec(b);
  if (!x || !y) return undefined;
  return formatDec(x.int * y.int, x.scale + y.scale);
}

/** true when the string is a decimal equal to zero ("0", "0.00000000", "-0.0"). */
export function isZeroDecimal(v: unknown): boolean {
  const s = dec(v);
  if (s === undefined) return false;
  const d = parseDec(s);
  return d !== undefined && d.int === 0n;
}

/**
 * Spot average price Z/z. Undefined (field absent) when z or Z is absent, e.g. a fill rebuilt
 * from a trade-history row; "0" when both are present and z is zero (nothing filled yet).
 */
export function spotAveragePrice(cumQuote: string | undefined, cumQty: string | undefined): string | undefined {
  if (cumQty === undefined || cumQuote === undefined) return undefined;
  const qty = parseDec(cumQty);
  if (qty !== undefined && qty.int === 0n) return '0';
  const quote = parseDec(cumQuote);
  if (!quote || !qty) return undefined;
  return divideParsed(quote, qty, Math.max(8, quote.scale));
}
