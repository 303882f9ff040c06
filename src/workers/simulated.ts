import { DEFAULT_POOL } from '../../events/common';
import type { Clock } from '../clock';
import type { SimulatedProvider } from '../providers/simulated';
import type { Sql } from '../store/db';

/**
 * Simulated workers working the `tasks` table: a running pod claims a queued task, holds it for
 * the simulated run time (SIM_TASK_SEC, or the task's run_seconds), then marks it done. Time comes
 * from the clock, so a burst plays out the same at real speed and in a fast simulation. Workers of a
 * pool take only that pool's tasks (`tasks.pool`).
 */
export class SimulatedWorkers {
  private readonly holding = new Map<string, { taskId: number; until: number }>();

  constructor(
    private readonly db: Sql,
    private readonly provider: SimulatedProvider,
    private readonly clock: Clock,
    private readonly taskSec: number,
    /** The pool whose tasks its workers take. */
    private readonly pool: string = DEFAULT_POOL,
  ) {}

  /** One step: finish tasks whose time has come, then let idle running pods claim work. */
  async tick(): Promise<{ finished: number; claimed: number }> {
    const now = this.clock.now();
    const running = new Map(this.provider.running().map((p) => [p.workerId as string, p]));
    let finished = 0;
    let claimed = 0;
    for (const [workerId, h] of this.holding) {
      if (!running.has(workerId)) {
        // the pod went away: its task goes back to the queue
        await this.db.query(`update tasks set status = 'queued', worker_id = null, started_at = null where id = $1`, [
          h.taskId,
        ]);
        this.holding.delete(workerId);
      } else if (now.getTime() >= h.until) {
        await this.db.query(`update tasks set status = 'done', finished_at = $2 where id = $1`, [
          h.taskId,
          now.toISOString(),
        ]);
        this.holding.delete(workerId);
        finished += 1;
      }
    }
    for (const workerId of running.keys()) {
      if (this.holding.has(workerId)) continue;
      const [task] = await this.db.query<{ id: number; run_seconds: number | null }>(
        `update tasks set status = 'active', worker_id = $1, started_at = $2
          where id = (select id from tasks where pool = $3 and status = 'queued' order by id limit 1 for update skip locked)
          returning id, run_seconds`,
        [workerId, now.toISOString(), this.pool],
      );
      if (!task) break;
      const sec = task.run_seconds ?? this.taskSec;
      this.holding.set(workerId, { taskId: task.id, until: now.getTime() + sec * 1000 });
      claimed += 1;
    }
    return { finished, claimed };
  }
}
