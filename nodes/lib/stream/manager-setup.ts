/**
 * What a StreamManager is built from: the account's endpoints, signer and recvWindow checked
 * (a problem becomes the manager's configuration error, shown as a red status at start), the one
 * RestClient every REST call of the account goes through, and the transport of its venue.
 */
import { resolveEndpoints, type ResolvedEndpoints } from '../exchange/endpoints';
import type { Redactor } from '../exchange/redact';
import { REST } from '../exchange/facts';
import { createSigner, type Signer } from '../exchange/signing';
import { RestClient } from '../transport/rest';
import type { Transport, TransportContext } from '../transport/transport';
import { FuturesTransport } from '../transport/transport-futures';
import { MarginTransport } from '../transport/transport-margin';
import { SpotTransport } from '../transport/transport-spot';
import { CLIENT_PING_INTERVAL_MS } from '../transport/ws-connection';
import type { AccountConfig, Logger } from '../types';
import { asError } from '../util';

export const DEFAULT_ROTATE_AFTER_MS = 23 * 3_600_000;
export const DEFAULT_WATCHDOG_MARGIN_MS = 10_000;
export const DEFAULT_RECV_WINDOW_MS = 5_000;
export const MAX_RECV_WINDOW_MS = 60_000;

/** Why a recvWindow (ms) is not allowed, or undefined when it is: the one rule for it. */
export function recvWindowProblem(ms: number): string | undefined {
  return Number.isFinite(ms) && ms > 0 && ms <= MAX_RECV_WINDOW_MS ? undefined : `recvWindow must be between 1 and ${MAX_RECV_WINDOW_MS} ms`;
}

export interface ManagerPlumbing {
  endpoints: ResolvedEndpoints | undefined;
  /** The first problem of the configuration (endpoints, key, recvWindow), if any. */
  configError: Error | undefined;
  rest: RestClient;
}

/** Checks the configuration and builds the account's RestClient (never throws). */
export function buildPlumbing(
  config: AccountConfig,
  redactor: Redactor,
  opts: { signer?: Signer; restTimeoutMs?: number },
): ManagerPlumbing {
  const c = config.credentials ?? { apiKey: '' };
  let endpoints: ResolvedEndpoints | undefined;
  let configError: Error | undefined;
  let signer: Signer | Error;
  try {
    endpoints = resolveEndpoints(config);
  } catch (err) {
    configError = asError(err);
  }
  try {
    signer = opts.signer ?? createSigner(config.keyType, c);
  } catch (err) {
    signer = asError(err);
    configError ??= signer;
  }
  const recvWindow = config.recvWindow ?? DEFAULT_RECV_WINDOW_MS;
  const recvProblem = recvWindowProblem(recvWindow);
  if (recvProblem) configError ??= new Error(recvProblem);
  const rest = new RestClient({
    baseUrl: endpoints?.restUrl ?? 'http://invalid.invalid',
    apiKey: c.apiKey ?? '',
    signer: configError ?? signer,
    recvWindow,
    timePath: endpoints?.timePath ?? REST.spot.time.path,
    redactor,
    timeoutMs: opts.restTimeoutMs,
  });
  return { endpoints, configError, rest };
}

/** The transport of the account's venue. */
export function createTransport(
  config: AccountConfig,
  endpoints: ResolvedEndpoints,
  deps: { rest: RestClient; redactor: Redactor; logger: Logger; nextSessionId(): number },
): Transport {
  const margin = config.watchdogMarginMs;
  const marginMs = typeof margin === 'number' && Number.isFinite(margin) && margin >= 0 ? margin : DEFAULT_WATCHDOG_MARGIN_MS;
  const ctx: TransportContext = {
    config,
    endpoints,
    rest: deps.rest,
    redactor: deps.redactor,
    logger: deps.logger,
    silenceTimeoutMs: endpoints.serverPingIntervalMs + marginMs,
    // half-open links are found by our pings within HALF_OPEN_DETECTION_MS (ws-connection.ts)
    clientPingIntervalMs: Math.min(endpoints.serverPingIntervalMs, CLIENT_PING_INTERVAL_MS),
    nextSessionId: deps.nextSessionId,
  };
  switch (endpoints.market) {
    case 'spot':
      return new SpotTransport(ctx);
    case 'margin':
    case 'isolated-margin':
      return new MarginTransport(ctx);
    default:
      return new FuturesTransport(ctx);
  }
}
