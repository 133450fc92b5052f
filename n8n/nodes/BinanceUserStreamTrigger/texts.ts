/**
 * The error a stream state stands for, in the core's words (the same text the Node-RED account
 * node's status and log are made from): a rejected key (`auth-error`: "invalid API key or
 * permissions (-2015)") or a stream that cannot run (`error`: e.g. "Binance is not available from
 * this location …"). Undefined for every other state. The text is already redacted by the core.
 */
import type { ReliableStateChange } from '../../../nodes/lib';

export function stateProblem(s: Pick<ReliableStateChange, 'state' | 'message' | 'code'>): string | undefined {
  if (s.state !== 'auth-error' && s.state !== 'error') return undefined;
  const what = s.state === 'auth-error' ? 'Binance rejected the API key' : 'The Binance stream cannot run';
  const why = s.message ?? (s.code !== undefined ? `code ${s.code}` : undefined);
  return why ? `${what}: ${why}` : what;
}
