/**
 * The loopback simulator in its own process, driven over IPC by a benchmark process, so the
 * frames are produced on another core and the measured process only does the client's work.
 *
 * Throughput frames are serialised before a run (`prepare`: complete WebSocket frames in one
 * buffer) and `push` only writes slices of that buffer to the corked socket, so the producer is
 * not the limit: it reports its own CPU time and how long it waited for the client, which the
 * bench turns into the producer check. `push` writes them all at once: they queue in this
 * process (not in the client's) and leave as fast as the client reads, TCP's flow control being
 * the only pacing; so the client is the limit as long as frames are queued here.
 * Latency frames (`pace`) go through the simulator's public `injectRaw()`, one at a time.
 */
import { BinanceSimulator, type ConnFilter, type SimMarket } from '../simulator/index';

export interface SimAccount {
  accountId: string;
  apiKey: string;
  apiSecret: string;
}

export type SimRequest =
  | { cmd: 'setup'; count: number; market: SimMarket }
  | { cmd: 'prepare'; accountId: string; n: number; mix?: Mix }
  | { cmd: 'push'; accountId: string; n: number }
  | { cmd: 'drop'; accountId: string }
  | { cmd: 'slowRecovery'; ms: number; count: number }
  | { cmd: 'pace'; accountId: string; rate: number; durationMs: number }
  | { cmd: 'connections' }
  | { cmd: 'stop' };

export interface SimInfo {
  restUrl: string;
  wsApiUrl: string;
  futuresWsUrl: string;
}

interface Envelope {
  id: number;
  req: SimRequest;
}

let sim: BinanceSimulator | undefined;
let seq = 0;

/**
 * One executionReport frame in the WS-API envelope (about 600 bytes). Frames follow realistic
 * order lifecycles of three events each: NEW, a partial fill, the final fill (so an order ends
 * FILLED and clients that track open orders do not accumulate them); ids are unique per frame.
 */
export function executionReportFrame(subscriptionId: number, n: number, now: number, clientOrderId: string): string {
  const orderId = 5_000_000 + Math.floor(n / 3);
  const phase = n % 3;
  const x = phase === 0 ? 'NEW' : 'TRADE';
  const X = phase === 0 ? 'NEW' : phase === 1 ? 'PARTIALLY_FILLED' : 'FILLED';
  const l = phase === 0 ? '0.00000000' : phase === 1 ? '0.00400000' : '0.00600000';
  const z = phase === 0 ? '0.00000000' : phase === 1 ? '0.00400000' : '0.01000000';
  const Z = phase === 0 ? '0.00000000' : phase === 1 ? '256.49380000' : '641.23450000';
  const Y = phase === 0 ? '0.00000000' : phase === 1 ? '256.49380000' : '384.74070000';
  const t = phase === 0 ? -1 : 9_000_000 + n;
  return (
    `{"subscriptionId":${subscriptionId},"event":{"e":"executionReport","E":${now},"s":"BTCUSDT","c":"${clientOrderId}",` +
    `"S":"BUY","o":"LIMIT","f":"GTC","q":"0.01000000","p":"64123.45000000","P":"0.00000000","F":"0.00000000","g":-1,` +
    `"C":"","x":"${x}","X":"${X}","r":"NONE","i":${orderId},"l":"${l}","z":"${z}",` +
    `"L":"${phase === 0 ? '0.00000000' : '64123.45000000'}","n":"${phase === 0 ? '0' : '0.00000400'}","N":${phase === 0 ? 'null' : '"BTC"'},` +
    `"T":${now},"t":${t},"I":${20_000_000 + n},"w":${phase !== 2},` +
    `"m":${phase !== 0},"M":true,"O":${now - 1000},"Z":"${Z}","Y":"${Y}","Q":"0.00000000","W":${now - 1000},"V":"EXPIRE_MAKER"}}`
  );
}

/**
 * Traffic shapes of the throughput runs (issue 24), all on the spot WS-API stream:
 *  - `lifecycle`: order lifecycles, NEW / partial fill / fill (executionReportFrame);
 *  - `book`: a growing book of resting orders: every frame a NEW order on one of 500 symbols,
 *    none closed, so open-order tracking passes its 10 000-order bound and evicts on every event;
 *  - `balances`: balance-heavy traffic, outboundAccountPosition (three assets) and balanceUpdate in
 *    turn, every event distinct (these are de-duplicated by their content).
 */
export const MIXES = ['lifecycle', 'book', 'balances'] as const;
export type Mix = (typeof MIXES)[number];

