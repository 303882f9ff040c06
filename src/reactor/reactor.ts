import { type AppEvent, type DataOf, DEFAULT_POOL, inPool, type PoolName, Streams } from '../../events/index';
import type { TerminationPick } from '../../events/scaling';
import type { SpawnFailureKind, TerminationReason } from '../../events/worker';
import type { Clock } from '../clock';
import { readFleet } from '../control/fleet';
import { deterministicId, shortHash } from '../control/ids';
import { type ControlLog, fact } from '../control/log';
import { actionLine, spawnedLine, spawnFailedLine, spawnStepLine, terminatedLine } from '../control/messages';
import { accountOf } from '../control/policy';
import { isRefusal, REFUSALS } from '../control/provider-refusals';
import { hasCode } from '../errors';
import { actionText } from '../policies/render';
import { type GlobalCheck, globalCostRoom, globalRefusal } from '../pools/budget';
import { hasGlobalCap, type PoolsPlan } from '../pools/plan';
import { type PodInfo, type Provider, ProviderError, type SpawnStep } from '../providers/provider';
import { intendedActions } from '../shadow/intend';
import type { EventStore, NewEvent, StoredEvent } from '../store/event-store';
import type { ControlReads } from '../store/reads';
import { Subscription } from '../store/subscription';
import type { ParkingSettings } from './parking';
import { currentLife, lifeEventId, ParkingSteps } from './parking-steps';

export const REACTOR_CHECKPOINT = 'reactor';
/** The checkpoint of a pool's reactor: `reactor` for pool default (as before pools), `reactor@<pool>` for the others. */
export const reactorCheckpointName = (pool: PoolName): string =>
  pool === DEFAULT_POOL ? REACTOR_CHECKPOINT : `${REACTOR_CHECKPOINT}@${pool}`;
/** The event types the reactor acts on: the only ones it reads. */
export const REACTOR_EVENT_TYPES: readonly string[] = ['ScalingDecided'];

export interface ReactorDeps {
  store: EventStore;
  /** The pool whose decisions this reactor acts on (default: `default`). */
  pool?: PoolName;
  /** Every pool and the global caps, for the pre-spawn check across pools (default: this pool alone). */
  plan?: PoolsPlan;
  /** How recent (s) a higher priority's decision must be for its want to be held back for it (default 90). */
  budgetFreshSec?: number;
  provider: Provider;
  clock: Clock;
  log: ControlLog;
  /** A decision older than this (ms) when first reached spawns nothing new (default 120 s). */
  staleAfterMs?: number;
  /**
   * The hard GPU budget at the moment of acting (MAX_ACTIVE_GPUS now); default: the one the
   * decision was made under. A spawn that would take the live fleet past it is refused.
   */
  maxActiveGpus?: number;
  /** MAX_HOURLY_COST_USD now (null: off); what is left of it goes to the provider with each spawn. */
  maxHourlyCostUsd?: number | null;
  /** PARKED_MAX, PARKED_MAX_AGE_SEC, PARKED_HOURLY_USD (absent: never park, as PARKED_MAX=0). */
  parking?: ParkingSettings;
}

type ScalingDecidedData = DataOf<'ScalingDecided'>;
/** A decision as the reactor reads it from the store. */
type DecisionEvent = StoredEvent<Extract<AppEvent, { type: 'ScalingDecided' }>>;

/** The worker id of spawn i of a decision; also its idempotency key and part of its pod name. */
export const workerIdFor = (cycle: number, decisionEventId: string, ordinal: number) =>
  `c${cycle}-${ordinal}-${shortHash(decisionEventId)}`;

/**
 * Turns decisions into provider calls. It is a checkpointed subscriber of the store, not a call
 * from the loop: after a crash it resumes from its checkpoint and re-handles the last decision.
 * Every step is idempotent: events have deterministic ids, and a spawn's idempotency key lets the
 * provider return the pod it already made instead of making a second one.
 */
