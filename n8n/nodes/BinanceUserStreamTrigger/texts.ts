/**
 * The error a stream state stands for, in the core's words (the same text the Node-RED account
 * node's status and log are made from): a rejected key (`auth-error`: "invalid API key or
 * permissions (-2015)") or a stream that cannot run (`error`: e.g. "Binance is not available from
 * this location …"). Undefined for every other state. The text is already redacted by the core.
 */
import type { ReliableStateChange, SilentStream } from '../../../nodes/lib';
import { FUTURES_PING_INTERVAL_MS } from '../../../nodes/lib/exchange/endpoints';
import catalog from '../../../nodes/locales/en-US/binance-account.json';

export function stateProblem(s: Pick<ReliableStateChange, 'state' | 'message' | 'code'>): string | undefined {
  if (s.state !== 'auth-error' && s.state !== 'error') return undefined;
  const what = s.state === 'auth-error' ? 'Binance rejected the API key' : 'The Binance stream cannot run';
  const why = s.message ?? (s.code !== undefined ? `code ${s.code}` : undefined);
  return why ? `${what}: ${why}` : what;
}

// The key check's sentences are those of the Node-RED account dialog's Test connection, from its
// message catalog (data, bundled): one place for each text.

interface KeyCheckLike {
  ok: boolean;
  problem?: string;
  message?: string;
  accountType?: string;
  clockOffsetMs?: number;
  warnings?: string[];
  keyWarning?: string;
}

const TEST_TEXTS = catalog['binance-account'].test;

/** The credential test's answer from the core's key check. */
export function keyCheckText(r: KeyCheckLike): { status: 'OK' | 'Error'; message: string } {
  const parts: string[] = [];
  if (!r.ok) {
    const problem = (TEST_TEXTS.problem as Record<string, string>)[r.problem ?? 'unknown'] ?? TEST_TEXTS.problem.unknown;
    parts.push(problem);
    if (r.message) parts.push(r.message);
    return { status: 'Error', message: parts.join(' ') };
  }
  parts.push(r.accountType ? `${TEST_TEXTS.ok} (${TEST_TEXTS.accountType}: ${r.accountType}).` : `${TEST_TEXTS.ok}.`);
  if (r.warnings?.includes('clock-skew') && r.clockOffsetMs !== undefined) {
    parts.push(`${TEST_TEXTS.skew.replace('__ms__', String(r.clockOffsetMs))}: ${TEST_TEXTS.problem['clock-skew']}`);
  }
  if (r.keyWarning) parts.push(r.keyWarning);
  return { status: 'OK', message: parts.join(' ') };
}

/**
 * The warning of a stream that opened but on which Binance sends nothing, not even its pings
 * (issue 22): the Node-RED account's catalog text, with the futures URL forms to try.
 */
export function silentStreamText(silent: SilentStream): string {
  const w = catalog['binance-account'].warnings;
  const labels = catalog['binance-account'].futuresPathForm as Record<string, string>;
  const vars: Record<string, string> = {
    since: new Date(silent.since).toISOString(),
    minutes: String(Math.round(FUTURES_PING_INTERVAL_MS / 60_000)),
    form: silent.pathForm ?? '',
    others: (silent.alternatives ?? []).map((f) => `${f} (${labels[f] ?? f})`).join(', '),
  };
  const template = silent.pathForm ? w['silent-stream'] : w['silent-stream-other'];
  return template.replace(/__([a-z]+)__/g, (all, name: string) => vars[name] ?? all);
}
