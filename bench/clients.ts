/**
 * The three clients compared side by side on the same simulator, in the same process:
 *  - `baseline`: bare `ws` + `JSON.parse`, counting executionReport events (the floor cost of
 *    reading the stream at all);
 *  - `ours`: the `binance-order-update` node in an embedded Node-RED runtime, counted at a sink
 *    node wired to its output;
 *  - `binance-sdk`: the `binance` npm SDK's WebSocket API client (`subscribeUserDataStream`,
 *    HMAC → `userDataStream.subscribe.signature`), pointed at the simulator with `wsUrl`,
 *    counted on its beautified user-data event (`formattedUserDataMessage`, its default output).
 *
 * Every client calls `hit(clientOrderId)` once per executionReport it delivers to its user.
 */
import WebSocket from 'ws';
import { subscribeSignatureFrame } from './common';
import { accountNode, orderUpdateNode, sinkNode, TAB, type EmbeddedRed } from './red-runtime';
import type { SimAccount, SimInfo } from './sim-child';

export type Hit = (clientOrderId: unknown) => void;

export interface StreamClient {
  readonly name: string;
  /** Connects and subscribes; resolves once events can flow. */
  connect(acct: SimAccount, hit: Hit): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------- baseline

export class BaselineClient implements StreamClient {
  readonly name = 'baseline (ws + JSON.parse)';
  private ws: WebSocket | undefined;

  constructor(private readonly info: SimInfo) {}

  async connect(acct: SimAccount, hit: Hit): Promise<void> {
    const ws = new WebSocket(this.info.wsApiUrl, { perMessageDeflate: false });
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    let subscribed: (() => void) | undefined;
    let failed: ((e: Error) => void) | undefined;
    ws.on('message', (data: WebSocket.RawData) => {
      const msg = JSON.parse((data as Buffer).toString()) as { id?: string; status?: number; event?: { e?: string; c?: unknown } };
      const ev = msg.event;
      if (ev !== undefined) {
        if (ev.e === 'executionReport') hit(ev.c);
        return;
      }
      if (msg.id === 'sub') {
        if (msg.status === 200) subscribed?.();
        else failed?.(new Error(`subscribe failed: ${JSON.stringify(msg).slice(0, 200)}`));
      }
    });
    await new Promise<void>((resolve, reject) => {
      subscribed = resolve;
      failed = reject;
      ws.send(subscribeSignatureFrame('sub', acct.apiKey, acct.apiSecret, Date.now()));
    });
  }

  async close(): Promise<void> {
    const ws = this.ws;
    this.ws = undefined;
    if (!ws) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.terminate();
    });
  }
}

// ---------------------------------------------------------------------------- ours (Node-RED)

export class OurNodeClient implements StreamClient {
  readonly name: string;
  /**
   * @param accountProps extra properties of the account node, e.g. `{recovery: false}` to
   *   measure the cost of the gap-recovery layer (on by default).
   */
  constructor(
    private readonly red: EmbeddedRed,
    private readonly info: SimInfo,
    private readonly accountProps: Record<string, unknown> = {},
    label = 'ours (binance-order-update in Node-RED)',
  ) {
    this.name = label;
  }

  async connect(acct: SimAccount, hit: Hit): Promise<void> {
    this.red.sink = (msg) => hit((msg.payload as { clientOrderId?: unknown }).clientOrderId);
    const flow = [
      TAB,
      { ...accountNode('acct', 'bench account', this.info.restUrl, this.info.wsApiUrl), ...this.accountProps, credentials: { apiKey: acct.apiKey, apiSecret: acct.apiSecret } },
      orderUpdateNode('ou', 'acct', ['sink']),
      sinkNode('sink'),
    ];
    await this.red.deploy(flow);
    const start = Date.now();
    while (this.red.streamState('acct') !== 'connected') {
      if (Date.now() - start > 15_000) throw new Error(`our node did not connect (state ${this.red.streamState('acct')})`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    await this.red.deploy([TAB]);
    this.red.sink = undefined;
  }
}

// ---------------------------------------------------------------------------- binance npm SDK

interface SdkWsClient {
  on(event: string, fn: (data: Record<string, unknown>) => void): unknown;
  removeAllListeners(event?: string): unknown;
}

interface SdkApiClient {
  getWSClient(): SdkWsClient;
  subscribeUserDataStream(wsKey: string): Promise<unknown>;
  disconnectAll(): Promise<void>;
}

type SdkApiClientCtor = new (options: Record<string, unknown>, logger?: Record<string, (...a: unknown[]) => void>) => SdkApiClient;

const quietLogger = { trace: (): void => undefined, info: (): void => undefined, error: (): void => undefined };

export class SdkClient implements StreamClient {
  readonly name: string;
  private client: SdkApiClient | undefined;

  constructor(
    private readonly info: SimInfo,
    private readonly beautify: boolean,
  ) {
    this.name = beautify ? 'binance SDK 3.6.5 (beautified events)' : 'binance SDK 3.6.5 (raw events)';
  }

  async connect(acct: SimAccount, hit: Hit): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sdk = require('binance') as { WebsocketAPIClient: SdkApiClientCtor };
    const client = new sdk.WebsocketAPIClient(
      {
        api_key: acct.apiKey,
        api_secret: acct.apiSecret,
        // the SDK appends /ws-api/v3 to this base
        wsUrl: this.info.wsApiUrl.replace(/\/ws-api\/v3$/, ''),
        beautify: this.beautify,
        attachEventListeners: false,
        muteLatencyWarning: true,
        restOptions: { baseUrl: this.info.restUrl },
      },
      quietLogger,
    );
    this.client = client;
    const ws = client.getWSClient();
    ws.on('exception', () => undefined);
    if (this.beautify) {
      ws.on('formattedUserDataMessage', (m) => {
        if (m.eventType === 'executionReport') hit(m.newClientOrderId);
      });
    } else {
      ws.on('message', (m) => {
        const ev = (m.event ?? m) as { e?: string; c?: unknown };
        if (ev.e === 'executionReport') hit(ev.c);
      });
    }
    await client.subscribeUserDataStream('mainWSAPI');
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    c.getWSClient().removeAllListeners();
    await Promise.race([c.disconnectAll(), new Promise((r) => setTimeout(r, 2000))]);
  }
}
