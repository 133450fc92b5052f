/** The status a `binance-account` node shows on each of its consumers. */
import { statusForState, type StatusSpec } from './status';
import type { ReliableStateChange } from '../lib/stream/reliable-stream';
import type { Translate } from './translate';

export interface NodeStatus {
  fill: StatusSpec['fill'];
  shape: StatusSpec['shape'];
  text: string;
}

/** The stream's state in words (`lastEventAt`: add the time of the last event to "connected"). */
export function accountStatus(t: Translate, current: ReliableStateChange, lastEventAt?: number): NodeStatus {
  if (current.state === 'recovering') {
    // I3: says since when and why (e.g. "catching up since 14:03:07: recovering what was missed (reconnect)")
    const since = typeof current.since === 'number' ? new Date(current.since).toTimeString().slice(0, 8) : undefined;
    const text = since ? t('binance-account.status.recovering-since', { since, why: current.message ?? '' }) : t('binance-account.status.recovering');
    return { fill: 'yellow', shape: 'dot', text };
  }
  // open but silent (not even the server's pings): not "connected" in green (issue 22)
  const silent = current.state === 'connected' && current.silent !== undefined;
  // connected, but the recovery state is not being saved (a restart would repeat fills)
  const unsaved = current.state === 'connected' && current.unsaved === true;
  const spec = silent
    ? { fill: 'yellow' as const, shape: 'dot' as const, key: 'connected-silent' }
    : unsaved
      ? { fill: 'yellow' as const, shape: 'dot' as const, key: 'connected-unsaved' }
      : statusForState({ ...current, state: current.state }, lastEventAt);
  const vars = spec.reasonKey ? { ...spec.vars, reason: t(`binance-account.status.${spec.reasonKey}`, spec.reasonVars) } : spec.vars;
  let text = spec.text ?? t(`binance-account.status.${spec.key ?? 'error'}`, vars);
  // a tracking bound dropped entries: said in the status (and the log), never silent
  if (current.state === 'connected' && current.limits) {
    const l = current.limits;
    text = t(l.symbols !== undefined ? 'binance-account.status.limit-symbols' : 'binance-account.status.limit-orders', { status: text, n: l.symbols ?? l.orders ?? 0 });
  }
  return { fill: spec.fill, shape: spec.shape, text };
}
