/**
 * Spot user data: WebSocket API `userDataStream.subscribe.signature` (any key type, no logon).
 *
 * Params `apiKey`, `recvWindow`, `timestamp` are sorted by name, joined as `k=v&...` (raw UTF-8)
 * and signed: HMAC-SHA256 (hex), Ed25519 or RSA (base64). Each new connection subscribes again.
 * On -1021 the clock offset is re-synced and the subscribe retried once.
 */
import { BinanceApiError } from './rest';
import { wsApiPayload, type ParamValue } from '../exchange/signing';
import type { Session, SessionHandlers, Transport, TransportContext } from './transport';
import { WsApiSession } from './ws-api-session';

/** Builds the signed params of `userDataStream.subscribe.signature`. */
export function signedSubscribeParams(ctx: TransportContext): Record<string, ParamValue> {
  const params: Record<string, ParamValue> = { apiKey: ctx.rest.apiKey, timestamp: ctx.rest.clock.now() };
  if (ctx.rest.recvWindow !== undefined) params.recvWindow = ctx.rest.recvWindow;
  params.signature = ctx.rest.sign(wsApiPayload(params));
  return params;
}

class SpotSession extends WsApiSession {
  protected async subscribeOnce(): Promise<number> {
    const attempt = async (): Promise<number> => {
      const r = await this.request<{ subscriptionId?: unknown }>('userDataStream.subscribe.signature', signedSubscribeParams(this.ctx));
      const id = Number(r?.subscriptionId);
      if (!Number.isFinite(id)) throw new BinanceApiError('userDataStream.subscribe.signature: no subscriptionId in the response', { kind: 'server' });
      return id;
    };
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof BinanceApiError) || err.kind !== 'clock') throw err;
      this.ctx.logger.info(`${this.label}: timestamp rejected (-1021): re-syncing the clock`);
      await this.ctx.rest.clock.sync().catch(() => undefined);
      return attempt();
    }
  }
}

export class SpotTransport implements Transport {
  constructor(private readonly ctx: TransportContext) {}

  async openSession(handlers: SessionHandlers, signal: AbortSignal): Promise<Session> {
    // Fails early (no connection opened) when the credentials cannot sign.
    this.ctx.rest.sign('probe');
    return new SpotSession(this.ctx, handlers).start(signal);
  }

  async shutdown(): Promise<void> {
    // Nothing account-wide: each session unsubscribes when it is closed.
  }
}
