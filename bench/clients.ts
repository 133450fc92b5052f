/**
 * The clients compared side by side on the same simulator, in the same process:
 *  - `baseline`: bare `ws` + `JSON.parse`, counting executionReport events (the floor cost of
 *    reading the stream at all);
 *  - `Node-RED floor`: the same bare client handing every parsed event to a plain Node-RED node
 *    (`bench-source`) that sends it to the sink: the floor of one Node-RED message per event;
 *  - `ours, core only`: the shared recovering stream through `openAccountStream` (the core every
 *    adapter uses: watchdog, overlap and fill de-duplication, recovery bookkeeping, persisted
 *    cursors), counted at its `event`, no Node-RED;
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
import { endAllGraces, MemoryStateStore, openAccountStream, type AccountStream, type UserDataEvent } from '../nodes/lib/index';
import { accountNode, accountPositionNode, balanceUpdateNode, orderUpdateNode, sinkNode, sourceNode, TAB, type EmbeddedRed } from './red-runtime';
import type { Mix, SimAccount, SimInfo } from './sim-child';

export type Hit = (clientOrderId: unknown) => void;

export interface StreamClient {
  readonly name: string;
  /** Connects and subscribes; resolves once events can flow. `hit` once per event of the mix delivered to the user. */
  connect(acct: SimAccount, hit: Hit, mix?: Mix): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------- baseline

export class BaselineClient implements StreamClient {
  readonly name: string = 'baseline (ws + JSON.parse)';
  private ws: WebSocket | undefined;

  constructor(protected readonly info: SimInfo) {}

  async connect(acct: SimAccount, hit: Hit): Promise<void> {
    await this.open(acct, (ev) => hit(ev.c));
  }

  protected async open(acct: SimAccount, deliver: (ev: { e?: string; c?: unknown }) => void): Promise<void> {
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
        // every user-data event (each mix sends only the types its user wants)
        if (ev.e !== undefined) deliver(ev);
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

// ---------------------------------------------------------------------------- Node-RED floor

/**
 * The bare client's parsed events, each sent as one Node-RED message by a plain node to the sink:
 * what Node-RED's own message passing costs on top of reading the stream (no node of ours).
 */
export class RedFloorClient extends BaselineClient {
  override readonly name = 'Node-RED floor (bare client -> plain node -> sink)';

  constructor(
    private readonly red: EmbeddedRed,
    info: SimInfo,
  ) {
    super(info);
  }

  override async connect(acct: SimAccount, hit: Hit): Promise<void> {
    this.red.sink = (msg) => hit((msg.payload as { c?: unknown }).c);
    await this.red.deploy([TAB, sourceNode('src', ['sink']), sinkNode('sink')]);
    const g = globalThis as { __benchSource?: (p: unknown) => void };
    const start = Date.now();
    while (!g.__benchSource && Date.now() - start < 5_000) await new Promise((r) => setTimeout(r, 5));
    const source = g.__benchSource;
    if (!source) throw new Error('bench-source node did not start');
    await this.open(acct, source);
  }

  override async close(): Promise<void> {
    await super.close();
    await this.red.deploy([TAB]);
    this.red.sink = undefined;
  }
}

// ---------------------------------------------------------------------------- ours, core only

/**
 * The core without Node-RED: `openAccountStream` with a persisted store, recovery on (the
 * defaults), one consumer; counted at the reliable stream's `event`.
 */
export class CoreClient implements StreamClient {
  readonly name = 'ours, core only (openAccountStream)';
  private handle: AccountStream | undefined;

  constructor(private readonly info: SimInfo) {}

  async connect(acct: SimAccount, hit: Hit): Promise<void> {
    const handle = openAccountStream(
      { market: 'spot', environment: 'custom', restUrl: this.info.restUrl, wsUrl: this.info.wsApiUrl, keyType: 'hmac', credentials: { apiKey: acct.apiKey, apiSecret: acct.apiSecret } },
      { store: new MemoryStateStore() },
    );
    this.handle = handle;
    handle.stream.on('event', (e: UserDataEvent) => hit(e.raw.c));
    handle.acquire('bench');
    const start = Date.now();
    while (handle.currentState.state !== 'connected') {
      if (Date.now() - start > 15_000) throw new Error(`core stream did not connect (state ${handle.currentState.state})`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (!h) return;
    await h.close();
    await endAllGraces();
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

  async connect(acct: SimAccount, hit: Hit, mix: Mix = 'lifecycle'): Promise<void> {
    this.red.sink = (msg) => hit((msg.payload as { clientOrderId?: unknown }).clientOrderId);
    // the node(s) a user of the mix's events would wire: orders, or balances and positions
    const consumers =
      mix === 'balances' ? [balanceUpdateNode('bu', 'acct', ['sink']), accountPositionNode('ap', 'acct', ['sink'])] : [orderUpdateNode('ou', 'acct', ['sink'])];
    const flow = [
      TAB,
      { ...accountNode('acct', 'bench account', this.info.restUrl, this.info.wsApiUrl), ...this.accountProps, credentials: { apiKey: acct.apiKey, apiSecret: acct.apiSecret } },
      ...consumers,
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
      ws.on('formattedUserDataMessage', (m) => hit(m.newClientOrderId));
    } else {
      ws.on('message', (m) => {
        const ev = (m.event ?? m) as { e?: string; c?: unknown };
        if (ev.e !== undefined) hit(ev.c);
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