export class Reactor {
  readonly subscription: Subscription;
  /** Parked pods (parking-steps.ts); null when parking is not configured. */
  private readonly parking: ParkingSteps | null;
  private swept = false;
  /** The pool whose decisions this reactor acts on. */
  readonly pool: PoolName;

  constructor(private readonly d: ReactorDeps) {
    this.pool = d.pool ?? DEFAULT_POOL;
    this.parking = d.parking ? new ParkingSteps({ ...d, pool: this.pool, settings: d.parking }) : null;
    this.subscription = new Subscription(d.store, {
      name: reactorCheckpointName(this.pool),
      transactional: false,
      // only decisions are acted on: the server skips every other event, in large batches, so a
      // reactor without a checkpoint (after a restore) catches up in a few reads
      eventTypes: REACTOR_EVENT_TYPES,
      // and only its own pool's: a pool's decisions are on its controller stream (with 100 pools,
      // reading every pool's decision in each reactor decoded 100 x 100 decisions a cycle)
      streams: [Streams.controller(this.pool)],
      batchSize: 1000,
      pollIntervalMs: 500,
      handle: async (events) => {
        for (const e of events) if (e.type === 'ScalingDecided' && e.data.pool === this.pool) await this.act(e);
      },
    });
  }

  catchUp(): Promise<number> {
    return this.subscription.catchUp();
  }

  start(): void {
    this.subscription.start();
  }

  stop(): Promise<void> {
    return this.subscription.stop();
  }

  /** Appends events of this pool (each names it): a worker's, or the shadow stream's. */
  private append(stream: string, events: NewEvent[], opts?: Parameters<EventStore['append']>[2]) {
    return this.d.store.append(stream, inPool(this.pool, events), opts);
  }

  private get parkingOn(): boolean {
    return (this.parking?.settings.max ?? 0) > 0;
  }

  /** Acts on one decision: spawns for SCALE_UP, terminates idle and timed-out workers. */
  async act(e: DecisionEvent): Promise<void> {
    const d = e.data;
    if (d.mode === 'shadow') return this.intend(e);
    // Parked pods first: gone ones recorded, one found running stopped again, old ones retired
    // (with PARKED_MAX=0 only once, for what an earlier run left parked).
    if (this.parking && (this.parking.settings.max > 0 || !this.swept)) await this.parking.sweep(d.cycle);
    this.swept = true;
    for (const t of d.cancel) {
      await this.terminate(t, 'cancelled', d.cycle, false);
    }
    for (const t of d.timedOut) {
      await this.terminate(t, 'spawning_timeout', d.cycle, true);
    }
    for (const t of d.expired) {
      await this.terminate(t, 'lifetime', d.cycle, false);
    }
    if (d.decision === 'SCALE_UP') {
      const stale = this.d.clock.now().getTime() - Date.parse(d.at) > (this.d.staleAfterMs ?? 120_000);
      // After a capacity failure or a refusal (credentials, billing, invalid request, retired API) the rest of this decision is not tried: the
      // answer would be the same, and each try costs API calls. They are recorded, not dropped.
      let stop: { kind: 'capacity' | 'blocked'; why: string } | null = null;
      for (let i = 1; i <= d.delta; i++) {
        const failure = await this.spawn(e, d, i, stale, stop);
        if (!stop && failure === 'capacity')
          stop = { kind: 'capacity', why: `not attempted: no capacity for worker ${i}/${d.delta}` };
        if (!stop && isRefusal(failure))
          stop = {
            kind: 'blocked',
            why: `not attempted: ${REFUSALS[failure].notAttempted} for worker ${i}/${d.delta}`,
          };
      }
    } else if (d.decision === 'SCALE_DOWN') {
      for (const t of d.terminate) await this.terminate(t, 'idle', d.cycle, false);
    }
  }

