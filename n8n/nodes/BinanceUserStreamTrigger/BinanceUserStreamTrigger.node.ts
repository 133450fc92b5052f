/**
 * *Binance User Stream Trigger*: a Binance account's user-data stream as workflow executions, on
 * the same core as the Node-RED nodes (`openAccountStream`: one shared connection per key and
 * market, however many workflows listen; reconnects, key rotation, gap recovery).
 *
 * Lifecycle: activation opens a reliable stream of this workflow's own (its delivery pipeline,
 * cursors and recovery) over the account's one shared connection, and acquires the connection
 * for this node; every wanted event becomes one emit (one execution); `closeFunction` closes the
 * workflow's stream and releases the connection, and the account's last consumer closes sockets
 * and timers at once (no redeploy grace: n8n has no deploy to adopt it). A workflow activated
 * again gets what was made while it was inactive from its own cursors. In manual mode ("Listen
 * for test event") the next wanted event is emitted and n8n then closes the trigger. Recovery
 * cursors live in the node's workflow static data (static-data-store.ts), written through at
 * each emit; manual runs use none, so a test never moves them.
 */
import {
  NodeConnectionTypes,
  NodeOperationError,
  type ICredentialDataDecryptedObject,
  type ICredentialTestFunctions,
  type ICredentialsDecrypted,
  type IDataObject,
  type INodeCredentialTestResult,
  type INodeType,
  type INodeTypeDescription,
  type ITriggerFunctions,
  type ITriggerResponse,
} from 'n8n-workflow';
import {
  AccountSettingsError,
  MARKETS,
  checkKey,
  errText,
  openAccountStream,
  type AccountSettings,
  type AccountStream,
  type ReliableStateChange,
  type UserDataEvent,
} from '../../../nodes/lib';
import { makeSelector, type EventChoice } from './events';
import { StaticDataStore } from './static-data-store';
import { keyCheckText, silentStreamText, stateProblem } from './texts';

const MARKET_NAMES: Record<string, string> = {
  spot: 'Spot',
  margin: 'Cross Margin',
  'isolated-margin': 'Isolated Margin',
  'usdm-futures': 'USDⓈ-M Futures',
  'coinm-futures': 'COIN-M Futures',
  'portfolio-margin': 'Portfolio Margin',
};

/** The core's account settings from the credentials and the node's market (and options). */
export function accountSettings(creds: ICredentialDataDecryptedObject, market: string, options: IDataObject = {}): AccountSettings {
  const s = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    market,
    environment: s(creds.environment),
    restUrl: s(creds.restUrl),
    wsUrl: s(creds.wsUrl),
    keyType: s(creds.keyType),
    symbol: s(options.isolatedSymbol),
    credentials: {
      apiKey: s(creds.apiKey),
      apiSecret: s(creds.apiSecret),
      privateKey: s(creds.privateKey),
      passphrase: s(creds.passphrase),
    },
    recovery: options.recovery === undefined ? true : options.recovery === true,
    recoverySymbols: s(options.recoverySymbols),
    lookbackHours: typeof options.lookbackHours === 'number' ? options.lookbackHours : undefined,
    liveHoldSeconds: typeof options.liveHoldSeconds === 'number' ? options.liveHoldSeconds : undefined,
    // the Node-RED account's "Stream URL": the same values, checked by the core (an unknown one is a clear error)
    futuresPathForm: s(options.futuresPathForm),
  };
}

let consumerSeq = 0;

