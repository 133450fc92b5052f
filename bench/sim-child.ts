/**
 * The loopback simulator in its own process, driven over IPC by a benchmark process, so the
 * frames are produced on another core and the measured process only does the client's work.
 *
 * Frames reach the clients through the simulator's public `injectRaw()` (one WebSocket message
 * per frame). `push` keeps at most `window` frames ahead of what the client reported consumed
 * (`ack` messages), so the client reads as fast as it can without an unbounded socket backlog.
 */
import { BinanceSimulator, type ConnFilter, type SimMarket } from '../simulator/index';

export interface SimAccount {
  accountId: string;
  apiKey: string;
  apiSecret: string;
}

export type SimRequest =
  | { cmd: 'setup'; count: number; market: SimMarket }
  | { cmd: 'push'; accountId: string; n: number; window: number }
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
let acked = 0;
let ackWaiter: (() => void) | undefined;
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

function subscriptionOf(accountId: string): number {
  const subs = sim!.subscriptions({ accountId });
  if (subs.length === 0) throw new Error(`no subscription for ${accountId}`);
  return subs[subs.length - 1].subscriptionId;
}

interface BatchCapable {
  injectRawBatch?: (filter: ConnFilter, frames: readonly string[]) => number;
}
interface PrivateConn {
  closed: boolean;
  ws: { _socket?: { cork(): void; uncork(): void } };
}

/**
 * Sends frames to every matching connection as one write per batch (socket corked), so the
 * pusher is not limited by one syscall per frame. Uses the simulator's `injectRawBatch` when it
 * has one; until then it corks the connection's socket around the public `injectRaw` calls,
 * reaching the sockets through the simulator's (TypeScript-private) connection table.
 */
function injectBatch(filter: ConnFilter, frames: readonly string[]): number {
  const s = sim as unknown as BatchCapable & { conns?: Map<number, PrivateConn> };
  if (typeof s.injectRawBatch === 'function') return s.injectRawBatch(filter, frames);
  const sockets = [...(s.conns?.values() ?? [])].filter((c) => !c.closed).map((c) => c.ws._socket).filter((x) => x !== undefined);
  for (const sock of sockets) sock.cork();
  let n = 0;
  try {
    for (const f of frames) n = Math.max(n, sim!.injectRaw(filter, f));
  } finally {
    for (const sock of sockets) sock.uncork();
  }
  return n;
}

async function waitAck(target: number): Promise<void> {
  while (acked < target) {
    await new Promise<void>((r) => {
      ackWaiter = r;
    });
  }
}

async function push(accountId: string, n: number, window: number): Promise<{ sent: number; ms: number }> {
  const sub = subscriptionOf(accountId);
  acked = 0;
  const start = process.hrtime.bigint();
  const now = Date.now();
  let sent = 0;
  const filter = { accountId, kind: 'ws-api' as const };
  while (sent < n) {
    // resume once the client has consumed half of the window
    await waitAck(sent - Math.floor(window / 2));
    const upto = Math.min(n, acked + window);
    const frames: string[] = [];
    while (sent + frames.length < upto) {
      seq += 1;
      frames.push(executionReportFrame(sub, seq, now, 'bench-tp'));
    }
    if (injectBatch(filter, frames) === 0) throw new Error('client is gone');
    sent += frames.length;
  }
  return { sent, ms: Number(process.hrtime.bigint() - start) / 1e6 };
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
    case 'push':
      return push(req.accountId, req.n, req.window);
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
    const msg = m as { ack?: number } & Partial<Envelope>;
    if (typeof msg.ack === 'number') {
      acked = msg.ack;
      const w = ackWaiter;
      ackWaiter = undefined;
      w?.();
      return;
    }
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
