import { DEFAULT_POOL, type PoolName, Streams } from '../../events/index';
import type { Config } from '../config';
import type { Anomaly } from './anomalies';
import { type ConditionInput, type ConditionState, refusalOf } from './conditions';
import { ControlStream } from './control-stream';
import type { PolicyResult } from './policy';
import { act } from './steps/act';
import { cancelCycle } from './steps/cancel';
import { conditionsAfter, conditionsRecorded } from './steps/conditions';
import { type ControllerDeps, type CycleContexts, cycleContexts, settle } from './steps/contexts';
import { decideCycle } from './steps/decide';
import { cycleAnomalies } from './steps/detect';
import { emptyMemory, remember, restoreFromTail, restoreRecorded } from './steps/memory';
import { decisionInMode, fleetInMode, tasksInMode } from './steps/mode';
import { type Observation, readSource, sourceCondition } from './steps/observe';
import { obeyOverrides } from './steps/overrides';
import { healthCycle } from './steps/periodic-health';
import { reactorCaughtUp } from './steps/reactor-wait';
import { recordDecision, recordRejected } from './steps/record';
import { guardCycle } from './steps/spawn-guard';

export type { ControllerDeps } from './steps/contexts';
export { configuredPolicy, controlSettings } from './steps/decide';

export type CycleOutcome =
  | { cycle: number; kind: 'rejected'; reason: string }
  | { cycle: number; kind: 'decided'; decision: PolicyResult; anomalies: Anomaly[]; held: boolean }
  | { cycle: number; kind: 'skipped'; reason: string };

/**
 * The control loop. Each cycle observes (projections, the reactor's progress, the fleet, the task
 * source), decides (pure policy), guards (spawn stops, a lagging reactor), cancels spawns no longer
 * wanted, records it all as one atomic batch on the controller stream, and acts on what is the
 * controller's own: orphan pods and health. The reactor, a separate subscriber, acts on decisions.
 * Each step is a function of a small context, in ./steps; what a cycle keeps for the next is its
 * CycleMemory, restored from the record by init.
 */
export class Controller {
  private readonly memory = emptyMemory();
  private readonly stream: ControlStream;
  private readonly steps: CycleContexts;
  /** The configuration as loaded (or reloaded on SIGHUP); each cycle applies the operators' overrides to it. */
  private baseConfig: Config;

  /** The pool this controller scales. */
  readonly pool: PoolName;

  constructor(private readonly d: ControllerDeps) {
    this.pool = d.pool ?? DEFAULT_POOL;
    this.stream = new ControlStream(d.store, d.log, this.pool, () => this.init());
    this.steps = cycleContexts(d, this.stream);
    this.baseConfig = d.config;
  }

  /** The last cycle run. */
  get cycle(): number {
    return this.memory.cycle;
  }

  /** Restores the cycle number, the last observation and decision, and the conditions from the record. */
  async init(): Promise<void> {
    const { store, clock } = this.d;
    const { guard } = this.steps.guard;
    const tail = await store.readStreamTail(Streams.controller(this.pool), 50);
    this.stream.version = await store.streamVersion(Streams.controller(this.pool));
    restoreFromTail(this.memory, tail);
    guard.startedAt = clock.now();
    await restoreRecorded(store, this.memory, this.pool);
    // a refusal that had stopped spawning stays in force until a probe succeeds
    const able = this.memory.conditions.get('AbleToScale');
    const refusal = refusalOf(able);
    guard.restore(able && refusal ? { kind: refusal, error: null, at: able.since } : null);
  }

  /** The conditions as the last cycle left them (AbleToScale, ScalingLimited, SourceHealthy, StoreCurrent). */
  conditions(): ConditionState[] {
    return [...this.memory.conditions.values()];
  }

  /** One cycle: observe, decide, guard, cancel, record, act (each a step of ./steps). */
  async runCycle(): Promise<CycleOutcome> {
    const started = performance.now();
    try {
      return await this.cycleSteps();
    } finally {
      this.d.onCycleFinished?.((performance.now() - started) / 1000);
    }
  }

  /** A reloaded configuration (SIGHUP, validated by the service): acts from the next cycle. */
  reconfigure(config: Config): void {
    this.baseConfig = config;
  }

  private async cycleSteps(): Promise<CycleOutcome> {
    const { steps: s, memory: m } = this;
    const cycle = ++m.cycle;
    const { config, operator } = await obeyOverrides(s.overrides, m, this.baseConfig, cycle);
    settle(s, config);
    const shadow = config.MODE === 'shadow';
    // Observe: the projections, then the reactor's progress before the fleet (see reactorCaughtUp)
    await s.mode.projections.catchUp();
    const caughtUp = await reactorCaughtUp(s.reactor, m.lastDecision);
    const fleet = await fleetInMode(s.mode, cycle, shadow);
    const source = await readSource(s.source, m, fleet);
    const { observed } = source;
    const at = this.d.clock.now().toISOString();
    const sourceInput = sourceCondition(s.detect.source, source);
    if (!observed.ok && !source.fallback) return this.rejected(cycle, at, observed, sourceInput, fleet.length);
    // Decide, guard, cancel
    const decided = await decideCycle(s.decide, cycle, source, tasksInMode(source.tasks, shadow), fleet, operator);
    const guarded = await guardCycle(s.guard, cycle, decided, caughtUp, m.lastDecision?.cycle);
    const { block, held } = guarded;
    const cancelled = cancelCycle(this.d.clock, guarded, caughtUp, fleet, source, m.previousDesired);
    const decision = decisionInMode(cancelled, shadow);
    const anomalies = await cycleAnomalies(s.detect, m.previousTotal, block, observed, decision);
    const cond = conditionsAfter(m, cycle, {
      at,
      spawning: { stop: block.stop, recovered: block.recovered },
      limits: decided.limits,
      source: sourceInput,
      store: { heldBackBy: s.detect.storeWatch.heldBackBy() },
    });
    // Record the cycle as one atomic batch, and remember it; then act
    const res = await recordDecision(s.record, cycle, at, source, decision, anomalies, cond.events);
    if (!res) return { cycle, kind: 'skipped', reason: 'another controller wrote this cycle' };
    conditionsRecorded(s.log, m, cycle, cond);
    remember(m, cycle, res, observed, decision, anomalies);
    await act(s.act, m, cycle, shadow, fleet, decision);
    return { cycle, kind: 'decided', decision, anomalies, held };
  }

  /** A cycle without a valid task count, before the fallback decides: recorded, no decision. */
  private async rejected(
    cycle: number,
    at: string,
    observed: Extract<Observation, { ok: false }>,
    source: NonNullable<ConditionInput['source']>,
    workers: number,
  ): Promise<CycleOutcome> {
    const { steps: s, memory: m } = this;
    const cond = conditionsAfter(m, cycle, { at, source });
    await recordRejected(s.record, cycle, at, observed, cond.events);
    conditionsRecorded(s.log, m, cycle, cond);
    await healthCycle(s.act.health, m, cycle, workers);
    return { cycle, kind: 'rejected', reason: observed.reason };
  }
}
