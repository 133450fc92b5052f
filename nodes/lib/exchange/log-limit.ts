/**
 * Rate-limited warnings: a flood of one kind of warning (malformed or binary frames, ...) must not
 * flood Node-RED's log. Per logger (one per account) and per kind, the first WARN_BURST lines of a
 * WARN_WINDOW_MS window are logged; the rest are counted, and the count is reported with the next
 * line of that kind after the window ("… (1234 more like this in the last 60 s)") or by
 * flushWarnings() when the connection closes or the account stops.
 *
 * No timers: nothing survives a stopped account. State is held in a WeakMap keyed by the logger,
 * so it goes when the logger does.
 */
import type { Logger } from '../types';

/** Lines of one kind logged per window before the rest are only counted. */
export const WARN_BURST = 3;
/** Length of the window, ms. */
export const WARN_WINDOW_MS = 60_000;

interface KindState {
  windowStart: number;
  logged: number;
  suppressed: number;
  level: 'warn' | 'info' | 'debug';
}

const states = new WeakMap<Logger, Map<string, KindState>>();

function kindsOf(logger: Logger): Map<string, KindState> {
  let m = states.get(logger);
  if (!m) {
    m = new Map();
    states.set(logger, m);
  }
  return m;
}

function summary(st: KindState, now: number): string {
  const secs = Math.max(1, Math.round((now - st.windowStart) / 1000));
  return `${st.suppressed} more like this in the last ${secs} s`;
}

/**
 * Logs `message` at `level` (default warn) unless WARN_BURST lines of `kind` were logged in the
 * current window; suppressed lines are counted and summarised later. Returns true when logged.
 */
export function limitedLog(logger: Logger, kind: string, message: string, level: 'warn' | 'info' | 'debug' = 'warn'): boolean {
  const kinds = kindsOf(logger);
  const now = Date.now();
  let st = kinds.get(kind);
  if (!st || now - st.windowStart >= WARN_WINDOW_MS || now < st.windowStart) {
    const carried = st && st.suppressed > 0 ? ` (${summary(st, now)})` : '';
    st = { windowStart: now, logged: 0, suppressed: 0, level };
    kinds.set(kind, st);
    st.logged = 1;
    logger[level](message + carried);
    return true;
  }
  if (st.logged < WARN_BURST) {
    st.logged += 1;
    logger[level](message);
    return true;
  }
  st.suppressed += 1;
  return false;
}

/** Reports the suppressed counts of every kind (or of kinds starting with `prefix`) and forgets them. */
export function flushWarnings(logger: Logger, prefix = ''): void {
  const kinds = states.get(logger);
  if (!kinds) return;
  const now = Date.now();
  for (const [kind, st] of kinds) {
    if (!kind.startsWith(prefix)) continue;
    if (st.suppressed > 0) logger[st.level](`${kind}: ${summary(st, now)} (not logged)`);
    kinds.delete(kind);
  }
}
