/**
 * `binance-stream-status`: a message on every connection state change (`msg.topic` 'state') and
 * every gap ('gap'), plus the current state once the flows have started after a deploy, and in
 * answer to any input message (an inject, a dashboard asking); and ('unconsumed') events of the
 * account that no configured node took, per type: the first of each type at once, then at most
 * once a minute per type with the count (lib/unconsumed.ts).
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { shapePayload } from './lib/events';
import type { RecoveryReport, ReliableStateChange } from './lib/stream/reliable-stream';
import type { GapEvent, StateChange } from './lib/types';
import type { UnconsumedReport } from './lib/events/unconsumed';
import { errText } from './lib/util';
import { accountOf, consume } from './red/data-node';
import { onFlowsStarted } from './red/flows-started';
import { makeTranslate } from './red/translate';

const TYPE = 'binance-stream-status';
/** Fallback for the initial message if 'flows:started' is not seen (e.g. a node started on its own). */
const INITIAL_FALLBACK_MS = 1000;

interface StreamStatusDef extends NodeDef {
  account?: string;
  isoTimes?: boolean;
}

function statePayload(s: StateChange | ReliableStateChange): Record<string, unknown> {
  const p: Record<string, unknown> = { state: s.state, previous: s.previous };
  if (s.attempt !== undefined) p.attempt = s.attempt;
  if (s.delayMs !== undefined) p.delayMs = s.delayMs;
  if (s.code !== undefined) p.code = s.code;
  if (s.message !== undefined) p.message = s.message;
  // connected, but the server has sent nothing on the connection, not even its pings (issue 22)
  if ('silent' in s && s.silent) {
    const { since, pathForm, alternatives } = s.silent;
    p.silent = { since, ...(pathForm ? { futuresPathForm: pathForm, alternatives: [...(alternatives ?? [])] } : {}) };
  }
  // connected, but the recovery state could not be saved (a restart would repeat fills)
  if ('unsaved' in s && s.unsaved) p.unsaved = true;
  p.at = s.at;
  return p;
}

export = function register(RED: NodeAPI): void {
  const t = makeTranslate(RED, TYPE);

  function BinanceStreamStatusNode(this: Node, def: StreamStatusDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const account = accountOf(RED, node, def.account, TYPE, t);
    if (!account) return;
    const base = (): { market: string; account: string } => ({ market: account.market, account: account.accountLabel });
    const shape = { numbers: false, isoTimes: def.isoTimes === true };
    const send = (msg: NodeMessage): void => {
      try {
        node.send({ ...msg, payload: shapePayload(msg.payload, shape) });
      } catch (err) {
        node.error(account.redact(errText(err)));
      }
    };
    const onState = (s: StateChange | ReliableStateChange): void => send({ ...base(), topic: 'state', payload: statePayload(s) });
    const onGap = (g: GapEvent): void => send({ ...base(), topic: 'gap', payload: { from: g.from, to: g.to, reason: g.reason } });
    const onRecovery = (r: RecoveryReport): void => {
      if (r.phase !== 'finished' || !r.stats) return;
      const s = r.stats;
      send({
        ...base(),
        topic: 'recovery',
        payload: {
          gap: { from: r.gap.from, to: r.gap.to, reason: r.gap.reason },
          fills: s.fills,
          orderStates: s.orderStates,
          balanceSnapshot: s.balanceSnapshot,
          symbols: s.symbols,
          requests: s.requests,
          errors: s.errors.map((x) => account.redact(x)),
          startedAt: s.startedAt,
          finishedAt: s.finishedAt,
        },
      });
    };

    const onUnconsumed = (r: UnconsumedReport): void =>
      send({ ...base(), topic: 'unconsumed', payload: { eventType: r.eventType, count: r.count, total: r.total, first: r.first, at: r.at } });
    account.unconsumed?.on('unconsumed', onUnconsumed);

    // The account's reliable stream: its states include `recovering` (catching up after a gap).
    let stopWatching = (): void => undefined;
    const stream = consume(
      RED,
      node,
      account,
      { state: onState, gap: onGap, recovery: onRecovery },
      {
        onClose: () => {
          initialSent = true;
          clearTimeout(fallback);
          stopWatching();
          account.unconsumed?.removeListener('unconsumed', onUnconsumed);
        },
      },
    );

    /** The current state as a `state` payload (an account that cannot connect: `error` with the reason). */
    const current = (): Record<string, unknown> =>
      stream
        ? statePayload(stream.currentState)
        : { state: 'error', previous: 'idle', message: account.configError ?? 'invalid configuration', at: Date.now() };

    // The current state, once the flows (and the nodes wired to this one) are running.
    let initialSent = false;
    const sendInitial = (): void => {
      if (initialSent) return;
      initialSent = true;
      clearTimeout(fallback);
      stopWatching();
      send({ ...base(), topic: 'state', payload: current() });
    };
    const fallback = setTimeout(sendInitial, INITIAL_FALLBACK_MS);
    stopWatching = onFlowsStarted(RED, sendInitial);

    // Any input message is answered with the current state (the message itself, so that a
    // dashboard's client id and other properties travel back).
    node.on('input', (msg: NodeMessage, nodeSend: (m: NodeMessage) => void, done: (err?: Error) => void) => {
      try {
        nodeSend(Object.assign(msg, base(), { topic: 'state', payload: shapePayload(current(), shape) }));
        done();
      } catch (err) {
        done(new Error(account.redact(errText(err))));
      }
    });
  }

  RED.nodes.registerType(TYPE, BinanceStreamStatusNode);
};
