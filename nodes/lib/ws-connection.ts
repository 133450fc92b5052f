/**
 * One WebSocket connection with liveness: records the time of every frame (message, ping, pong),
 * sends our own ping periodically (so a half-open link is noticed even when the server stays
 * quiet), and terminates the socket when no frame arrived for `silenceTimeoutMs` (watchdog).
 * Server pings are answered by `ws` automatically.
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
import { BinanceApiError } from './rest';
import type { Logger } from './types';

export interface WsConnectionOptions {
  url: string;
  /** Watchdog: terminate when no frame of any kind arrived for longer than this. */
  silenceTimeoutMs: number;
  /** Interval of our own pings. */
  pingIntervalMs: number;
  logger: Logger;
  /** Short label for logs (no secrets), e.g. 'ws-api#3'. */
  label: string;
  signal?: AbortSignal;
  handshakeTimeoutMs?: number;
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

function toText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export class WsConnection {
  readonly openedAt: number;
  lastFrameAt: number;
  /** Called for every text frame (binary frames are reported as text too, after a warning). */
  onMessage: ((text: string) => void) | undefined;
  /** Called exactly once when the connection is over. */
  onClose: ((info: CloseInfo) => void) | undefined;

  private lastPingAt: number;
  private liveness: ReturnType<typeof setInterval> | undefined;
  private endReason: string | undefined;
  private closed = false;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private framesThisTurn = 0;
  private pausedForTurn = false;
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
    this.lastPingAt = this.openedAt;
    this.closedPromise = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
    ws.on('message', (data, isBinary) => {
      this.lastFrameAt = Date.now();
      if (++this.framesThisTurn === 1) setImmediate(this.endTurn);
      else if (this.framesThisTurn === MAX_FRAMES_PER_TURN) {
        this.pausedForTurn = true;
        ws.pause();
      }
      if (isBinary) this.opts.logger.warn(`${this.opts.label}: unexpected binary frame (${toText(data).length} bytes)`);
      const cb = this.onMessage;
      if (!cb) return;
      try {
        cb(toText(data));
      } catch (err) {
        this.opts.logger.error(`${this.opts.label}: message handler failed: ${(err as Error)?.message ?? String(err)}`);
      }
    });
    ws.on('ping', () => {
      this.lastFrameAt = Date.now();
    });
    ws.on('pong', () => {
      this.lastFrameAt = Date.now();
    });
    ws.on('error', (err) => {
      this.opts.logger.debug(`${this.opts.label}: socket error: ${err?.message ?? String(err)}`);
      this.endReason ??= 'error';
    });
    ws.on('close', (code) => this.finish(code));
    const tick = Math.max(250, Math.min(5_000, Math.floor(Math.min(opts.silenceTimeoutMs, opts.pingIntervalMs) / 4)));
    this.liveness = setInterval(() => this.checkLiveness(), tick);
  }

  /**
   * Opens a connection. Rejects with BinanceApiError: kind 'network' for connection failures,
   * or per HTTP status when the handshake is refused (429/418 with Retry-After, 401, 5xx ...).
   */
  static open(opts: WsConnectionOptions): Promise<WsConnection> {
    return new Promise<WsConnection>((resolve, reject) => {
      let settled = false;
      let ws: WebSocket;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener('abort', onAbort);
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
          handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
          perMessageDeflate: false,
          followRedirects: false,
          maxPayload: 16 * 1024 * 1024,
        });
      } catch (err) {
        reject(new BinanceApiError(`cannot open WebSocket: ${(err as Error).message}`, { kind: 'request' }));
        return;
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      ws.on('unexpected-response', (req, res) => {
        const status = res.statusCode ?? 0;
        const ra = Number(res.headers['retry-after']);
        const retryAfterMs = Number.isFinite(ra) ? Math.max(0, ra * 1000) : undefined;
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
            if (typeof body.msg === 'string') msg = ` ${body.msg.slice(0, 200)}`;
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
        ws.removeAllListeners('unexpected-response');
        ws.removeAllListeners('error');
        ws.removeAllListeners('close');
        resolve(new WsConnection(ws, opts));
      });
    });
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

  private checkLiveness(): void {
    if (this.closed) return;
    const now = Date.now();
    if (now - this.lastFrameAt > this.opts.silenceTimeoutMs) {
      this.opts.logger.warn(
        `${this.opts.label}: no frame for ${Math.round((now - this.lastFrameAt) / 1000)} s (limit ${Math.round(this.opts.silenceTimeoutMs / 1000)} s): reconnecting`,
      );
      this.terminate('watchdog');
      return;
    }
    if (now - this.lastPingAt >= this.opts.pingIntervalMs && this.ws.readyState === WebSocket.OPEN) {
      this.lastPingAt = now;
      try {
        this.ws.ping();
      } catch {
        // close follows
      }
    }
  }

  private stopLiveness(): void {
    if (this.liveness !== undefined) clearInterval(this.liveness);
    this.liveness = undefined;
  }

  private finish(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.stopLiveness();
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
