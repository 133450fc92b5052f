/**
 * A minimal Binance cross / isolated margin exchange on 127.0.0.1, written from Binance's
 * documentation alone (independently of our simulator and client). Margin user data arrives on the
 * spot WebSocket API (spot.ts) through a listenToken:
 *  - developers.binance.com/docs/margin_trading/trade-data-stream/Listen-Token-Websocket-API
 *    (stored copy, undated, read 2026-12-02):
 *    · "Create Margin Account listenToken (USER_STREAM)": `POST /sapi/v1/userListenToken`, request
 *      weight (UID) 1; parameters `symbol` (STRING, CONDITIONAL: "required when isIsolated is
 *      true"), `isIsolated` (BOOLEAN, NO; default cross margin), `validity` (LONG, NO; ms,
 *      "default 24 hours, maximum 24 hours"); "expirationTime = current time + validity";
 *      response `{"token": "…", "expirationTime": 1758792204196}`. No timestamp or signature
 *      among the parameters: USER_STREAM is the API key header only (common.ts). The page does not
 *      say what happens to a signature sent anyway: with `unreadParams: 'ignore'` it is checked (a
 *      wrong one is refused) and accepted, with `'refuse'` the request gets -1104 (errors.md);
 *      `signedTokenRequests` counts the signed requests accepted. Binance's spot rest-api.md
 *      (a5e0bc3) reads the other way ("Except for NONE, all endpoints with a security type are
 *      considered SIGNED"), which is why both are modelled.
 *    · "Subscribe to User Data Stream using listenToken (USER_STREAM)": WS API method
 *      `userDataStream.subscribe.listenToken`, params `{listenToken}`, weight 2; "Non-authenticated
 *      sessions are allowed"; "If the listenToken is invalid, an error -1209" is returned.
 *  - binance/binance-spot-api-docs a5e0bc3 (2026-07-21): sbe/schemas/spot_3_1.xml message
 *    `UserDataStreamSubscribeListenTokenResponse` (subscriptionId, expirationTime): the result is
 *    `{subscriptionId, expirationTime}`; user-data-stream.md: events in the `{subscriptionId,
 *    event}` envelope, the spot event set (executionReport, …); `eventStreamTerminated` when a
 *    listen token subscription expires (not modelled: the test ends long before).
 *  - developers.binance.com/docs/margin_trading (trade "Query Margin Account's Open Orders",
 *    "Query Margin Account's Trade List", "Query Margin Account's All Orders", USER_DATA, signed):
 *    arrays (trades: spot.ts `myTrades`); `isIsolated` "TRUE"/"FALSE" with `symbol` for isolated.
 */
import * as crypto from 'node:crypto';
import type { WebSocket } from 'ws';
import { ERR, fail, ok, type DocExchangeOptions, type RestAnswer, type RestRequest } from './common';
import { DocExchange, type WsApiRequest, type WsApiAnswer } from './spot';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * "Query Cross Margin Account Details (USER_DATA)" `GET /sapi/v1/margin/account`, weight 10 (IP),
 * the response example's shape (margin_trading/account/Query-Cross-Margin-Account-Details, stored
 * copy read 2026-12-02).
 */
function crossMarginAccount(): unknown {
  const zero = '0.00000000';
  const asset = (a: string, free: string): Record<string, string> => ({ asset: a, borrowed: zero, free, interest: zero, locked: zero, netAsset: free });
  return {
    created: true, borrowEnabled: true, marginLevel: '999.00000000', collateralMarginLevel: '999.00000000',
    totalAssetOfBtc: '0.10264410', totalLiabilityOfBtc: zero, totalNetAssetOfBtc: '0.10264410', TotalCollateralValueInUSDT: '5000.00000000',
    tradeEnabled: true, transferInEnabled: true, transferOutEnabled: true, accountType: 'MARGIN_1',
    userAssets: [asset('ETH', '1.00000000'), asset('BTC', zero)],
  };
}

export class MarginDocExchange extends DocExchange {
  /** Token requests that carried a signature (sent although the endpoint is USER_STREAM). */
  signedTokenRequests = 0;
  /** The tokens issued: token → where it streams and until when. */
  readonly tokens = new Map<string, { isolated: boolean; symbol?: string; expirationTime: number }>();

  static override async start(opts: DocExchangeOptions): Promise<MarginDocExchange> {
    const x = new MarginDocExchange(opts);
    await x.listen();
    return x;
  }

  protected override rest(req: RestRequest): RestAnswer {
    if (req.path === '/sapi/v1/userListenToken') return this.listenToken(req);
    if (req.path.startsWith('/sapi/v1/margin/')) {
      const denied = this.signed(req);
      if (denied) return denied;
      if (req.method === 'GET' && req.path === '/sapi/v1/margin/myTrades') return this.myTrades(req, true);
      if (['/sapi/v1/margin/openOrders', '/sapi/v1/margin/allOrders'].includes(req.path)) return ok([]);
      if (req.method === 'GET' && req.path === '/sapi/v1/margin/account') return ok(crossMarginAccount());
      return ERR.unknownPath();
    }
    return super.rest(req);
  }

  private listenToken(req: RestRequest): RestAnswer {
    if (req.method !== 'POST') return ERR.unknownPath();
    const denied = this.apiKeyOnly(req, ['symbol', 'isIsolated', 'validity']);
    if (denied) return denied;
    if (req.params.has('signature')) {
      const bad = this.signed(req);
      if (bad) return bad;
      this.signedTokenRequests++;
    }
    const isIsolated = req.params.get('isIsolated');
    if (isIsolated !== null && isIsolated !== 'true' && isIsolated !== 'false') return ERR.badParam('isIsolated');
    const symbol = req.params.get('symbol') ?? undefined;
    if (isIsolated === 'true' && !symbol) return ERR.missingParam('symbol');
    const validity = req.params.has('validity') ? Number(req.params.get('validity')) : DAY_MS;
    if (!Number.isInteger(validity) || validity <= 0 || validity > DAY_MS) return ERR.badParam('validity');
    const token = crypto.randomBytes(36).toString('base64');
    const expirationTime = Date.now() + validity;
    this.tokens.set(token, { isolated: isIsolated === 'true', symbol, expirationTime });
    return ok({ token, expirationTime });
  }

  protected override wsApi(ws: WebSocket, req: WsApiRequest): { reply: WsApiAnswer; then?: () => void } {
    if (req.method !== 'userDataStream.subscribe.listenToken') return super.wsApi(ws, req);
    const listenToken = req.params.listenToken;
    const grant = typeof listenToken === 'string' ? this.tokens.get(listenToken) : undefined;
    if (!grant || grant.expirationTime <= Date.now()) {
      const { body } = fail(400, -1209, 'Invalid listenToken.'); // the code is the page's, the text ours
      return { reply: { status: 400, error: body as { code: number; msg: string } } };
    }
    const subscriptionId = this.subscribe(ws);
    return {
      reply: { status: 200, result: { subscriptionId, expirationTime: grant.expirationTime } },
      then: () => this.pushFill(ws, subscriptionId, grant.isolated),
    };
  }
}