export class BinanceUserStreamTrigger implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Binance User Stream Trigger',
    name: 'binanceUserStreamTrigger',
    icon: { light: 'file:binance.svg', dark: 'file:binance.dark.svg' },
    group: ['trigger'],
    version: 1,
    subtitle: '={{$parameter["events"] + " · " + $parameter["market"]}}',
    description: 'Starts the workflow on the order, fill, balance and position updates of a Binance account',
    defaults: { name: 'Binance User Stream Trigger' },
    inputs: [],
    outputs: [NodeConnectionTypes.Main],
    credentials: [{ name: 'binanceUserStreamApi', required: true, testedBy: 'binanceUserStreamApiTest' }],
    properties: [
      {
        displayName: 'Market',
        name: 'market',
        type: 'options',
        options: MARKETS.map((m) => ({ name: MARKET_NAMES[m] ?? m, value: m })),
        default: 'spot',
        description: 'The account of the key to listen to. One connection per key and market, shared by every workflow.',
      },
      {
        displayName: 'Isolated Margin Symbol',
        name: 'isolatedSymbol',
        type: 'string',
        default: '',
        placeholder: 'BTCUSDT',
        required: true,
        displayOptions: { show: { market: ['isolated-margin'] } },
      },
      {
        displayName: 'Events',
        name: 'events',
        type: 'options',
        options: [
          { name: 'Order Updates', value: 'orderUpdates', description: 'Spot/margin executionReport, futures ORDER_TRADE_UPDATE' },
          { name: 'Balances and Positions', value: 'accountPosition', description: 'Spot/margin outboundAccountPosition, futures ACCOUNT_UPDATE' },
          { name: 'Balance Updates', value: 'balanceUpdates', description: 'Deposits, withdrawals, transfers (balanceUpdate, futures ACCOUNT_UPDATE by reason)' },
          { name: 'Any Event Type', value: 'anyEvent', description: 'Every user-data event, by type' },
        ],
        default: 'orderUpdates',
      },
      {
        displayName: 'Order Updates To Emit',
        name: 'orderUpdates',
        type: 'options',
        options: [
          { name: 'Fills Only', value: 'fills', description: 'Execution type TRADE' },
          { name: 'All Order Updates', value: 'all', description: 'New, canceled, expired, amended and fills' },
        ],
        default: 'fills',
        displayOptions: { show: { events: ['orderUpdates'] } },
      },
      {
        displayName: 'Reasons',
        name: 'reasons',
        type: 'multiOptions',
        options: [
          { name: 'Deposit', value: 'deposit' },
          { name: 'Funding Fee', value: 'fundingFee' },
          { name: 'Transfer', value: 'transfer' },
          { name: 'Withdrawal', value: 'withdraw' },
        ],
        default: ['deposit', 'withdraw', 'transfer'],
        description: 'Futures ACCOUNT_UPDATE reasons to emit (spot balanceUpdate events always pass)',
        displayOptions: { show: { events: ['balanceUpdates'] } },
      },
      {
        displayName: 'Event Types',
        name: 'eventTypes',
        type: 'string',
        default: '',
        placeholder: 'executionReport, ACCOUNT_*',
        description: 'Comma-separated, with * and ? wildcards; empty = every type',
        displayOptions: { show: { events: ['anyEvent'] } },
      },
      {
        displayName: 'Symbols',
        name: 'symbols',
        type: 'string',
        default: '',
        placeholder: 'BTCUSDT, ETH*',
        description: 'Only events of these symbols (comma-separated, * and ? wildcards); empty = all',
        displayOptions: { show: { events: ['orderUpdates', 'anyEvent'] } },
      },
      {
        displayName: 'Assets',
        name: 'assets',
        type: 'string',
        default: '',
        placeholder: 'USDT, BTC',
        description: 'Only these assets (comma-separated, * and ? wildcards); empty = all',
        displayOptions: { show: { events: ['accountPosition', 'balanceUpdates'] } },
      },
      {
        displayName: 'Decimals',
        name: 'decimals',
        type: 'options',
        options: [
          { name: 'Strings (Exact)', value: 'strings' },
          { name: 'Numbers', value: 'numbers' },
        ],
        default: 'strings',
        description: 'Prices and quantities as Binance sends them (exact decimal strings) or as JavaScript numbers',
      },
      {
        displayName: 'Options',
        name: 'options',
        type: 'collection',
        placeholder: 'Add Option',
        default: {},
        options: [
          {
            displayName: 'Futures Stream URL',
            name: 'futuresPathForm',
            type: 'options',
            // the values of the Node-RED account's "Stream URL" (FUTURES_PATH_FORMS in the core)
            options: [
              { name: 'Default (Query With Events=)', value: '' },
              { name: 'Path: /private/ws/<listenKey>', value: 'ws-path' },
              { name: 'Query With Events=: /private/ws?listenKey=…&events=…', value: 'ws-query' },
              { name: 'Query Without Events=: /private/ws?listenKey=…', value: 'ws-query-no-events' },
            ],
            default: '',
            description:
              "USDⓈ-M futures (and COIN-M on fapi): how the stream URL is formed on fstream's /private path. Sources disagree on which form Binance serves; change it only if the stream connects but stays silent (the log then names the forms to try).",
          },
          {
            displayName: 'Hold Live Events (Seconds)',
            name: 'liveHoldSeconds',
            type: 'number',
            typeOptions: { minValue: 0, maxValue: 600 },
            default: 5,
            description: 'Longest a live event waits for a running recovery, so fills leave in exchange order',
          },
          {
            displayName: 'Look-Back (Hours)',
            name: 'lookbackHours',
            type: 'number',
            typeOptions: { minValue: 1, maxValue: 2160 },
            default: 24,
            description: 'The furthest back a recovery reaches',
          },
          {
            displayName: 'Recover Missed Fills',
            name: 'recovery',
            type: 'boolean',
            default: true,
            description: 'Whether to fetch over REST what the stream missed during a reconnect or while n8n was stopped',
          },
          {
            displayName: 'Recovery Symbols',
            name: 'recoverySymbols',
            type: 'string',
            default: '',
            placeholder: 'BTCUSDT, ETHUSDT',
            description: 'Symbols always reconciled after a gap (besides those seen or with open orders)',
          },
        ],
      },
    ],
  };

  methods = {
    credentialTest: {
      async binanceUserStreamApiTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
        // the credential has no market: the key is checked on the spot account (every key can read it)
        const r = await checkKey(accountSettings(credential.data ?? {}, 'spot'));
        return keyCheckText(r);
      },
    },
  };

  async trigger(this: ITriggerFunctions): Promise<ITriggerResponse> {
    const node = this.getNode();
    const manual = this.getMode() === 'manual';
    const market = this.getNodeParameter('market', 'spot') as string;
    const options = this.getNodeParameter('options', {}) as IDataObject;
    if (market === 'isolated-margin') options.isolatedSymbol = this.getNodeParameter('isolatedSymbol', '') as string;
    const events = this.getNodeParameter('events', 'orderUpdates') as EventChoice;
    const param = (name: string, dflt: unknown): unknown => this.getNodeParameter(name, dflt);
    const select = makeSelector({
      events,
      orderUpdates: events === 'orderUpdates' ? (param('orderUpdates', 'fills') as string) : undefined,
      reasons: events === 'balanceUpdates' ? (param('reasons', []) as string[]) : undefined,
      eventTypes: events === 'anyEvent' ? (param('eventTypes', '') as string) : undefined,
      symbols: events === 'orderUpdates' || events === 'anyEvent' ? (param('symbols', '') as string) : undefined,
      assets: events === 'accountPosition' || events === 'balanceUpdates' ? (param('assets', '') as string) : undefined,
      decimals: param('decimals', 'strings') as string,
    });
    const creds = await this.getCredentials('binanceUserStreamApi');
    const settings = accountSettings(creds, market, options);
    const log = this.logger;
    const store = manual ? undefined : new StaticDataStore(this.getWorkflowStaticData('node'));

    let account: AccountStream;
    try {
      account = openAccountStream(settings, {
        store,
        // each workflow its own stream over the account's one connection: it gets what it
        // missed while inactive from its own cursors (in its own static data)
        cursors: 'own',
        logger: {
          debug: (m) => log.debug(m),
          info: (m) => log.info(m),
          warn: (m) => log.warn(m),
          error: (m) => log.error(m),
        },
      });
    } catch (err) {
      // invalid settings (already redacted): activation fails with the Node-RED status' text
      if (err instanceof AccountSettingsError) throw new NodeOperationError(node, `Invalid Binance account configuration: ${err.message}`);
      throw new NodeOperationError(node, err instanceof Error ? err : String(err));
    }

    const consumer = `n8n:${node.id ?? node.name}:${++consumerSeq}`;
    const stream = account.stream;
    const recovery = stream.recovery;
    // n8n saves static data with each emit and after activation, never on deactivation: the
    // cursors are written through just before each emit (static-data-store.ts)
    const saveCursors = (): void => {
      if (store && recovery) store.saveNow(recovery);
    };
    const onEvent = (e: UserDataEvent): void => {
      let items;
      try {
        items = select(e);
      } catch (err) {
        log.warn(account.redact(`cannot handle ${e.eventType}: ${errText(err)}`));
        return;
      }
      if (!items.length) return;
      saveCursors();
      this.emit([items.map((json) => ({ json: json as IDataObject }))]);
    };
    // A key rejected while running: a failed execution with the Node-RED status' text. The
    // workflow stays active and the core retries the key every 5 minutes (n8n's emitError would
    // deactivate and immediately reactivate, asking Binance again at once). In manual mode the
    // test run ends with the error.
    // a stream that opened but on which Binance sends nothing: said once per connection, with the forms to try
    let silentSince: number | undefined;
    const onState = (s: ReliableStateChange): void => {
      if (s.silent && s.silent.since !== silentSince) {
        silentSince = s.silent.since;
        log.warn(account.redact(silentStreamText(s.silent)));
      }
      const problem = stateProblem(s);
      if (!problem) return;
      const error = new NodeOperationError(node, account.redact(problem));
      if (manual || typeof this.saveFailedExecution !== 'function') this.emitError(error);
      else this.saveFailedExecution(error);
    };
    stream.on('event', onEvent);
    stream.on('state', onState);
    account.acquire(consumer);
    account.resume();
    if (store) {
      // the saved state is read (the start-up recovery runs from it): in static data for the
      // save n8n makes after the activation (a workflow deactivated before its first emit
      // recovers from here)
      await stream.ready;
      saveCursors();
    }

    let closed = false;
    const closeFunction = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      // The workflow's own stream is detached at once (nothing is delivered, or counted
      // delivered, without this listener), its state written a last time (n8n does not save it);
      // the account's last consumer closes the connection.
      const closing = account.close();
      stream.removeListener('event', onEvent);
      stream.removeListener('state', onState);
      await closing;
    };
    return { closeFunction };
  }
}
