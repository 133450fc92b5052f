/**
 * One WebSocket connection with liveness: records the time of every frame (message, ping, pong),
 * sends our own ping every CLIENT_PING_INTERVAL_MS and drops the socket when no frame at all (its
 * pong or anything else) arrived within PONG_TIMEOUT_MS of a ping leaving: a silently dead
 * (half-open) link is dropped at most HALF_OPEN_DETECTION_MS after its last frame, and the manager
 * replaces it (first reconnect within a second, re-subscription, gap) within 10 s. A second guard,
 * the silence watchdog, terminates the socket when no frame arrived for `silenceTimeoutMs`.
 * Server pings are answered by `ws` automatically.
 *
 * An incomplete message counts as silence (issue 24, the fragment slow-loris): a server that opens a
 * fragmented message (a first frame without FIN) and never finishes it, while it answers our pings
 * (control frames may come between fragments), would keep the link "alive" with nothing readable.
 * While a message stays incomplete, the watchdog measures from when it was first seen incomplete,
 * whatever control frames arrive: longer than `silenceTimeoutMs` and the socket is terminated
 * ('watchdog'), like a half-open one. (A single frame whose payload stops half-way needs nothing
 * more: no pong can pass it, so the pong deadline trips.) Whether a fragmented message is open is
 * read from `ws`' receiver (version pinned in package.json; test/transport covers it).
 *
 * A third watch, for streams that open but are not served (a URL form the host accepts and then
 * leaves silent: it answers our pings, so neither guard above trips): with `serverSilentAfterMs`
 * set, `onServerSilent` is called once when the server itself sent nothing (no message, not one of
 * its pings; pongs to our pings do not count) for that long since the connection opened, and
 * `onServerHeard` when its first frame then arrives.
 *
 * The handshake has a hard total deadline (`handshakeTimeoutMs`): `ws`' own handshakeTimeout is a
 * socket idle timeout that a server trickling one byte a second restarts forever.
 *
 * Reads in bounded bursts: after MAX_FRAMES_PER_TURN frames in one turn of the event loop, reading
 * pauses until the loop has run the work those frames queued (Node-RED delivers every message in a
 * later turn, via setImmediate). Without this, Node reads up to 32 × 64 KB from a busy socket in one
 * turn (thousands of frames), and every one of them waits parsed in memory for its delivery: a
 * replay or burst then costs memory and garbage-collection time instead of flowing through.
 *
 * Nothing here throws out of a socket handler: callback exceptions are caught and logged.
 */
import WebSocket from 'ws';
import { flushWarnings, limitedLog } from '../exchange/log-limit';
import { parseRetryAfter } from '../exchange/backoff';
import { BinanceApiError } from './rest';
import { truncate } from '../exchange/redact';
import type { Logger } from '../types';

/**
 * Our own pings, and how long we wait for an answer. Binance's rules (developers.binance.com, read
 * 2026-07; /work/shared/binance-user-data-reference.md §1.5 and §4.2):
 *  - WebSocket API (spot, margin): the server pings every 20 s and drops a client that does not pong
 *    within a minute; unsolicited pongs are allowed but do not keep the link alive
 *    (binance-spot-api-docs/web-socket-api/general-api-information). Client pings are answered.
 *  - USDⓈ-M / COIN-M streams: the server pings every 3 minutes, pong within 10 minutes; a
 *    connection may receive at most 10 incoming messages per second, ping/pong frames included
 *    (derivatives/usds-margined-futures/websocket-market-streams and
 *    derivatives/coin-margined-futures/websocket-market-streams); beyond it the connection is
 *    dropped and repeat offenders' IPs banned.
 * One ping every 4 s is 0.25 messages/s: 2.5 % of the futures limit, and the user-data streams
 * send us nothing else (we send no other frames on a futures stream; on the WS API only the
 * occasional subscribe / unsubscribe request).
 */
export const CLIENT_PING_INTERVAL_MS = 4_000;
/** No frame at all within this long after our ping left → the link is dead. */
export const PONG_TIMEOUT_MS = 4_000;
/**
 * The guarantee: a socket that silently stopped delivering is dropped at most this long after its
 * last frame (a ping answered just before the link died, the next ping, its timeout). With the
 * first reconnect within a second (backoff.ts) the stream is replaced within 10 s.
 */
