/**
 * Margin user data (cross and isolated): listenToken on the WebSocket API.
 *
 *  1. `POST /sapi/v1/userListenToken` (API key, signed by default: LISTEN_TOKEN_SECURITY in facts.ts;
 *     `isIsolated=true&symbol=…` for isolated margin)
 *     → `{token, expirationTime}`. When the server refuses that form (-1104: it does not read
 *     `timestamp` / `signature`; or, key-only, -1102: it wants them), the other form is tried once
 *     and the accepted one kept for the account's later tokens.
 *  2. `userDataStream.subscribe.listenToken {listenToken}` on the WS API → `{subscriptionId, expirationTime}`.
 *  3. Renewal, on the same connection and without a gap: before expiry (at 80 % of the validity or
 *     5 minutes before it, whichever is earlier) a fresh token is fetched and subscribed; then the
 *     old subscription is unsubscribed. Duplicates seen on both subscriptions meanwhile are
 *     suppressed by the manager (onOverlap).
 *  4. `eventStreamTerminated` on the current subscription → new token, subscribe again, report a gap.
 */
import { BinanceApiError, type Security } from './rest';
import { ERROR_CODES, LISTEN_TOKEN_MAX_VALIDITY_MS, LISTEN_TOKEN_SECURITY, REST, UNWANTED_PARAMETER_CODES, endpointWeight } from '../exchange/facts';
import { type Session, type SessionHandlers, type Transport, type TransportContext } from './transport';
import { WsApiSession } from './ws-api-session';
import { errText } from '../util';

const FIVE_MINUTES = 5 * 60_000;
/** Retry delay of a failed renewal while the current token is still valid. */
const RENEW_RETRY_MS = 30_000;

/**
 * Renewals at least this far apart, whatever expiry a server names: a token said to expire at once
 * (or already expired) is not renewed in a loop; it runs out and is subscribed again with backoff.
 */
const MIN_RENEW_DELAY_MS = 10_000;

/**
 * When to renew a token valid for `validityMs`: 80 % of it or 5 min before expiry, whichever is
 * earlier; never sooner than MIN_RENEW_DELAY_MS, never later than for Binance's longest validity
 * (an expiry years ahead — a lying or broken server — must not overflow the timer, which Node then
 * fires at once: a renewal loop).
 */
export function renewDelay(validityMs: number): number {
  const v = Math.min(Math.max(0, Number.isFinite(validityMs) ? validityMs : 0), LISTEN_TOKEN_MAX_VALIDITY_MS);
  const d = v > FIVE_MINUTES ? Math.min(0.8 * v, v - FIVE_MINUTES) : 0.8 * v;
  return Math.max(MIN_RENEW_DELAY_MS, Math.floor(d));
}

interface ListenToken {
  token: string;
  expirationTime: number;
}

type TokenSecurity = Extract<Security, 'signed' | 'apiKey'>;

/**
 * Per account (its REST client, which outlives a stop and start): the form of the token request
 * the server accepted.
 */
const acceptedSecurity = new WeakMap<object, TokenSecurity>();

/**
 * Whether `err`, the answer to a token request sent as `security`, says the server reads the
 * endpoint the other way: to the signed form, a parameter it does not read or want
 * (UNWANTED_PARAMETER_CODES); to the key-only form, a missing `timestamp` / `signature` (-1102).
 */
function wantsOtherSecurity(err: unknown, security: TokenSecurity): boolean {
  if (!(err instanceof BinanceApiError) || err.code === undefined) return false;
  if (security === 'signed') return UNWANTED_PARAMETER_CODES.has(err.code);
  return err.code === ERROR_CODES.MANDATORY_PARAMETER && /\b(timestamp|signature)\b/.test(err.message);
}

