import type { LogLevel as Level } from '../logging/levels';

/** What the control loop needs of logging: levelled lines with cycle metadata, and the stderr mirror. */
export interface ControlLog {
  log(level: Level, message: string, meta?: { cycle?: number; workerId?: string; [k: string]: unknown }): void;
  /** A plain redundant line on stderr, written directly (survives a broken logger). */
  mirror(line: string): void;
}

/** Collects lines in memory (tests, simulations). */
export class MemoryLog implements ControlLog {
  readonly lines: { level: Level; message: string; meta: Record<string, unknown> }[] = [];
  readonly mirrored: string[] = [];
  log(level: Level, message: string, meta: Record<string, unknown> = {}): void {
    this.lines.push({ level, message, meta });
  }
  mirror(line: string): void {
    this.mirrored.push(line);
  }
  messages(level?: Level): string[] {
    return this.lines.filter((l) => !level || l.level === level).map((l) => l.message);
  }
}

/**
 * A fact the operator must see even when the logger is broken: logged at `level` and mirrored on
 * stderr, as the same line or, when the plain stderr form differs, as `mirrored`.
 */
export function fact(
  log: ControlLog,
  level: Level,
  message: string,
  meta: { cycle?: number; workerId?: string; [k: string]: unknown },
  mirrored: string = message,
): void {
  log.log(level, message, meta);
  log.mirror(mirrored);
}
