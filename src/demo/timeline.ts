import type { DbLoggingStats } from '../../events/health';
import type { FakeClock } from '../clock';
import { type Config, loadConfig } from '../config';
import type { ControlLog } from '../control/log';
import { SimulatedProvider } from '../providers/simulated';
import { ScriptedSource } from '../sources/scripted';
import type { EventStore } from '../store/event-store';
import { buildSystem, type System } from '../system';

/** What a scenario needs of logging: a fresh one per scenario (the fourth breaks the database's). */
interface ScenarioLogging {
  log: ControlLog;
  dbLogging: () => DbLoggingStats;
  close(): Promise<void>;
}

export interface TimelineOptions {
  store: EventStore;
  clock: FakeClock;
  makeLogging: (store: EventStore) => Promise<ScenarioLogging>;
  /** Called as each scenario starts (the demo prints a heading). */
  onScenario?: (s: ScenarioInfo) => void;
  /** Called as each scenario ends, with what it did (the demo tells its story). */
  onScenarioEnd?: (r: ScenarioResult) => Promise<void>;
}

interface ScenarioInfo {
  index: number;
  title: string;
  /** The question the scenario answers. */
  question: string;
  /** What is set up: the queue and the settings (what happened is read from the record). */
  description: string;
}

export interface ScenarioResult extends ScenarioInfo {
  firstCycle: number;
  lastCycle: number;
  /** The cycle that shows the point of the scenario, and when it ran. */
  keyCycle: number;
  keyTime: string;
}

/** Settings shared by every scenario: pods start in 5-10 s, never fail; tasks take 20 s. */
const BASE_ENV = {
  // the tour narrates the operators' rule (one worker per task), the simplest math to follow
  POLICY: 'operators',
  POLL_INTERVAL_SEC: '30',
  SIM_STARTUP_MIN_SEC: '5',
  SIM_STARTUP_MAX_SEC: '10',
  SIM_FAILURE_RATE: '0',
  SIM_TASK_SEC: '20',
};

/**
 * The operators' four scenarios and parked pods as one timeline on one store, with a fake clock:
 *  1. normal operation: 2 tasks queued, none running: 2 workers come up, then MAINTAIN
 *  2. legitimate scale-up: 2 -> 20 tasks, 18 spawns, a rapid scale-up alert, then back to idle
 *  3. spurious scale-up: 0 -> 51 with MAX_ACTIVE_GPUS=4: wants 10, capped to 4, alerts, 4 spawns
 *  4. database logging failure: critical error, failing health checks, the loop keeps running
 *  5. parked pods: a burst on cold pods (90-120 s), quiet (the idle pods are parked), the next
 *     burst starts the parked pods in seconds
 * The clock starts at 18:00:00 UTC of its day; the spurious jump happens at 18:25:42.
 */
