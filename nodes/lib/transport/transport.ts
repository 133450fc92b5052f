/**
 * The contract between the lifecycle (stream-manager.ts) and the per-venue transports
 * (transport-spot.ts, transport-margin.ts, transport-futures.ts).
 *
 * A Transport opens Sessions. A Session is one live, subscribed connection: `openSession()`
 * resolves only once the subscription is confirmed (WS API) or the stream socket is open (futures).
 */
import type { ResolvedEndpoints } from '../exchange/endpoints';
import type { Redactor } from '../exchange/redact';
import type { RestClient } from './rest';
import { WsConnection, type CloseInfo } from './ws-connection';
import type { AccountConfig, GapEvent, Logger } from '../types';

export interface SessionEnd {
  /** 'watchdog', 'server-close', 'error', 'listenKeyExpired', 'eventStreamTerminated', 'closed' ... */
  reason: string;
  error?: Error;
  /** Last moment the session was known to be live (last frame). */
  lastLiveAt: number;
}

export interface SessionHandlers {
  /** A user-data event with its envelope removed. */
  onEvent(session: Session, raw: Record<string, unknown>): void;
  /** The server announced a shutdown of this connection: rotate make-before-break. */
  onRotateRequested(session: Session, reason: 'serverShutdown'): void;
  /**
   * The subscription ended on a live connection (WS API eventStreamTerminated): events are missed
   * from `from` on, until the onGap that follows (or the session's end).
   */
  onGapOpened(session: Session, from: number): void;
  /** The stream was down and is live again on the same connection. */
  onGap(session: Session, gap: GapEvent): void;
  /** Two subscriptions overlap on this connection (token renewal): suppress duplicates while true. */
  onOverlap(session: Session, active: boolean): void;
  /** The session is over. Called at most once, also after close()/terminate(). */
  onEnded(session: Session, end: SessionEnd): void;
  /**
   * The stream opened but the server sent nothing at all (no event, not even its pings) for longer
   * than its ping interval (`true`, once per connection), or its first frame arrived after that
   * (`false`). Futures listenKey streams only (transport-futures.ts).
   */
  onSilence?(session: Session, silent: boolean): void;
}

export interface Session {
  readonly id: number;
  readonly openedAt: number;
  /** Last frame received (any kind). */
  readonly lastLiveAt: number;
  /** Graceful end: unsubscribe where the protocol has it, close the socket; bounded in time. */
  close(): Promise<void>;
  /** Drops the socket at once. */
  terminate(reason: string): void;
}

export interface Transport {
  /** Opens one more subscribed session (several may overlap during a rotation). */
  openSession(handlers: SessionHandlers, signal: AbortSignal): Promise<Session>;
  /** Account-level clean-up (futures: DELETE the listenKey, stop keepalive); bounded in time. */
  shutdown(): Promise<void>;
}

export interface TransportContext {
  config: AccountConfig;
  endpoints: ResolvedEndpoints;
  rest: RestClient;
  redactor: Redactor;
  logger: Logger;
  /** Silence watchdog: venue ping interval + margin. */
  silenceTimeoutMs: number;
  /** Interval of our own WebSocket pings. */
  clientPingIntervalMs: number;
  /** Id generator for sessions (for logs). */
  nextSessionId(): number;
}

/** Bounded waits used when closing. */
export const CLOSE_WAIT_MS = 1_000;
export const UNSUBSCRIBE_WAIT_MS = 1_500;
export const SHUTDOWN_REST_WAIT_MS = 2_000;

/**
 * Opens a session's socket the same way on every venue: the account's silence watchdog, our pings,
 * its redaction; frames and the close go to the session's handlers.
 */
export async function openSessionSocket(
  ctx: TransportContext,
  url: string,
  label: string,
  signal: AbortSignal,
  on: { message(text: string): void; close(info: CloseInfo): void; silent?(): void; heard?(): void },
): Promise<WsConnection> {
  const conn = await WsConnection.open({
    url,
    silenceTimeoutMs: ctx.silenceTimeoutMs,
    // a server that sends nothing of its own past its ping interval (+ margin): see onSilence
    ...(on.silent ? { serverSilentAfterMs: ctx.silenceTimeoutMs } : {}),
    pingIntervalMs: ctx.clientPingIntervalMs,
    logger: ctx.logger,
    label,
    signal,
    redact: (t) => ctx.redactor.apply(t),
  });
  conn.onMessage = (text) => on.message(text);
  conn.onClose = (info) => on.close(info);
  if (on.silent) conn.onServerSilent = () => on.silent?.();
  if (on.heard) conn.onServerHeard = () => on.heard?.();
  return conn;
}
