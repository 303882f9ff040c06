import { DEFAULT_POOL } from '../../events/common';
import { defineSettings } from '../settings';
import type { Sql } from '../store/db';
import type { TaskSource } from './source';

/**
 * The default task source: a `tasks` table in the store's own database. Insert rows to add work:
 *   insert into tasks(status) values ('queued');
 * Each task belongs to a pool (`tasks.pool`, default `default`): the source of a pool counts only its
 * pool's rows (insert into tasks(pool) values ('video') to queue work for pool video).
 * Per-worker activity comes from tasks.worker_id, so scale-down knows who is busy.
 */
export class TasksTableSource implements TaskSource {
  readonly name = 'tasks-table';

  /** `pool`: the pool whose tasks it counts (the pool's name, as the configuration names it). */
  constructor(
    private readonly db: Sql,
    readonly pool: string = DEFAULT_POOL,
  ) {}

  async fetch(opts: { workerIds: string[] }): Promise<unknown> {
    const [counts] = await this.db.query<{ queued: number; active: number }>(
      `select count(*) filter (where status = 'queued')::bigint as queued,
              count(*) filter (where status = 'active')::bigint as active
         from tasks where pool = $1 and status in ('queued', 'active')`,
      [this.pool],
    );
    const workers = opts.workerIds.length
      ? await this.db.query<{ worker_id: string; active_tasks: number; last_task_at: Date | null }>(
          `select worker_id,
                  count(*) filter (where status = 'active')::bigint as active_tasks,
                  max(finished_at) filter (where status = 'done') as last_task_at
             from tasks where worker_id = any($1::text[]) and pool = $2 group by worker_id`,
          [opts.workerIds, this.pool],
        )
      : [];
    const byId = new Map(workers.map((w) => [w.worker_id, w]));
    return {
      queued: counts.queued,
      active: counts.active,
      workers: opts.workerIds.map((id) => {
        const w = byId.get(id);
        return {
          workerId: id,
          activeTasks: w?.active_tasks ?? 0,
          lastTaskAt: w?.last_task_at ? new Date(w.last_task_at).toISOString() : null,
        };
      }),
    };
  }
}

/** TASK_SOURCE=tasks-table: no settings of its own (the store's database). Registered in index.ts. */
export const tasksTableDefinition = defineSettings({ name: 'tasks-table', settings: {}, secrets: [], check: () => [] });
