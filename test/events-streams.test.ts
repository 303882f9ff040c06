import { poolOfStream, Streams } from '../events/index';

describe('per-pool streams', () => {
  test('pool default keeps the names streams had before pools', () => {
    expect(Streams.controller('default')).toBe('controller');
    expect(Streams.health('default')).toBe('health');
    expect(Streams.reconciliation('default')).toBe('reconciliation');
    expect(Streams.shadow('default')).toBe('shadow');
    expect(Streams.shadowFleet('default')).toBe('shadow-fleet');
    expect([Streams.operator, Streams.config, Streams.quarantine]).toEqual(['operator', 'config', 'quarantine']);
    expect(Streams.worker('w-1')).toBe('worker-w-1');
  });

  test('another pool has streams of its own, which name their pool back', () => {
    expect(Streams.controller('video')).toBe('controller@video');
    expect(Streams.shadowFleet('video')).toBe('shadow-fleet@video');
    expect(poolOfStream(Streams.controller('video'))).toBe('video');
    expect(poolOfStream(Streams.health('image-2'))).toBe('image-2');
    expect(poolOfStream('controller')).toBe('default');
    expect(poolOfStream('worker-w-1')).toBe('default');
  });

  test('no two pools share a stream name: a pool called fleet is not shadow-fleet', () => {
    expect(Streams.shadow('fleet')).not.toBe(Streams.shadowFleet('default'));
    const names = ['default', 'fleet', 'video'].flatMap((p) => [
      Streams.controller(p),
      Streams.health(p),
      Streams.reconciliation(p),
      Streams.shadow(p),
      Streams.shadowFleet(p),
    ]);
    expect(new Set(names).size).toBe(names.length);
  });
});
