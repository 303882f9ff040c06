import { planLeadership, preferenceOrder, shareOf } from '../../src/pools/leadership';

const pools = ['a', 'b', 'c', 'd', 'e'];
const free = (ps: readonly string[]) => Object.fromEntries(ps.map((p) => [p, null]));

describe('which pools a replica leads', () => {
  test('a share is ceil(pools / live replicas)', () => {
    expect([shareOf(12, 1), shareOf(12, 2), shareOf(12, 5), shareOf(1, 2), shareOf(3, 0)]).toEqual([12, 6, 3, 1, 3]);
  });

  test('alone, a replica leads every pool', () => {
    expect(planLeadership({ pools, me: 'r1', replicas: ['r1'], holders: free(pools), freeBefore: [] })).toEqual({
      lead: pools,
      handOver: [],
      share: 5,
    });
  });

  test('replicas starting together reach for different pools first, and cover every pool', () => {
    const view = { pools, replicas: ['r1', 'r2'], holders: free(pools), freeBefore: [] };
    const one = planLeadership({ ...view, me: 'r1' });
    const two = planLeadership({ ...view, me: 'r2' });
    expect(one.lead).toEqual(['a', 'b', 'c']);
    expect(two.lead).toEqual(['d', 'e']); // a is r1's: dealt to it first
    expect(new Set([...one.lead, ...two.lead])).toEqual(new Set(pools));
    expect(preferenceOrder(pools, ['r2', 'r1'], 'r2')).toEqual(['d', 'e', 'a', 'b', 'c']);
  });

  test('held pools are kept; free ones are taken up to the share', () => {
    const holders = { a: 'r2', b: 'r1', c: null, d: null, e: 'r2' };
    const plan = planLeadership({ pools, me: 'r1', replicas: ['r1', 'r2'], holders, freeBefore: [] });
    expect(plan).toEqual({ lead: ['b', 'c', 'd'], handOver: [], share: 3 });
  });

  test('a new replica joins: one beyond its share hands over what the newcomer has room for, no more', () => {
    const holders = { a: 'r1', b: 'r1', c: 'r1', d: 'r1', e: 'r1' };
    const plan = planLeadership({ pools, me: 'r1', replicas: ['r1', 'r2'], holders, freeBefore: [] });
    expect(plan).toEqual({ lead: ['a', 'b', 'c'], handOver: ['d', 'e'], share: 3 });
    // the newcomer takes them (they are free now), up to its share
    const after = { ...holders, d: null, e: null };
    expect(planLeadership({ pools, me: 'r2', replicas: ['r1', 'r2'], holders: after, freeBefore: [] }).lead).toEqual([
      'd',
      'e',
    ]);
  });

  test('others are missing: nobody with room, nothing is handed over', () => {
    // r2 is live but leads its share already
    const holders = { a: 'r1', b: 'r1', c: 'r1', d: 'r2', e: 'r2' };
    const plan = planLeadership({ pools, me: 'r1', replicas: ['r1', 'r2', 'r3'], holders, freeBefore: [] });
    // r3 has room for 2 (share 2): r1 hands over one, as r3 can take it
    expect(plan).toEqual({ lead: ['a', 'b'], handOver: ['c'], share: 2 });
    const full = planLeadership({
      pools,
      me: 'r1',
      replicas: ['r1', 'r2'],
      holders: { ...holders, d: 'r2', e: 'r2' },
      freeBefore: [],
    });
    expect(full.handOver).toEqual([]);
  });

  test("a dead replica's pools: taken at once up to the new share, and past it once they stayed free a cycle", () => {
    // r3 died: its pools d, e are free; r1 and r2 remain live (share 3)
    const holders = { a: 'r1', b: 'r1', c: 'r2', d: null, e: null };
    const r1 = planLeadership({ pools, me: 'r1', replicas: ['r1', 'r2'], holders, freeBefore: [] });
    expect(r1.lead).toEqual(['a', 'b', 'd']);
    // a pool still free a cycle later is taken by whoever sees it, whatever the share
    const stuck = { a: 'r1', b: 'r1', c: 'r1', d: 'r2', e: null };
    expect(planLeadership({ pools, me: 'r1', replicas: ['r1', 'r2'], holders: stuck, freeBefore: [] }).lead).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(planLeadership({ pools, me: 'r1', replicas: ['r1', 'r2'], holders: stuck, freeBefore: ['e'] }).lead).toEqual(
      ['a', 'b', 'c', 'e'],
    );
  });

  test("a dead replica's pools are dealt among the survivors with room: each takes different ones, all in one cycle", () => {
    // 12 pools, 4 replicas (share 3); r4 died holding j, k, l; the 3 survivors' share is now 4, room 1 each
    const twelve = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];
    const holders: Record<string, string | null> = Object.fromEntries(
      twelve.map((p, i) => [p, i < 3 ? 'r1' : i < 6 ? 'r2' : i < 9 ? 'r3' : null]),
    );
    const view = { pools: twelve, replicas: ['r1', 'r2', 'r3'], holders, freeBefore: [] };
    const taken = ['r1', 'r2', 'r3'].map((me) =>
      planLeadership({ ...view, me }).lead.filter((p) => holders[p] === null),
    );
    // before, each reached for the first free pool of its own order: all three for j, and k and l waited a cycle
    expect(taken.map((t) => t.length)).toEqual([1, 1, 1]);
    expect(new Set(taken.flat())).toEqual(new Set(['j', 'k', 'l']));
    // the same deal on every replica: r2's view of who takes what is r1's
    expect(planLeadership({ ...view, me: 'r2' }).share).toBe(4);
  });
});
