// Choosing a container's slot: from a hash of its id on, past the slots
// in use, with errors that are not "in use" passed through.
import t from 'tap';
import * as abi from '../../src/bpf/abi';
import { createInFreeSlot, firstSlot } from '../../src/lifecycle/setup';
import { NkitError } from '../../src/errors';

const busy = new Error('in use');

t.test('the first slot comes from the id, stable and in range', async (t) => {
  t.equal(firstSlot('a'), firstSlot('a'));
  t.not(firstSlot('a'), firstSlot('b'));
  for (const id of ['a', 'x'.repeat(128), '0123456789abcdef'.repeat(4)]) t.ok(firstSlot(id) >= 0 && firstSlot(id) < abi.MAX_SLOTS);
});

t.test('slots in use are skipped, wrapping at the end', async (t) => {
  const tried: number[] = [];
  const id = 'slot-test';
  const start = firstSlot(id);
  const got = createInFreeSlot(id, (s) => {
    tried.push(s);
    if (tried.length < 3) throw busy;
  }, (e) => e === busy);
  t.same(tried, [start, (start + 1) % abi.MAX_SLOTS, (start + 2) % abi.MAX_SLOTS]);
  t.equal(got, (start + 2) % abi.MAX_SLOTS);
  // An id whose first slot is the last one wraps to 0.
  const last = Array.from({ length: 200000 }, (_, i) => `w${i}`).find((x) => firstSlot(x) === abi.MAX_SLOTS - 1);
  t.ok(last, 'found an id whose first slot is the last');
  const seen: number[] = [];
  createInFreeSlot(last!, (s) => {
    seen.push(s);
    if (seen.length === 1) throw busy;
  }, (e) => e === busy);
  t.same(seen, [abi.MAX_SLOTS - 1, 0]);
});

t.test('other errors stop at once; all in use is a clear error', async (t) => {
  const other = new Error('EPERM');
  let n = 0;
  t.throws(() => createInFreeSlot('x', () => {
    n++;
    throw other;
  }, (e) => e === busy), other);
  t.equal(n, 1, 'no second try');
  let tries = 0;
  try {
    createInFreeSlot('full', () => {
      tries++;
      throw busy;
    }, () => true);
    t.fail('must throw');
  } catch (err) {
    t.ok(err instanceof NkitError);
    t.match((err as Error).message, /container full: no free device slot: ifindexes \d+ to \d+ are all in use/);
    t.match((err as NkitError).hint ?? '', /nkit gc/);
  }
  t.equal(tries, 64, '64 slots tried');
});
