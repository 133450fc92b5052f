/**
 * Reading a symbol's trade history in pages: from an id cursor (`fromId`, pages of `pageLimit`
 * until a short page), or, without one, by time windows of the API's maximum span from `fromTime`
 * until a window has rows, then on by id from the highest of them. Rows land in `byId` (by
 * ledger.ts `fillKey`: a self-trade is two rows of one id) as they come, so what was read before a
 * failed page is kept (pages are contiguous from the cursor).
 *
 * A full page continues AT its highest id, not after it (`fromId` is inclusive): a self-trade's two
 * rows share one id, and a page boundary between them would otherwise lose the second leg. The
 * row read twice is the same key in `byId`.
 */
import type { Logger } from '../types';
import { int, rowSide, type Row } from './rest-rows';
import { fillKey, isFillId, legOf } from './ledger';

export interface TradePageSource {
  /** One page of the symbol's trades with these query parameters (startTime/endTime or fromId). */
  page(params: Record<string, number>): Promise<Row[]>;
  pageLimit: number;
  /** Longest startTime..endTime span the API accepts. */
  windowMs: number;
  /** Safety bound of pages per read. */
  maxPages: number;
  /** The exchange clock may run ahead of ours: windows reach this far past now. */
  clockSlackMs: number;
  now(): number;
  logger?: Logger;
  /** For the log: the symbol. */
  label: string;
}

/** Adds a page of trade rows to `byId`; the highest trade id in it (undefined: none). */
function collectById(page: Row[], byId: Map<number, Row>): number | undefined {
  let maxId: number | undefined;
  for (const r of page) {
    const id = int(r.id);
    if (!isFillId(id)) continue;
    byId.set(fillKey(id, legOf(rowSide(r))), r);
    if (maxId === undefined || id > maxId) maxId = id;
  }
  return maxId;
}

/**
 * Reads the pages into `byId`. Resolves true when every page was read, false when it stopped at the
 * page bound; rejects with the REST error of a failed page (the rows before it stay in `byId`).
 */
export async function readTradePages(
  src: TradePageSource,
  from: { fromId?: number; fromTime?: number; anchorId?: number },
  byId: Map<number, Row>,
): Promise<boolean> {
  let fromId = from.fromId;
  let pages = 0;
  if (fromId === undefined && from.fromTime !== undefined) {
    const end = src.now() + src.clockSlackMs;
    let ws = from.fromTime;
    // by time, unless the time reached lies after the anchor (a fill known delivered): then by id
    // from it, so nothing between the anchor and the first row by time is skipped
    fromId = from.anchorId;
    while (ws <= end) {
      const we = Math.min(ws + src.windowMs, end);
      const page = await src.page({ startTime: ws, endTime: we });
      pages++;
      const maxId = collectById(page, byId);
      if (maxId !== undefined) {
        const minId = Math.min(...[...page].map((r) => int(r.id)).filter(isFillId));
        if (from.anchorId !== undefined && minId > from.anchorId) break;
        // Continue by id from here on (covers the rest of this window and later ones).
        fromId = maxId;
        if (page.length < src.pageLimit && we >= end) fromId = undefined;
        break;
      }
      ws = we + 1;
    }
  }
  while (fromId !== undefined) {
    if (pages >= src.maxPages) {
      src.logger?.warn(`recovery: ${src.label}: stopped after ${pages} pages; continued at the next recovery`);
      return false;
    }
    const page = await src.page({ fromId });
    pages++;
    const maxId = collectById(page, byId);
    if (page.length < src.pageLimit || maxId === undefined) break;
    fromId = nextFromId(maxId, fromId);
  }
  return true;
}

/**
 * Where the page after a full one starts: at its highest id (its other leg may follow), unless
 * that would not move on from the page's own start (a page of one id: a limit of 1, or a server
 * ignoring fromId), then after it.
 */
function nextFromId(maxId: number, pageFrom: number | undefined): number {
  return pageFrom !== undefined && maxId <= pageFrom ? maxId + 1 : maxId;
}