export async function fetchListenToken(ctx: TransportContext): Promise<ListenToken> {
  const params: Record<string, string> = {};
  if (ctx.endpoints.market === 'isolated-margin') {
    // BOOLEAN, sent as `true`: "isIsolated BOOLEAN NO … true means isolated" (POST /sapi/v1/userListenToken,
    // https://developers.binance.com/docs/margin_trading/trade-data-stream, stored copy read 2026-12).
    params.isIsolated = 'true';
    params.symbol = String(ctx.config.symbol).trim().toUpperCase();
  }
  const path = ctx.endpoints.listenTokenPath ?? REST.margin.listenToken.path;
  const ask = (security: TokenSecurity): Promise<{ token?: unknown; expirationTime?: unknown }> =>
    ctx.rest.request<{ token?: unknown; expirationTime?: unknown }>('POST', path, params, {
      security,
      weight: endpointWeight(REST.margin.listenToken),
    });
  // Signed or key-only: the sources disagree, exchange/facts.ts LISTEN_TOKEN_SECURITY.
  let security: TokenSecurity = acceptedSecurity.get(ctx.rest) ?? LISTEN_TOKEN_SECURITY;
  let r: { token?: unknown; expirationTime?: unknown };
  try {
    r = await ask(security);
  } catch (err) {
    if (!wantsOtherSecurity(err, security)) throw err;
    const other: TokenSecurity = security === 'signed' ? 'apiKey' : 'signed';
    ctx.logger.info(`POST ${path}: the server refused the ${security === 'signed' ? 'signed' : 'key-only'} request (${errText(err)}); asking ${other === 'signed' ? 'signed' : 'with the API key only'}`);
    security = other;
    r = await ask(security);
  }
  acceptedSecurity.set(ctx.rest, security);
  if (typeof r?.token !== 'string' || r.token === '') {
    throw new BinanceApiError(`POST ${path}: no token in the response`, { kind: 'server' });
  }
  ctx.redactor.add(r.token);
  const exp = Number(r.expirationTime);
  return { token: r.token, expirationTime: Number.isFinite(exp) ? exp : ctx.rest.clock.now() + LISTEN_TOKEN_MAX_VALIDITY_MS };
}

class MarginSession extends WsApiSession {
  private renewTimer: ReturnType<typeof setTimeout> | undefined;
  private renewing = false;

  protected async subscribeOnce(): Promise<number> {
    const once = async (): Promise<number> => {
      const t = await fetchListenToken(this.ctx);
      const r = await this.request<{ subscriptionId?: unknown; expirationTime?: unknown }>(
        'userDataStream.subscribe.listenToken',
        { listenToken: t.token },
      );
      const id = Number(r?.subscriptionId);
      if (!Number.isFinite(id)) {
        throw new BinanceApiError('userDataStream.subscribe.listenToken: no subscriptionId in the response', { kind: 'server' });
      }
      const exp = Number(r?.expirationTime);
      this.scheduleRenewal(Number.isFinite(exp) ? exp : t.expirationTime);
      return id;
    };
    try {
      return await once();
    } catch (err) {
      // -1209: the token was not accepted (expired in between); one more with a fresh token.
      if (err instanceof BinanceApiError && err.code === ERROR_CODES.LISTEN_TOKEN_GONE) return once();
      throw err;
    }
  }

  protected override onDispose(): void {
    if (this.renewTimer !== undefined) clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
  }

  private scheduleRenewal(expiresAt: number, delayMs?: number): void {
    if (this.renewTimer !== undefined) clearTimeout(this.renewTimer);
    // expirationTime is a moment on the exchange's clock
    const delay = delayMs ?? renewDelay(expiresAt - this.ctx.rest.clock.now());
    this.renewTimer = setTimeout(() => {
      this.renewTimer = undefined;
      void this.renew(expiresAt);
    }, delay);
    this.ctx.logger.debug(`${this.label}: listenToken renewal in ${Math.round(delay / 1000)} s`);
  }

  /** Subscribes a fresh token on this connection, then drops the old subscription. */
  private async renew(oldExpiresAt: number): Promise<void> {
    if (this.renewing || this.isEnded) return;
    this.renewing = true;
    const oldId = this.currentSubscriptionId;
    this.handlers.onOverlap(this, true);
    try {
      const newId = await this.subscribeOnce();
      this.currentSubscriptionId = newId;
      this.ctx.logger.debug(`${this.label}: listenToken renewed (subscription ${oldId} → ${newId})`);
      if (oldId !== undefined && oldId !== newId && !this.isEnded) {
        await this.request('userDataStream.unsubscribe', { subscriptionId: oldId }).catch((err: unknown) => {
          this.ctx.logger.debug(`${this.label}: unsubscribe of ${oldId}: ${errText(err)}`);
        });
      }
    } catch (err) {
      const left = oldExpiresAt - this.ctx.rest.clock.now();
      this.ctx.logger.warn(`${this.label}: listenToken renewal failed: ${errText(err)}`);
      if (!this.isEnded && left > 2_000) this.scheduleRenewal(oldExpiresAt, Math.min(RENEW_RETRY_MS, Math.floor(left / 2)));
      // Otherwise the token expires: eventStreamTerminated → subscribe again (reported as a gap).
    } finally {
      this.renewing = false;
      this.handlers.onOverlap(this, false);
    }
  }
}

export class MarginTransport implements Transport {
  constructor(private readonly ctx: TransportContext) {}

  async openSession(handlers: SessionHandlers, signal: AbortSignal): Promise<Session> {
    this.ctx.rest.sign('probe');
    return new MarginSession(this.ctx, handlers).start(signal);
  }

  async shutdown(): Promise<void> {
    // Nothing account-wide: tokens expire on their own; sessions unsubscribe when closed.
  }
}
