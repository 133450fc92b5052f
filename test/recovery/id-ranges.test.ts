/** IdRanges (nodes/lib/recovery/id-ranges.ts): an exact set of ids as ranges, checked against a plain Set. */
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { IdRanges } from '../../nodes/lib/recovery/id-ranges';

describe('recovery/IdRanges', () => {
  it('behaves as a Set under adds, deletes up to a cursor and a persisted round trip', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ add: fc.integer({ min: 0, max: 200 }) }), fc.record({ cut: fc.integer({ min: -1, max: 200 }) })), { maxLength: 300 }),
        (ops) => {
          const r = new IdRanges();
          const ref = new Set<number>();
          for (const op of ops) {
            if ('add' in op) assert.equal(r.add(op.add), !ref.has(op.add));
            else {
              r.deleteUpTo(op.cut);
              for (const v of [...ref]) if (v <= op.cut) ref.delete(v);
            }
            if ('add' in op) ref.add(op.add);
          }
          assert.equal(r.size, ref.size);
          assert.deepEqual([...r.values()], [...ref].sort((a, b) => a - b));
          for (let i = -1; i <= 201; i++) assert.equal(r.has(i), ref.has(i));
          const back = new IdRanges();
          back.addPersisted(JSON.parse(JSON.stringify(r.toPersisted())));
          assert.deepEqual([...back.values()], [...r.values()]);
          assert.equal(back.rangeCount, r.rangeCount);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('consecutive ids are one range; overlapping persisted ranges merge; invalid entries are skipped', () => {
    const r = new IdRanges();
    for (let i = 10; i < 10_010; i++) r.add(i);
    assert.equal(r.rangeCount, 1);
    assert.deepEqual(r.toPersisted(), [[10, 10_009]]);
    r.addPersisted([[5, 12], 20_000, [19_998, 19_999], -1, 'x', [3, 1], 2.5]);
    assert.deepEqual(r.toPersisted(), [[5, 10_009], [19_998, 20_000]]);
    assert.equal(r.size, 10_005 + 3);
    assert.equal(r.max(), 20_000);
  });
});
