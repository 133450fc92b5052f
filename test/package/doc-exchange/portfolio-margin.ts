/**
 * A minimal Binance Portfolio Margin exchange on 127.0.0.1 (REST and user-data stream on one port),
 * written from Binance's documentation and Binance's own connector alone, independently of our
 * simulator and client. Sources (stored copies, read 2026-12-07):
 *  - developers.binance.com/docs/derivatives/portfolio-margin/user-data-streams (undated): "Start /
 *    Keepalive / Close User Data Stream (USER_STREAM)" `POST/PUT/DELETE /papi/v1/listenKey`, no
 *    parameters, API key only, valid 60 minutes (a PUT extends it; -1125 when there is none); the
 *    stream `wss://fstream.binance.com/pm/ws/<listenKey>`.
 *  - binance/binance-connector-js, clients/derivatives-trading-portfolio-margin (Binance's own
 *    generated types, v14.0.5 2026-07-13 onward, npm 19.0.0 2026-09-21):
 *    websocket-streams/types/algo-order-update.ts `AlgoOrderUpdate {T, E, fs, ao}` ("fs: Futures
 *    segment, UM for USDS-M Futures, CM for Coin-M Futures") and algo-order-update-ao.ts
 *    `AlgoOrderUpdateAo {caid, aid, at, o, s, S, ps, f, q, X, ai, ap, aq, act, tp, p, V, wt, pm, cp,
 *    pP, R, tt, gtd, rm, ia}` (`ai` a string); binance-connector-python PM CHANGELOG 12.0.1
 *    (2026-08-11): "Modified response field `ao`: property `ia` added". The event type name
 *    `ALGO_UPDATE` is the USDⓈ-M one (user-data-streams/Event-Algo-Order-Update).
 *  - REST (USER_DATA, signed as in common.ts), rest-api modules of the same connector: UM / CM
 *    "Query Current Open Orders" (`/papi/v1/um/openOrders`, `/papi/v1/cm/openOrders`), "Query
 *    Current Margin Open Order" (`/papi/v1/margin/openOrders`), "Query All Current UM Open
 *    Conditional Orders" (`/papi/v1/um/algo/openAlgoOrders` as the connector names it), the account
 *    trade lists (`/papi/v1/um/userTrades`, `/papi/v1/cm/userTrades`, `/papi/v1/margin/myTrades`):
 *    empty arrays (no orders, no trades); "Account Balance" (`/papi/v1/balance`) and the UM / CM
 *    account pages: one asset, nothing open.
 *  - Portfolio margin documents no server-time endpoint (only `/papi/v1/ping`): a client on a
 *    `custom` host asks this host's `/fapi/v1/time` (USDⓈ-M "Check Server Time" → `{serverTime}`),
 *    which is answered here so that one host can stand for the account's gateway.
 * It pushes one ALGO_UPDATE (a UM stop order, NEW) on each stream connection whose listenKey is valid.
 */
import * as crypto from 'node:crypto';
import type { WebSocket } from 'ws';
import { DocServer, ERR, ok, type DocExchangeOptions, type RestAnswer, type RestRequest } from './common';

const HOUR_MS = 60 * 60 * 1000;

export class PortfolioMarginDocExchange extends DocServer {
  /** The algo ids pushed. */
  readonly pushed: number[] = [];
  /** Each stream connection: its listenKey and whether it was valid. */
  readonly streams: Array<{ listenKey: string; valid: boolean }> = [];
  private listenKey: { key: string; expires: number } | null = null;
  private nextAlgoId = 2148627;

  private constructor(opts: DocExchangeOptions) {
    super(opts);
  }

  static async start(opts: DocExchangeOptions): Promise<PortfolioMarginDocExchange> {
    const x = new PortfolioMarginDocExchange(opts);
    await x.listen();
    return x;
  }

  /** The stream base as the account's `wsUrl` (custom environment): fstream's root. */
  get wsUrl(): string {
    return `ws://${this.origin}`;
  }

