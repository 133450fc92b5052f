/** Helpers every part of the core needs; no other home fits them. */

/** The message of an error (or the value in words). */
export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The value as an Error (a thrown string or object becomes one with its text). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** A plain object (not null, not an array). */
export function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
