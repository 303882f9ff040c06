import type { TraceTask } from './trace';

/**
 * The simulated queue: tasks arrive at their trace times and wait in arrival order (FIFO); a worker
 * takes one task at a time, from the moment its pod is up until it ends. When several workers are
 * idle, the most recently idle one takes the next task (so the others stay idle and can time out,
 * as with a real queue that hands work to whoever asked last). Times are seconds from the trace's
 * start. Pure bookkeeping: no clock, no I/O; the simulation moves it forward.
 */

export interface SimWorker {
  id: string;
  /** When its pod is up and may take tasks. */
  readyAt: number;
  /** The task it holds (index into the trace) and when that ends, or null. */
  task: number | null;
  busyUntil: number;
  /** When it last became idle (up, or finished a task): the most recent takes the next task. */
  idleSince: number;
  /** When it last finished a task, or null. */
  lastTaskAt: number | null;
}

export class QueueModel {
  /** Start time of each task (NaN until started). */
  readonly started: Float64Array;
  readonly finished: Float64Array;
  private next = 0;
  /** Waiting task indexes, FIFO (requeued tasks go to the front). */
  private waiting: number[] = [];
  private head = 0;
  private readonly workers = new Map<string, SimWorker>();
  now = 0;
  done = 0;

  constructor(readonly tasks: readonly TraceTask[]) {
    this.started = new Float64Array(tasks.length).fill(Number.NaN);
    this.finished = new Float64Array(tasks.length).fill(Number.NaN);
  }

  get queued(): number {
    return this.waiting.length - this.head;
  }

  get active(): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.task !== null) n++;
    return n;
  }

  /** Every task has arrived and finished. */
  get drained(): boolean {
    return this.done === this.tasks.length;
  }

  /** Arrivals still to come. */
  get pendingArrivals(): number {
    return this.tasks.length - this.next;
  }

  workerList(): SimWorker[] {
    return [...this.workers.values()];
  }

  /** A pod that will be up at `readyAt`. */
  addWorker(id: string, readyAt: number): void {
    if (this.workers.has(id)) return;
    this.workers.set(id, { id, readyAt, task: null, busyUntil: 0, idleSince: readyAt, lastTaskAt: null });
  }

  /** A pod that ended: a task it held goes back to the front of the queue. */
  removeWorker(id: string): void {
    const w = this.workers.get(id);
    if (!w) return;
    this.workers.delete(id);
    if (w.task !== null) {
      this.started[w.task] = Number.NaN;
      this.waiting.splice(this.head, 0, w.task);
    }
  }

  /** Plays every arrival, start-up and completion up to and including time `t`. */
  advanceTo(t: number): void {
    for (;;) {
      // the next event: an arrival, a pod coming up, or a task ending
      let at = this.next < this.tasks.length ? this.tasks[this.next].arrival : Number.POSITIVE_INFINITY;
      for (const w of this.workers.values()) {
        if (w.task !== null) at = Math.min(at, w.busyUntil);
        else if (w.readyAt > this.now) at = Math.min(at, w.readyAt);
      }
      if (at > t) break;
      this.now = Math.max(this.now, at);
      while (this.next < this.tasks.length && this.tasks[this.next].arrival <= this.now) this.waiting.push(this.next++);
      for (const w of this.workers.values()) {
        if (w.task !== null && w.busyUntil <= this.now) {
          this.finished[w.task] = w.busyUntil;
          this.done++;
          w.task = null;
          w.idleSince = w.busyUntil;
          w.lastTaskAt = w.busyUntil;
        }
      }
      this.assign();
    }
    this.now = Math.max(this.now, t);
    this.assign();
  }

  /** Idle pods that are up take waiting tasks, the most recently idle first. */
  private assign(): void {
    while (this.queued > 0) {
      let best: SimWorker | null = null;
      for (const w of this.workers.values()) {
        if (w.task !== null || w.readyAt > this.now) continue;
        if (!best || w.idleSince > best.idleSince) best = w;
      }
      if (!best) return;
      const i = this.waiting[this.head++];
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      best.task = i;
      best.busyUntil = this.now + this.tasks[i].run;
      this.started[i] = this.now;
      if (this.tasks[i].run === 0) {
        // a zero-length task ends where it starts
        this.finished[i] = this.now;
        this.done++;
        best.task = null;
        best.idleSince = this.now;
        best.lastTaskAt = this.now;
      }
    }
  }

  /** Each finished or started task's wait (start - arrival), seconds. */
  waits(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.tasks.length; i++) {
      if (!Number.isNaN(this.started[i])) out.push(this.started[i] - this.tasks[i].arrival);
    }
    return out;
  }
}