export const HALF_OPEN_DETECTION_MS = CLIENT_PING_INTERVAL_MS + PONG_TIMEOUT_MS;
/** Hard total deadline of a WebSocket handshake (TCP, TLS, HTTP upgrade), default. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Largest frame accepted; a bigger one closes the connection (1009). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/**
 * Event-loop turns that must have passed since our ping left before its timeout may drop the
 * socket: a pong that is already in the socket buffer (e.g. after a long synchronous stretch of
 * the event loop) gets read first. Costs a few microseconds per ping.
 */
const PONG_GRACE_TURNS = 20;

function afterTurns(n: number, fn: () => void): void {
  if (n <= 0) fn();
  else setImmediate(() => afterTurns(n - 1, fn));
}

export interface WsConnectionOptions {
  url: string;
  /** Watchdog: terminate when no frame of any kind arrived for longer than this. */
  silenceTimeoutMs: number;
  /** Interval of our own pings (CLIENT_PING_INTERVAL_MS). */
  pingIntervalMs: number;
  /** How long after a ping some frame must arrive (PONG_TIMEOUT_MS). */
  pongTimeoutMs?: number;
  logger: Logger;
  /** Short label for logs (no secrets), e.g. 'ws-api#3'. */
  label: string;
  signal?: AbortSignal;
  /** Hard total deadline of the handshake (HANDSHAKE_TIMEOUT_MS). */
  handshakeTimeoutMs?: number;
  /** Redacts secrets from texts taken from the server (handshake error bodies). */
  redact?: (text: string) => string;
  /** Call onServerSilent when the server sent nothing of its own (message, ping) for this long after opening. */
  serverSilentAfterMs?: number;
}

export interface CloseInfo {
  /** 'watchdog', 'server-close', 'error', 'closed' (by us) or the reason passed to terminate(). */
  reason: string;
  code?: number;
  /** Time of the last frame received. */
  lastFrameAt: number;
}

/**
 * Frames handled in one turn of the event loop before reading pauses until the next turn
 * (the frames of the socket chunk being parsed still arrive; at most one 64 KB chunk more).
 */
export const MAX_FRAMES_PER_TURN = 64;
/** Frames kept while a new connection's handler is not set yet (normally none, or the first few). */
export const MAX_EARLY_FRAMES = 1_000;

