import type { Clock } from '../clock';
import type { TaskSource } from './source';

/**
 * A task source that answers what it is told: for demos, backtests and tests. It can also answer
 * slowly (on a fake clock), fail, or answer garbage, to exercise the validation path.
 */
export class ScriptedSource implements TaskSource {
  answer: unknown = { queued: 0, active: 0 };
  /** Milliseconds the answer takes; on a fake clock the clock is advanced by this much. */
  delayMs = 0;
  error: Error | null = null;
  calls = 0;

  constructor(
    private readonly clock: Clock & { advance?: (ms: number) => void },
    readonly name = 'scripted',
  ) {}

  async fetch(): Promise<unknown> {
    this.calls += 1;
    if (this.delayMs) {
      if (this.clock.advance) this.clock.advance(this.delayMs);
      else await this.clock.sleep(this.delayMs);
    }
    if (this.error) throw this.error;
    return this.answer;
  }

  set(queued: number, active = 0): void {
    this.answer = { queued, active };
  }
}
