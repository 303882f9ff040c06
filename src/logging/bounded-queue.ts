/**
 * A FIFO with a fixed capacity. When it is full, `push` drops the OLDEST entry to make room: after
 * an outage of the database the most recent entries (what happened just before and since) are the
 * ones still waiting to be written.
 */
export class BoundedQueue<T> {
  private items: T[] = [];
  private head = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`queue capacity must be an integer >= 1, got ${capacity}`);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  peek(): T | undefined {
    return this.length > 0 ? this.items[this.head] : undefined;
  }

  /** Appends; returns how many entries were dropped to make room (0 or 1). */
  push(item: T): number {
    let dropped = 0;
    if (this.length >= this.capacity) {
      this.head += 1;
      dropped = 1;
    }
    this.items.push(item);
    this.compact();
    return dropped;
  }

  /** Removes and returns up to n entries from the front. */
  take(n: number): T[] {
    const end = Math.min(this.items.length, this.head + Math.max(0, n));
    const out = this.items.slice(this.head, end);
    this.head = end;
    this.compact();
    return out;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
