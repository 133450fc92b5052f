/**
 * The whole balance sheet of an account, kept current: loaded over REST (the market's
 * ACCOUNT_REQUESTS entry) once the stream is connected, loaded again after every gap, and updated
 * by every balance / position event. Events that arrive while a load runs are buffered and applied
 * to the fresh sheet; a failed first load is tried again after `retryMs` (and on every gap); a load
 * asked for while one runs runs right after it.
 *
 * Emits `update` ({ sheet, eventType, raw, event? }: 'snapshot' with the REST answer after a load,
 * else the event's type) and `failed` (the error of a load; its text is not redacted here).
 */
import { EventEmitter } from 'node:events';
import { ACCOUNT_REQUESTS, accountRequestParams, applyToBalanceSheet, balanceSheetFromAccount, type BalanceSheet, type Payload } from '../normalize';
import type { ReliableStateChange, ReliableStream } from '../stream/reliable-stream';
import type { Market, UserDataEvent } from '../types';

/** Retry of a failed first load (also retried on every gap). */
export const SHEET_RETRY_MS = 30_000;

export interface SheetUpdate {
  sheet: BalanceSheet;
  /** 'snapshot' after a REST load, else the event's type. */
  eventType: string;
  /** The REST answer, or the event as the exchange sent it (a recovered one: its REST row). */
  raw: unknown;
  /** The event the update comes from (absent after a load). */
  event?: UserDataEvent;
}

export interface BalanceSheetTrackerEvents {
  update: [SheetUpdate];
  failed: [unknown];
}

export interface BalanceSheetSource {
  stream: ReliableStream;
  market: Market;
  /** Isolated-margin symbol. */
  symbol?: string;
  /** Base URL of the balance request when it is not the stream's REST host (COIN-M unified: dapi). */
  accountRestBase?: string;
}

export class BalanceSheetTracker extends EventEmitter<BalanceSheetTrackerEvents> {
  private sheet: BalanceSheet | undefined;
  private loading = false;
  private reloadWanted = false;
  private buffered: Payload[] = [];
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private readonly onState = (s: ReliableStateChange): void => {
    if (s.state === 'connected' && !this.sheet) this.load();
  };
  private readonly onGap = (): void => this.load();

  constructor(
    private readonly source: BalanceSheetSource,
    private readonly retryMs = SHEET_RETRY_MS,
  ) {
    super();
  }

  /** Follows the stream: loads once connected (now, if it is) and after every gap. */
  start(): void {
    this.source.stream.on('state', this.onState);
    this.source.stream.on('gap', this.onGap);
    if (this.source.stream.manager.state === 'connected') this.load();
  }

  /** The current sheet (undefined until the first load succeeded). */
  get current(): BalanceSheet | undefined {
    return this.sheet;
  }

  /** A balance / position event, normalised (normalizeAccountPosition): applied, or buffered while loading. */
  apply(e: UserDataEvent, payload: Payload): void {
    if (this.stopped) return;
    if (this.loading) this.buffered.push(payload);
    if (!this.sheet) return;
    applyToBalanceSheet(this.sheet, payload);
    this.emit('update', { sheet: this.sheet, eventType: e.eventType, raw: e.recovered && e.restRecord ? e.restRecord : e.raw, event: e });
  }

  /** Loads the sheet now (after the running load, if one runs). */
  load(): void {
    if (this.stopped) return;
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    if (this.loading) {
      this.reloadWanted = true;
      return;
    }
    this.loading = true;
    this.buffered = [];
    const { market, symbol, accountRestBase } = this.source;
    const req = ACCOUNT_REQUESTS[market];
    this.source.stream.manager.rest
      .request<unknown>('GET', `${accountRestBase ?? ''}${req.path}`, accountRequestParams(market, symbol), { security: 'signed', weight: req.weight })
      .then((resp) => {
        if (this.stopped) return;
        const fresh = balanceSheetFromAccount(market, resp);
        for (const p of this.buffered) applyToBalanceSheet(fresh, p);
        this.sheet = fresh;
        this.emit('update', { sheet: fresh, eventType: 'snapshot', raw: resp });
      })
      .catch((err: unknown) => {
        if (this.stopped) return;
        this.emit('failed', err);
        if (!this.sheet && this.retryTimer === undefined) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.load();
          }, this.retryMs);
        }
      })
      .finally(() => {
        this.loading = false;
        this.buffered = [];
        if (this.reloadWanted && !this.stopped) {
          this.reloadWanted = false;
          this.load();
        }
      });
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.source.stream.removeListener('state', this.onState);
    this.source.stream.removeListener('gap', this.onGap);
  }
}