function toText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export class WsConnection {
  readonly openedAt: number;
  lastFrameAt: number;
  /**
   * Called for every text frame (binary frames are reported as text too, after a warning). Frames
   * that arrive before it is set are kept and handed to it, in order, right after it is set: the
   * chunk that carries the handshake's answer can carry the first frames too (a futures stream
   * pushes events as soon as it is open), and they are read before open()'s caller resumes.
   */
  get onMessage(): ((text: string) => void) | undefined {
    return this.handler;
  }
  set onMessage(cb: ((text: string) => void) | undefined) {
    this.handler = cb;
    if (cb && this.early.length > 0) queueMicrotask(() => this.drainEarly());
  }
  /** Called exactly once when the connection is over. */
  onClose: ((info: CloseInfo) => void) | undefined;
  /** Called once when the server sent nothing of its own for `serverSilentAfterMs` since opening. */
  onServerSilent: (() => void) | undefined;
  /** Called when the server's first frame (message or ping) arrives after onServerSilent. */
  onServerHeard: (() => void) | undefined;
  /** Time of the server's first frame of its own (a message or one of its pings; not a pong), if any. */
  firstServerFrameAt: number | undefined;

  private handler: ((text: string) => void) | undefined;
  /** Frames received while no handler was set (at most MAX_EARLY_FRAMES). */
  private early: string[] = [];
  private liveness: ReturnType<typeof setInterval> | undefined;
  private pingTimer: ReturnType<typeof setTimeout> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private endReason: string | undefined;
  private silentReported = false;
  private closed = false;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private framesThisTurn = 0;
  private pausedForTurn = false;
  /** Messages completed so far, and since when the current one has been seen incomplete (if so). */
  private messagesDone = 0;
  private incompleteSince: number | undefined;
  private incompleteAfter = 0;
  private readonly endTurn = (): void => {
    this.framesThisTurn = 0;
    if (this.pausedForTurn) {
      this.pausedForTurn = false;
      this.ws.resume();
    }
  };

  private constructor(
    private readonly ws: WebSocket,
    private readonly opts: WsConnectionOptions,
  ) {
    this.openedAt = Date.now();
    this.lastFrameAt = this.openedAt;
    this.closedPromise = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
    ws.on('message', (data, isBinary) => {
      this.lastFrameAt = Date.now();
      this.messagesDone++;
      this.heard();
      if (++this.framesThisTurn === 1) setImmediate(this.endTurn);
      else if (this.framesThisTurn === MAX_FRAMES_PER_TURN) {
        this.pausedForTurn = true;
        ws.pause();
      }
      if (isBinary) limitedLog(this.opts.logger, `${this.opts.label}: unexpected binary frame`, `${this.opts.label}: unexpected binary frame (${toText(data).length} bytes)`);
      if (!this.handler || this.early.length > 0) {
        // no handler yet (or earlier frames still waiting for it): keep the order
        if (this.early.length < MAX_EARLY_FRAMES) this.early.push(toText(data));
        else limitedLog(this.opts.logger, `${this.opts.label}: early frame dropped`, `${this.opts.label}: frame dropped: ${MAX_EARLY_FRAMES} frames arrived before a handler was set`);
        return;
      }
      this.deliver(toText(data));
    });
    ws.on('ping', () => {
      this.lastFrameAt = Date.now();
      this.heard();
    });
    ws.on('pong', () => {
      this.lastFrameAt = Date.now();
    });
    ws.on('error', (err) => {
      this.opts.logger.debug(`${this.opts.label}: socket error: ${err?.message ?? String(err)}`);
      this.endReason ??= 'error';
    });
    ws.on('close', (code) => this.finish(code));
    const tick = Math.max(250, Math.min(5_000, Math.floor(opts.silenceTimeoutMs / 4)));
    this.liveness = setInterval(() => this.checkSilence(), tick);
    this.schedulePing(opts.pingIntervalMs);
  }

  /**
   * Opens a connection. Rejects with BinanceApiError: kind 'network' for connection failures,
   * or per HTTP status when the handshake is refused (429/418 with Retry-After, 401, 5xx ...).
   */
  static open(opts: WsConnectionOptions): Promise<WsConnection> {
    return new Promise<WsConnection>((resolve, reject) => {
      let settled = false;
      let ws: WebSocket;
      const deadlineMs = opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
      // Real time on purpose (not setTimeout): it bounds I/O, whatever a test does with the clock.
      const deadline = AbortSignal.timeout(Math.max(1, deadlineMs));
      const onDeadline = (): void =>
        fail(new BinanceApiError(`WebSocket handshake not completed within ${Math.round(deadlineMs / 100) / 10} s`, { kind: 'network' }));
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener('abort', onAbort);
        deadline.removeEventListener('abort', onDeadline);
        try {
          ws?.terminate();
        } catch {
          // ignore
        }
        reject(err);
      };
      const onAbort = (): void => fail(new BinanceApiError('connection attempt aborted', { kind: 'network' }));
      if (opts.signal?.aborted) {
        reject(new BinanceApiError('connection attempt aborted', { kind: 'network' }));
        return;
      }
      try {
        ws = new WebSocket(opts.url, {
          handshakeTimeout: deadlineMs,
          perMessageDeflate: false,
          followRedirects: false,
          maxPayload: MAX_FRAME_BYTES,
        });
      } catch (err) {
        reject(new BinanceApiError(`cannot open WebSocket: ${(err as Error).message}`, { kind: 'request' }));
        return;
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      deadline.addEventListener('abort', onDeadline, { once: true });
      ws.on('unexpected-response', (req, res) => {
        const status = res.statusCode ?? 0;
        const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
        // Read a small error body ({code, msg}) when there is one, then give up on the request.
        const chunks: Buffer[] = [];
        let size = 0;
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          let code: number | undefined;
          let msg = '';
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: unknown; msg?: unknown };
            if (typeof body.code === 'number') code = body.code;
            // redact before cutting: a secret cut in two would no longer be found
            if (typeof body.msg === 'string') msg = ` ${truncate(opts.redact ? opts.redact(body.msg) : body.msg, 200)}`;
          } catch {
            // not JSON: status only
          }
          req.destroy();
          fail(
            new BinanceApiError(`WebSocket handshake refused: HTTP ${status}${code !== undefined ? ` ${code}` : ''}${msg}`, {
              httpStatus: status,
              code,
              retryAfterMs,
            }),
          );
        };
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 8_192) chunks.push(c);
          else finish();
        });
        res.on('end', finish);
        res.on('close', finish);
        res.on('error', finish);
      });
      ws.on('error', (err: Error & { code?: string }) => {
        fail(new BinanceApiError(`WebSocket connection failed (${err.code ?? err.message})`, { kind: 'network' }));
      });
      ws.on('close', (code) => fail(new BinanceApiError(`WebSocket closed during the handshake (${code})`, { kind: 'network' })));
      ws.once('open', () => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener('abort', onAbort);
        deadline.removeEventListener('abort', onDeadline);
        ws.removeAllListeners('unexpected-response');
        ws.removeAllListeners('error');
        ws.removeAllListeners('close');
        resolve(new WsConnection(ws, opts));
      });
    });
  }

  private deliver(text: string): void {
    const cb = this.handler;
    if (!cb) return;
    try {
      cb(text);
    } catch (err) {
      this.opts.logger.error(`${this.opts.label}: message handler failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  private drainEarly(): void {
    while (this.handler && this.early.length > 0) this.deliver(this.early.shift() as string);
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a text frame; false if the socket is not open. */
  send(text: string): boolean {
    if (!this.isOpen) return false;
    try {
      this.ws.send(text, (err) => {
        if (err) this.opts.logger.debug(`${this.opts.label}: send failed: ${err.message}`);
      });
      return true;
    } catch (err) {
      this.opts.logger.debug(`${this.opts.label}: send failed: ${(err as Error).message}`);
      return false;
    }
  }

  /** Graceful close; terminates if the close handshake does not finish within `waitMs`. */
  async close(waitMs = 1_000): Promise<void> {
    if (this.closed) return;
    this.endReason ??= 'closed';
    try {
      this.ws.close(1000);
    } catch {
      this.ws.terminate();
    }
    let h: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.closedPromise,
      new Promise<void>((resolve) => {
        h = setTimeout(resolve, waitMs);
      }),
    ]);
    if (h) clearTimeout(h);
    if (!this.closed) {
      this.ws.terminate();
      await this.closedPromise;
    }
  }

  /** Drops the connection at once. */
  terminate(reason: string): void {
    if (this.closed) return;
    this.endReason ??= reason;
    this.stopLiveness();
    try {
      this.ws.terminate();
    } catch {
      // ignore
    }
  }

  /** Resolves once the socket is closed. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  /** The server sent a frame of its own: the first one ends a reported silence. */
  private heard(): void {
    if (this.firstServerFrameAt !== undefined) return;
    this.firstServerFrameAt = Date.now();
    if (this.silentReported) this.callSafe(this.onServerHeard, 'server-heard');
  }

  private callSafe(cb: (() => void) | undefined, what: string): void {
    if (!cb) return;
    try {
      cb();
    } catch (err) {
      this.opts.logger.error(`${this.opts.label}: ${what} handler failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  private checkSilence(): void {
    if (this.closed) return;
    const now = Date.now();
    const quietMs = this.opts.serverSilentAfterMs;
    if (quietMs !== undefined && !this.silentReported && this.firstServerFrameAt === undefined && now - this.openedAt > quietMs) {
      this.silentReported = true;
      this.callSafe(this.onServerSilent, 'server-silent');
    }
    if (this.messageIncomplete()) {
      if (this.incompleteSince === undefined || this.incompleteAfter !== this.messagesDone) {
        // first seen incomplete (or another message completed since the last look: a new one)
        this.incompleteSince = now;
        this.incompleteAfter = this.messagesDone;
      } else if (now - this.incompleteSince > this.opts.silenceTimeoutMs) {
        this.opts.logger.warn(
          `${this.opts.label}: a fragmented message has stayed incomplete for ${Math.round((now - this.incompleteSince) / 1000)} s (limit ${Math.round(this.opts.silenceTimeoutMs / 1000)} s): reconnecting`,
        );
        this.terminate('watchdog');
        return;
      }
    } else {
      this.incompleteSince = undefined;
    }
    if (now - this.lastFrameAt > this.opts.silenceTimeoutMs) {
      this.opts.logger.warn(
        `${this.opts.label}: no frame for ${Math.round((now - this.lastFrameAt) / 1000)} s (limit ${Math.round(this.opts.silenceTimeoutMs / 1000)} s): reconnecting`,
      );
      this.terminate('watchdog');
    }
  }

  /** True while `ws` holds the first fragments of a message whose last fragment has not come. */
  private messageIncomplete(): boolean {
    const receiver = (this.ws as unknown as { _receiver?: { _fragmented?: unknown } | null })._receiver;
    const opcode = receiver?._fragmented;
    return typeof opcode === 'number' && opcode !== 0;
  }

  private schedulePing(delayMs: number): void {
    if (this.closed) return;
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      this.pingTimer = undefined;
      this.sendPing();
    }, Math.max(0, delayMs));
  }

  /**
   * Sends our ping; some frame must arrive within the pong timeout, counted from the moment the
   * ping has left (its write callback), so that the time the event loop itself was busy never
   * counts against the link. A ping that cannot even be written is left to the silence watchdog.
   */
  private sendPing(): void {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return;
    const timeoutMs = this.opts.pongTimeoutMs ?? PONG_TIMEOUT_MS;
    try {
      this.ws.ping(undefined, undefined, (err?: Error) => {
        if (err || this.closed) return;
        const sentAt = Date.now();
        // Decided when the timeout has passed AND the event loop has had PONG_GRACE_TURNS turns
        // to read what arrived (whichever comes last): time the loop was busy elsewhere, or a clock
        // that jumped, never counts against the link.
        let timedOut = false;
        let turnsDone = false;
        afterTurns(PONG_GRACE_TURNS, () => {
          turnsDone = true;
          if (timedOut) this.checkPong(sentAt, timeoutMs);
        });
        this.pongTimer = setTimeout(() => {
          this.pongTimer = undefined;
          timedOut = true;
          if (turnsDone) this.checkPong(sentAt, timeoutMs);
        }, timeoutMs);
      });
    } catch {
      // closing: the close handler follows
    }
  }

  private checkPong(sentAt: number, timeoutMs: number): void {
    if (this.closed) return;
    if (this.lastFrameAt >= sentAt) {
      // alive: the next ping one interval after this one
      this.schedulePing(Math.max(0, this.opts.pingIntervalMs - (Date.now() - sentAt)));
      return;
    }
    this.opts.logger.warn(
      `${this.opts.label}: no pong or other frame within ${Math.round(timeoutMs / 100) / 10} s of our ping (half-open link): reconnecting`,
    );
    this.terminate('watchdog');
  }

  private stopLiveness(): void {
    if (this.liveness !== undefined) clearInterval(this.liveness);
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    if (this.pongTimer !== undefined) clearTimeout(this.pongTimer);
    this.liveness = undefined;
    this.pingTimer = undefined;
    this.pongTimer = undefined;
  }

  private finish(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.stopLiveness();
    flushWarnings(this.opts.logger, this.opts.label);
    const reason = this.endReason ?? 'server-close';
    this.resolveClosed();
    const cb = this.onClose;
    if (!cb) return;
    try {
      cb({ reason, code, lastFrameAt: this.lastFrameAt });
    } catch (err) {
      this.opts.logger.error(`${this.opts.label}: close handler failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }
}