  protected rest(req: RestRequest): RestAnswer {
    if (req.path === '/fapi/v1/time') return ok({ serverTime: Date.now() });
    if (req.path === '/papi/v1/listenKey') return this.listenKeyCall(req);
    const denied = this.signed(req);
    if (denied) return denied;
    if (req.method !== 'GET') return ERR.unknownPath();
    const lists = [
      '/papi/v1/um/openOrders', '/papi/v1/cm/openOrders', '/papi/v1/margin/openOrders', '/papi/v1/um/algo/openAlgoOrders',
      '/papi/v1/um/userTrades', '/papi/v1/cm/userTrades', '/papi/v1/margin/myTrades',
    ];
    if (lists.includes(req.path)) return ok([]);
    const now = Date.now();
    if (req.path === '/papi/v1/balance') {
      return ok([{
        asset: 'USDT', totalWalletBalance: '122607.35137903', crossMarginAsset: '92.27530794', crossMarginBorrowed: '10.00000000',
        crossMarginFree: '100.00000000', crossMarginInterest: '0.72469206', crossMarginLocked: '3.00000000', umWalletBalance: '0.00000000',
        umUnrealizedPNL: '23.72469206', cmWalletBalance: '23.72469206', cmUnrealizedPNL: '', updateTime: now, negativeBalance: '0',
      }]);
    }
    if (req.path === '/papi/v1/um/account') return ok({ assets: [], positions: [] });
    if (req.path === '/papi/v1/cm/account') return ok({ assets: [], positions: [] });
    return ERR.unknownPath();
  }

  private listenKeyCall(req: RestRequest): RestAnswer {
    const denied = this.apiKeyOnly(req);
    if (denied) return denied;
    const now = Date.now();
    const active = this.listenKey && this.listenKey.expires > now ? this.listenKey : null;
    if (req.method === 'POST') {
      this.listenKey = { key: active?.key ?? crypto.randomBytes(32).toString('hex'), expires: now + HOUR_MS };
      return ok({ listenKey: this.listenKey.key });
    }
    if (req.method === 'PUT') {
      if (!active) return ERR.badListenKey();
      active.expires = now + HOUR_MS;
      return ok({ listenKey: active.key });
    }
    if (req.method === 'DELETE') {
      this.listenKey = null;
      return ok({});
    }
    return ERR.unknownPath();
  }

  private stream(url: URL): { listenKey: string } | null {
    const m = /^\/pm\/ws\/([^/]+)$/.exec(url.pathname);
    return m ? { listenKey: m[1] } : null;
  }

  protected acceptsUpgrade(url: URL): boolean {
    return this.stream(url) !== null;
  }

  protected connected(ws: WebSocket, url: URL): void {
    const s = this.stream(url);
    if (!s) return;
    const valid = !!this.listenKey && this.listenKey.key === s.listenKey && this.listenKey.expires > Date.now();
    this.streams.push({ ...s, valid });
    ws.ping(crypto.randomBytes(4).toString('hex'));
    if (!valid) return;
    const now = Date.now();
    const aid = this.nextAlgoId++;
    this.pushed.push(aid);
    ws.send(JSON.stringify({
      e: 'ALGO_UPDATE',
      T: now,
      E: now,
      fs: 'UM',
      ao: {
        caid: 'Q5xaq5EGKgXXa0fD7fs0Ip', aid, at: 'CONDITIONAL', o: 'TAKE_PROFIT', s: 'BNBUSDT', S: 'SELL', ps: 'BOTH', f: 'GTC',
        q: '0.01', X: 'NEW', ai: '', ap: '0.00000', aq: '0.00000', act: '0', tp: '750', p: '750', V: 'EXPIRE_MAKER',
        wt: 'CONTRACT_PRICE', pm: 'NONE', cp: false, pP: false, R: false, tt: 0, gtd: 0, rm: '', ia: false,
      },
    }));
  }
}