/** A NEW executionReport of a resting order (the `book` mix): order `n` on symbol n % 500. */
export function restingOrderFrame(subscriptionId: number, n: number, now: number, clientOrderId: string): string {
  const symbol = `S${String(n % 500).padStart(3, '0')}USDT`;
  return (
    `{"subscriptionId":${subscriptionId},"event":{"e":"executionReport","E":${now},"s":"${symbol}","c":"${clientOrderId}",` +
    `"S":"${n % 2 === 0 ? 'BUY' : 'SELL'}","o":"LIMIT","f":"GTC","q":"0.01000000","p":"${(60000 + (n % 997)).toFixed(2)}000000","P":"0.00000000","F":"0.00000000","g":-1,` +
    `"C":"","x":"NEW","X":"NEW","r":"NONE","i":${7_000_000 + n},"l":"0.00000000","z":"0.00000000",` +
    `"L":"0.00000000","n":"0","N":null,"T":${now},"t":-1,"I":${30_000_000 + n},"w":true,` +
    `"m":false,"M":false,"O":${now},"Z":"0.00000000","Y":"0.00000000","Q":"0.00000000","W":${now},"V":"EXPIRE_MAKER"}}`
  );
}

/** A balance event (the `balances` mix): outboundAccountPosition for even n, balanceUpdate for odd n. */
export function balanceFrame(subscriptionId: number, n: number, now: number): string {
  const free = (k: number): string => `${(1000 + ((n * 7 + k) % 100_000) / 1000).toFixed(8)}`;
  if (n % 2 === 0) {
    return (
      `{"subscriptionId":${subscriptionId},"event":{"e":"outboundAccountPosition","E":${now},"u":${now + n},` +
      `"B":[{"a":"BTC","f":"${free(1)}","l":"0.00000000"},{"a":"USDT","f":"${free(2)}","l":"125.00000000"},{"a":"BNB","f":"${free(3)}","l":"0.00000000"}]}}`
    );
  }
  return `{"subscriptionId":${subscriptionId},"event":{"e":"balanceUpdate","E":${now},"a":"USDT","d":"${free(4)}","T":${now + n}}}`;
}

function frameFor(mix: Mix, sub: number, n: number, now: number): string {
  if (mix === 'book') return restingOrderFrame(sub, n, now, 'bench-tp');
  if (mix === 'balances') return balanceFrame(sub, n, now);
  return executionReportFrame(sub, n, now, 'bench-tp');
}

function subscriptionOf(accountId: string): number {
  const subs = sim!.subscriptions({ accountId });
  if (subs.length === 0) throw new Error(`no subscription for ${accountId}`);
  return subs[subs.length - 1].subscriptionId;
}