  /**
   * A decision made in shadow: each spawn and termination it would make is recorded as an intended
   * action, in one batch with ids from the decision, and no provider is called.
   */
  private async intend(e: DecisionEvent): Promise<void> {
    const { clock, log } = this.d;
    const d = e.data;
    const actions = intendedActions(e.eventId, d, clock.now().toISOString(), (i) => workerIdFor(d.cycle, e.eventId, i));
    if (actions.length === 0) return;
    try {
      await this.append(
        Streams.shadow(this.pool),
        actions.map((data, i) => ({
          type: 'ActionIntended' as const,
          eventId: deterministicId(`${e.eventId}:intended:${i}`),
          data,
          metadata: { cycle: d.cycle, causationId: e.eventId },
        })),
      );
    } catch (err) {
      if (hasCode(err, 'EVENT_ID_CONFLICT')) return; // recorded before a restart
      throw err;
    }
    const text = actionText(d);
    if (text) fact(log, 'notice', `reactor: cycle #${d.cycle}: ${text}`, { cycle: d.cycle });
  }

  /** Spawns worker `ordinal` of a decision; resolves to the failure kind, if it failed. */
  private async spawn(
    e: DecisionEvent,
    d: ScalingDecidedData,
    ordinal: number,
    stale: boolean,
    skip: { kind: 'capacity' | 'blocked'; why: string } | null,
  ): Promise<SpawnFailureKind | null> {
    const { store, provider, clock, log } = this.d;
    const workerId = workerIdFor(d.cycle, e.eventId, ordinal);
    const stream = Streams.worker(workerId);
    const of = d.delta;
    const history = await store.readStream(stream);
    let maxHourlyCostUsd: number | undefined;
    const done = history.find((h) => h.type === 'WorkerSpawned' || h.type === 'WorkerSpawnFailed');
    if (done) return done.type === 'WorkerSpawnFailed' ? done.data.kind : null;
    if (history.length === 0) {
      if (stale) {
        log.log('warning', `⏭️ Not spawning worker ${ordinal}/${of} of cycle #${d.cycle}: the decision is stale`, {
          cycle: d.cycle,
        });
        return null;
      }
      // filled from the parked pool by a run that was killed before its checkpoint
      if (this.parkingOn && (await this.parking?.slotFilled(e, ordinal))) return null;
      if (ordinal === 1)
        log.log('notice', `reactor: acting on cycle #${d.cycle}: ${actionLine(d)}`, { cycle: d.cycle });
      const requested: NewEvent = {
        type: 'WorkerSpawnRequested',
        eventId: deterministicId(`${workerId}:requested`),
        data: {
          workerId,
          at: clock.now().toISOString(),
          cycle: d.cycle,
          decisionEventId: e.eventId,
          ordinal,
          of,
          idempotencyKey: workerId,
          provider: provider.name,
          gpus: provider.gpusPerWorker,
        },
        metadata: { cycle: d.cycle, causationId: e.eventId },
      };
      // The budgets are checked again against the live fleet right before the spawn: whatever the
      // decision saw, no spawn takes the pool's fleet past MAX_ACTIVE_GPUS, nor every pool's past a
      // global cap (budgetCheck). The pool's one reactor is the only writer of its spawn requests;
      // other pools' reactors are held off the global caps by the budget's lock (requestSpawn).
      const check = await this.budgetCheck(store.reads, d, ordinal);
      maxHourlyCostUsd = check.maxHourlyCostUsd;
      // Workers wanted start parked pods before new ones are made: after every cap and the
      // pre-spawn check above, as a spawn. A refused start falls through to the cold create below.
      if (!check.refusal && this.parkingOn && (!skip || skip.kind === 'capacity')) {
        if (await this.parking?.tryUnpark(e, ordinal, maxHourlyCostUsd ?? null)) return null;
      }
      const refusal = await this.requestSpawn(workerId, requested, check, d, ordinal);
      if (refusal) {
        const data = { workerId, at: refusal.at, ordinal, of, kind: 'blocked' as const, error: refusal.error };
        fact(log, 'warning', spawnFailedLine(data), { cycle: d.cycle, workerId });
        return 'blocked';
      }
    }
    // Requested before and never answered (a crash mid-create): the pod may exist and not be listed
    // yet; the provider looks for it over what is left of its window, counted from the last step.
    const last = history[history.length - 1];
    const unresolvedCreateAgeMs =
      last && 'at' in last.data ? Math.max(0, clock.now().getTime() - Date.parse(last.data.at)) : undefined;
    let steps = history.length;
    const onStep = async (s: SpawnStep) => {
      steps += 1;
      const data = { workerId, at: clock.now().toISOString(), ordinal, of, ...s };
      await this.append(stream, [
        {
          type: 'WorkerSpawnUnclear',
          eventId: deterministicId(`${workerId}:step:${steps}`),
          data,
          metadata: { cycle: d.cycle, causationId: e.eventId },
        },
      ]);
      fact(log, s.step === 'found' ? 'notice' : 'warning', spawnStepLine(data), { cycle: d.cycle, workerId });
    };
    let pod: PodInfo;
    try {
      if (skip && history.length === 0)
        throw new ProviderError(skip.kind === 'capacity' ? 'capacity' : 'error', skip.why);
      pod = await provider.spawn({
        onStep,
        ...(unresolvedCreateAgeMs !== undefined ? { unresolvedCreateAgeMs } : {}),
        workerId,
        idempotencyKey: workerId,
        env: { GPU_SCALER_WORKER_ID: workerId },
        why: `cycle #${d.cycle} ${d.decision}, worker ${ordinal} of ${of}: ${d.queued} queued + ${d.active} active tasks, desired ${d.desired} worker(s); ${d.reasons.join('; ')} (gpu-scaler explain --cycle ${d.cycle})`,
        ...(maxHourlyCostUsd !== undefined ? { maxHourlyCostUsd } : {}),
      });
    } catch (err) {
      let kind: SpawnFailureKind = hasCode(err, 'PROVIDER') ? err.kind : 'error';
      if (skip && history.length === 0) kind = skip.kind;
      const details =
        hasCode(err, 'PROVIDER') && err.details && !(skip && history.length === 0) ? err.details : undefined;
      const data = {
        workerId,
        at: clock.now().toISOString(),
        ordinal,
        of,
        kind,
        error: (err as Error).message,
        ...(details ? { details } : {}),
      };
      await this.append(stream, [
        {
          type: 'WorkerSpawnFailed',
          eventId: deterministicId(`${workerId}:spawn-result`),
          data,
          metadata: { cycle: d.cycle, causationId: e.eventId },
        },
      ]);
      fact(log, isRefusal(kind) ? 'crit' : 'error', spawnFailedLine(data), { cycle: d.cycle, workerId });
      return kind;
    }
    const data = {
      workerId,
      at: clock.now().toISOString(),
      podId: pod.podId,
      ordinal,
      of,
      recovered: pod.existing === true,
      details: pod.details ?? {},
      gpuCount: pod.gpuCount ?? provider.gpusPerWorker,
      hourlyCostUsd: pod.hourlyCostUsd ?? null,
    };
    await this.append(stream, [
      {
        type: 'WorkerSpawned',
        eventId: deterministicId(`${workerId}:spawn-result`),
        data,
        metadata: { cycle: d.cycle, causationId: e.eventId },
      },
    ]);
    fact(log, 'crit', spawnedLine(data), { cycle: d.cycle, workerId });
    return null;
  }