export async function runOperatorTimeline(o: TimelineOptions): Promise<ScenarioResult[]> {
  const { store, clock } = o;
  // new pods start in 5-10 s, in the last scenario in 90-120 s (a cold start: image pull, model
  // download) against 5-15 s for a parked pod started again
  let cold = { minSec: 5, maxSec: 10 };
  const provider = new SimulatedProvider({
    clock,
    startupMinSec: 5,
    startupMaxSec: 10,
    startupSec: (random) => cold.minSec + random() * (cold.maxSec - cold.minSec),
    failureRate: 0,
    seed: 42,
    unparkSuccess: 1,
    unparkMinSec: 5,
    unparkMaxSec: 15,
  });
  const source = new ScriptedSource(clock, 'edge-function (scripted)');
  const results: ScenarioResult[] = [];
  const day = clock.now().toISOString().slice(0, 10);
  const at = (hms: string) => new Date(`${day}T${hms}.000Z`);

  async function scenario(
    info: ScenarioInfo,
    env: Record<string, string>,
    body: (sys: System, cycle: () => Promise<number>) => Promise<{ keyCycle: number; keyTime: string }>,
    prepare?: () => Promise<void>,
    cleanup?: () => Promise<void>,
  ) {
    o.onScenario?.(info);
    await prepare?.();
    const logging = await o.makeLogging(store);
    const config: Config = loadConfig({ ...BASE_ENV, ...env });
    const sys = await buildSystem({
      store,
      config,
      clock,
      log: logging.log,
      dbLogging: logging.dbLogging,
      provider,
      source,
      reactorWaitMs: 0,
    });
    const firstCycle = sys.controller.cycle + 1;
    const cycle = async () => {
      await sys.step();
      const n = sys.controller.cycle;
      clock.advance(config.POLL_INTERVAL_SEC * 1000);
      return n;
    };
    try {
      const key = await body(sys, cycle);
      const result = { ...info, firstCycle, lastCycle: sys.controller.cycle, ...key };
      results.push(result);
      await o.onScenarioEnd?.(result);
    } finally {
      await logging.close();
      await cleanup?.();
    }
  }

  clock.set(at('18:00:00'));
  await scenario(
    {
      index: 1,
      title: 'Normal operation',
      question: 'What does it do with 2 tasks queued and no worker running, and then once they run?',
      description: "2 tasks queued, no workers yet; the operators' rule is one worker per task",
    },
    {},
    async (_sys, cycle) => {
      source.set(2);
      await cycle(); // the first cycle brings up 2 workers
      let key = 0;
      let keyTime = '';
      for (let i = 0; i < 3; i++) {
        keyTime = clock.now().toISOString();
        key = await cycle();
      }
      return { keyCycle: key, keyTime };
    },
  );

  await scenario(
    {
      index: 2,
      title: 'Legitimate scale-up',
      question: 'What happens when the queue jumps from 2 to 20 tasks, and after the burst drains?',
      description: 'the queue goes 2 -> 20 -> 12 -> 4 -> 0 with MAX_WORKERS=20 and MAX_ACTIVE_GPUS=20',
    },
    { MAX_WORKERS: '20', MAX_ACTIVE_GPUS: '20' },
    async (sys, cycle) => {
      const sysPoll = () => sys.config.POLL_INTERVAL_SEC * 1000;
      source.set(20);
      const keyTime = clock.now().toISOString();
      const keyCycle = await cycle();
      for (const [q, a] of [
        [12, 8],
        [4, 8],
        [0, 3],
      ]) {
        source.set(q, a);
        await cycle();
      }
      source.set(0);
      // idle workers time out (300 s) and go; cycles run on until the next scenario at 18:25:12
      while (clock.now().getTime() + sysPoll() <= at('18:25:12').getTime()) await cycle();
      clock.set(at('18:25:12'));
      return { keyCycle, keyTime };
    },
  );

  await scenario(
    {
      index: 3,
      title: 'Spurious scale-up',
      question: 'What stops a task source that suddenly reports 51 tasks from buying 51 GPUs?',
      description: 'the task source jumps 0 -> 51 with MAX_ACTIVE_GPUS=4',
    },
    { MAX_ACTIVE_GPUS: '4' },
    async (_sys, cycle) => {
      source.set(0);
      await cycle(); // 18:25:12
      source.set(51);
      const keyTime = clock.now().toISOString(); // 18:25:42
      const keyCycle = await cycle();
      for (let i = 0; i < 3; i++) await cycle();
      source.set(0);
      return { keyCycle, keyTime };
    },
  );

  await scenario(
    {
      index: 4,
      title: 'Database logging failure',
      question: 'What happens when the database stops taking log rows?',
      description: 'the system_logs table is renamed away while 1 task is queued; two health checks run',
    },
    { MAX_ACTIVE_GPUS: '4' },
    async (sys, cycle) => {
      source.set(1);
      let keyCycle = 0;
      let keyTime = '';
      // run until two health checks (every 10 cycles) have reported the failure
      let checks = 0;
      while (checks < 2) {
        const t = clock.now().toISOString();
        const n = await cycle();
        if (n % sys.config.HEALTH_CHECK_EVERY_CYCLES === 0) {
          checks += 1;
          keyCycle = n;
          keyTime = t;
        }
      }
      return { keyCycle, keyTime };
    },
    async () => {
      await store.db.exec('alter table system_logs rename to system_logs_unavailable');
    },
    async () => {
      await store.db.exec('alter table system_logs_unavailable rename to system_logs');
    },
  );

  await scenario(
    {
      index: 5,
      title: 'Parked pods',
      question: 'What if idle pods are stopped and kept instead of deleted, and another burst comes?',
      description:
        'PARKED_MAX=3, GPU_IDLE_TIMEOUT_SEC=60; a new pod takes 90-120 s to start, a parked one 5-15 s; the queue goes 3 -> 0 -> 3',
    },
    { MAX_ACTIVE_GPUS: '4', PARKED_MAX: '3', GPU_IDLE_TIMEOUT_SEC: '60' },
    async (_sys, cycle) => {
      source.set(3);
      await cycle(); // new pods for the burst: cold starts
      for (let i = 0; i < 4; i++) await cycle();
      source.set(0, 3);
      await cycle();
      source.set(0);
      // quiet: after 60 s idle the pods are parked, not deleted
      for (let i = 0; i < 4; i++) await cycle();
      source.set(3);
      const keyTime = clock.now().toISOString();
      const keyCycle = await cycle(); // the next burst starts the parked pods
      source.set(0, 3);
      await cycle();
      source.set(0);
      return { keyCycle, keyTime };
    },
    async () => {
      cold = { minSec: 90, maxSec: 120 };
    },
    async () => {
      cold = { minSec: 5, maxSec: 10 };
    },
  );
  return results;
}