interface RawSocket {
  cork(): void;
  uncork(): void;
  write(chunk: Buffer): boolean;
  destroyed: boolean;
  on(event: 'drain' | 'close', fn: () => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
}

/** The raw TCP sockets under the simulator's open connections of an account. */
function socketsOf(filter: ConnFilter): RawSocket[] {
  return sim!.rawSockets(filter) as unknown as RawSocket[];
}

/**
 * One unmasked server-to-client WebSocket text frame (RFC 6455 §5.2): FIN + opcode 1, the
 * payload length in 7, 7+16 or 7+64 bits, then the payload. Written straight to the socket, it is
 * what `ws.send()` would have written, without the per-frame cost on the producer's side.
 */
export function wsTextFrame(payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + len);
  out[0] = 0x81;
  if (head === 2) out[1] = len;
  else if (head === 4) {
    out[1] = 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  payload.copy(out, head);
  return out;
}

/**
 * The frames of the next push, serialised once before it starts (not timed): one buffer of n
 * complete WebSocket frames and the end offset of each frame, so a push is only socket writes.
 */
interface Prepared {
  accountId: string;
  buf: Buffer;
  ends: Uint32Array;
}
let prepared: Prepared | undefined;

function prepare(accountId: string, n: number, mix: Mix = 'lifecycle'): { frames: number; bytes: number; ms: number } {
  const t0 = process.hrtime.bigint();
  const sub = subscriptionOf(accountId);
  const now = Date.now();
  const parts: Buffer[] = [];
  const ends = new Uint32Array(n);
  let off = 0;
  for (let i = 0; i < n; i++) {
    seq += 1;
    const f = wsTextFrame(Buffer.from(frameFor(mix, sub, seq, now)));
    parts.push(f);
    off += f.length;
    ends[i] = off;
  }
  prepared = { accountId, buf: Buffer.concat(parts, off), ends };
  return { frames: n, bytes: off, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

export interface PushStats {
  sent: number;
  /**
   * Time from the push until the socket's own buffer was empty (every frame handed to the
   * kernel), ms: until then the client always had frames waiting for it.
   */
  queuedMs: number;
  /** CPU time of the producer process over that time, ms. */
  cpuMs: number;
  /** Frames per second of producer CPU: the rate the producer could sustain. */
  capacityPerSec: number;
}

/**
 * Writes all the prepared frames to the account's socket(s) at once (one corked write of the one
 * buffer): they queue in this process and leave as fast as the client reads them, so the client
 * reads at its own pace and never waits for the producer, and nothing in the measured process
 * acknowledges anything. Resolves when the queue is empty (`drain`).
 */
async function push(accountId: string, n: number): Promise<PushStats> {
  const p = prepared;
  if (!p || p.accountId !== accountId || p.ends.length < n) throw new Error('push: prepare first');
  prepared = undefined;
  const sockets = socketsOf({ accountId, kind: 'ws-api' });
  if (sockets.length === 0) throw new Error('client is gone');
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const data = p.buf.subarray(0, p.ends[n - 1]);
  const drained = sockets.map((sock) => {
    if (sock.destroyed) throw new Error('client is gone');
    sock.cork();
    const flushed = sock.write(data);
    sock.uncork();
    if (flushed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        sock.off('drain', done);
        sock.off('close', done);
        resolve();
      };
      sock.on('drain', done);
      sock.on('close', done);
    });
  });
  await Promise.all(drained);
  const queuedMs = Number(process.hrtime.bigint() - start) / 1e6;
  const c = process.cpuUsage(cpu0);
  const cpuMs = (c.user + c.system) / 1000;
  return { sent: n, queuedMs, cpuMs, capacityPerSec: Math.round(n / (Math.max(cpuMs, 0.001) / 1000)) };
}

async function pace(accountId: string, rate: number, durationMs: number): Promise<{ sent: number }> {
  const sub = subscriptionOf(accountId);
  const filter = { accountId, kind: 'ws-api' as const };
  const start = process.hrtime.bigint();
  const total = Math.round((rate * durationMs) / 1000);
  let sent = 0;
  while (sent < total) {
    const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
    const due = Math.min(total, Math.floor((elapsedMs * rate) / 1000) + 1);
    while (sent < due) {
      seq += 1;
      // The send time goes in clientOrderId, which every client keeps: monotonic ns.
      const frame = executionReportFrame(sub, seq, Date.now(), `bt${process.hrtime.bigint()}`);
      sim!.injectRaw(filter, frame);
      sent += 1;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  return { sent };
}

async function handle(req: SimRequest): Promise<unknown> {
  switch (req.cmd) {
    case 'setup': {
      if (!sim) throw new Error('simulator not started');
      const out: SimAccount[] = [];
      for (let i = 0; i < req.count; i++) {
        const { id } = sim.createAccount();
        const key = sim.createKey(id, 'hmac');
        out.push({ accountId: id, apiKey: key.apiKey, apiSecret: key.apiSecret ?? '' });
      }
      return out;
    }
    case 'prepare':
      return prepare(req.accountId, req.n, req.mix);
    case 'push':
      return push(req.accountId, req.n);
    case 'slowRecovery':
      // the spot recovery's REST reads (open orders, trades) answer `ms` late
      sim?.delayNext({ path: /^\/api\/v3\/(openOrders|myTrades|allOrders)/, ms: req.ms, count: req.count });
      return {};
    case 'drop':
      return { dropped: sim?.dropConnections({ accountId: req.accountId }) ?? 0 };
    case 'pace':
      return pace(req.accountId, req.rate, req.durationMs);
    case 'connections':
      return { open: sim?.openConnections() ?? 0, wsApi: sim?.openConnections({ kind: 'ws-api' }) ?? 0, futures: sim?.openConnections({ kind: 'futures' }) ?? 0 };
    case 'stop':
      await sim?.stop();
      sim = undefined;
      setImmediate(() => process.exit(0));
      return {};
  }
}

async function main(): Promise<void> {
  sim = await BinanceSimulator.start({ host: '127.0.0.1', port: 0 });
  const info: SimInfo = { restUrl: sim.restUrl, wsApiUrl: sim.wsApiUrl, futuresWsUrl: sim.futuresWsUrl };
  process.on('message', (m: unknown) => {
    const msg = m as Partial<Envelope>;
    if (typeof msg.id !== 'number' || !msg.req) return;
    const id = msg.id;
    handle(msg.req).then(
      (result) => process.send?.({ id, ok: true, result }),
      (err: unknown) => process.send?.({ id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  process.on('disconnect', () => {
    void sim?.stop().finally(() => process.exit(0));
  });
  process.send?.({ ready: info });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