  /**
   * Whether one more worker of this pool fits the budgets now: the pool's MAX_ACTIVE_GPUS against
   * its live fleet, and the global caps against every pool's (with the GPUs a higher priority was
   * given kept for it); and what is left of MAX_HOURLY_COST_USD for the provider's choice of price.
   * The fleet is counted by the one account the caps use (src/control/policy.ts fleetAccount).
   */
  private async budgetCheck(
    reads: ControlReads,
    d: ScalingDecidedData,
    ordinal: number,
  ): Promise<{ refusal: string | null; maxHourlyCostUsd: number | undefined }> {
    const { provider } = this.d;
    const global = this.d.plan && hasGlobalCap(this.d.plan) ? this.d.plan : null;
    const every = await readFleet(reads, global ? undefined : this.pool);
    const fleet = every.filter((w) => w.pool === this.pool);
    const account = accountOf(fleet, provider.gpusPerWorker, d.quoteUsdPerHour ?? null);
    const liveGpus = account.currentGpus;
    const budget = this.d.maxActiveGpus ?? d.settings.MAX_ACTIVE_GPUS;
    let maxHourlyCostUsd: number | undefined;
    const cap = this.d.maxHourlyCostUsd ?? d.settings.MAX_HOURLY_COST_USD ?? null;
    if (cap !== null) {
      // Sized and placed at the same prices: the decision was sized at the quote (the cheapest
      // candidate), so this spawn may take a dearer one only while the rest of the decision still
      // fits at the quote. A live worker whose price is not known yet counts at the quote too.
      const quote = d.quoteUsdPerHour ?? null;
      const burn = account.knownBurnUsdPerHour + account.unpricedWorkers * (quote ?? 0);
      const rest = quote === null ? 0 : (d.delta - ordinal) * quote;
      // to a millionth of a dollar: 2.00 - 4 x 0.40 leaves 0.40, not 0.3999999
      maxHourlyCostUsd = Math.max(0, Math.round((cap - burn - rest) * 1e6) / 1e6);
    }
    if (liveGpus + provider.gpusPerWorker > budget)
      return {
        refusal: `refused by the GPU budget: the live fleet has ${liveGpus} GPU(s) (${fleet.length} worker(s)), one more worker of ${provider.gpusPerWorker} GPU(s) would make ${liveGpus + provider.gpusPerWorker} > MAX_ACTIVE_GPUS=${budget}`,
        maxHourlyCostUsd,
      };
    if (!global) return { refusal: null, maxHourlyCostUsd };
    const check: GlobalCheck = {
      plan: global,
      pool: this.pool,
      gpus: provider.gpusPerWorker,
      quoteUsdPerHour: d.quoteUsdPerHour ?? null,
      fleet: every,
      allocation: d.allocation,
      ...(await this.higherWants(reads, global)),
    };
    // placed under what the global cost cap leaves too, so a dearer GPU type than the quote cannot pass it
    const room = globalCostRoom(check);
    if (room !== undefined) maxHourlyCostUsd = Math.min(maxHourlyCostUsd ?? room, room);
    return { refusal: globalRefusal(check), maxHourlyCostUsd };
  }

  /**
   * The fresh wants of the pools of higher priority than this one (their last decisions, if recent),
   * and the price each last quoted (however old).
   */
  private async higherWants(
    reads: ControlReads,
    plan: PoolsPlan,
  ): Promise<{ higherWants: Map<string, number>; prices: Map<string, number | null> }> {
    const own = plan.pools.find((p) => p.pool === this.pool)?.priority ?? 0;
    const higher = plan.pools.filter((p) => p.priority > own).map((p) => p.pool);
    if (higher.length === 0) return { higherWants: new Map(), prices: new Map() };
    const now = this.d.clock.now().getTime();
    const freshMs = (this.d.budgetFreshSec ?? 90) * 1000;
    const wants = await reads.latestWants(higher);
    return {
      higherWants: new Map(wants.filter((w) => now - Date.parse(w.at) <= freshMs).map((w) => [w.pool, w.wantWorkers])),
      prices: new Map(wants.map((w) => [w.pool, w.usdPerWorker])),
    };
  }

  /**
   * Records a spawn's request, or its refusal by a budget (the request and the failure, in one
   * append). Under global caps, the check is made again in the same transaction as the record,
   * holding the budget's lock: two pools (or replicas) cannot both take the last GPU. Resolves to
   * the refusal, if it was refused.
   */
  private async requestSpawn(
    workerId: string,
    requested: NewEvent,
    first: { refusal: string | null },
    d: ScalingDecidedData,
    ordinal: number,
  ): Promise<{ error: string; at: string } | null> {
    const { store, clock } = this.d;
    const stream = Streams.worker(workerId);
    const record = async (s: EventStore, refusal: string | null) => {
      const at = clock.now().toISOString();
      const failed: NewEvent[] = refusal
        ? [
            {
              type: 'WorkerSpawnFailed',
              eventId: deterministicId(`${workerId}:spawn-result`),
              data: { workerId, at, ordinal, of: d.delta, kind: 'blocked', error: refusal },
              metadata: requested.metadata,
            },
          ]
        : [];
      await s.append(stream, inPool(this.pool, [requested, ...failed]), { expectedVersion: 'no_stream' });
      return refusal ? { error: refusal, at } : null;
    };
    if (first.refusal || !(this.d.plan && hasGlobalCap(this.d.plan))) return record(store, first.refusal);
    return store.transaction(async (tx) => {
      await tx.reads.lockBudget();
      return record(tx, (await this.budgetCheck(tx.reads, d, ordinal)).refusal);
    });
  }

  private async terminate(
    pick: TerminationPick,
    reason: TerminationReason,
    cycle: number,
    failed: boolean,
  ): Promise<void> {
    const { store, provider, clock, log } = this.d;
    const stream = Streams.worker(pick.workerId);
    let full = await store.readStream(stream);
    if (full.some((h) => h.type === 'WorkerTerminated' || h.type === 'WorkerSpawnFailed')) return;
    // A worker started again from parked: only its current life counts (its request, its GPU-seconds).
    let lived = currentLife(full);
    const spawned = full.find((h) => h.type === 'WorkerSpawned');
    const podId = pick.podId ?? spawned?.data.podId ?? null;
    const unparked = full.filter((h) => h.type === 'WorkerUnparked').pop();
    const startedAt = unparked?.data.at ?? spawned?.data.at ?? null;
    if (reason === 'idle' && this.parkingOn) {
      if (await this.parking?.tryPark(pick, cycle, podId, lived, startedAt)) return;
      // not parked (the pool is full, or the stop failed after its request was recorded): terminate it
      full = await store.readStream(stream);
      lived = currentLife(full);
    }
    const history = lived.life;
    // Asked before a crash? Then only finish the job: its event has the time of the first ask.
    if (!history.some((h) => h.type === 'WorkerTerminationRequested')) {
      await this.append(stream, [
        {
          type: 'WorkerTerminationRequested',
          eventId: lifeEventId(pick.workerId, 'terminate-requested', lived.unparks),
          data: { workerId: pick.workerId, at: clock.now().toISOString(), cycle, podId, reason, detail: pick.reason },
          metadata: { cycle },
        },
      ]);
    }
    // A worker given up on while starting: ask why its pod never started (no GPU anywhere is
    // waiting for capacity, not a failure of the worker).
    let detail = pick.reason;
    if (reason === 'spawning_timeout' && podId && provider.whyNotStarted) {
      const why = await provider.whyNotStarted(podId).catch(() => null);
      if (why) {
        detail = `${pick.reason}; ${why.message}`;
        if (why.capacity) failed = false;
      }
    }
    if (podId) await provider.terminate(podId, `${reason}: ${detail} (cycle #${cycle})`);
    const now = clock.now();
    const data = {
      workerId: pick.workerId,
      at: now.toISOString(),
      podId,
      reason,
      detail,
      failed,
      exitCode: null,
      gpuSeconds: startedAt ? Math.max(0, Math.round((now.getTime() - Date.parse(startedAt)) / 1000)) : null,
    };
    await this.append(stream, [
      { type: 'WorkerTerminated', eventId: deterministicId(`${pick.workerId}:terminated`), data, metadata: { cycle } },
    ]);
    fact(log, failed ? 'error' : 'notice', terminatedLine(data), { cycle, workerId: pick.workerId });
  }
}
