import type { z } from 'zod';
import { GpuScalerError } from '../src/errors';
import type { EventDefinition, EventOf } from './define';

export class EventValidationError extends GpuScalerError {
  constructor(
    readonly eventType: string,
    readonly issues: string,
  ) {
    super('EVENT_INVALID', `event ${eventType} is not valid: ${issues}`);
    this.name = 'EventValidationError';
  }
}

export class EventDecodeError extends GpuScalerError {
  constructor(
    readonly globalPosition: number,
    readonly eventType: string,
    readonly reason: string,
  ) {
    super(
      'EVENT_UNDECODABLE',
      `stored event at global_position ${globalPosition} (${eventType}) cannot be read: ${reason}`,
    );
    this.name = 'EventDecodeError';
  }
}

export function formatZodIssues(err: z.ZodError): string {
  return err.issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .slice(0, 5)
    .join('; ');
}

/**
 * The set of event types a store accepts and can read back. Its type parameter is the union of
 * its definitions, so `EventOf<D>` is the discriminated union of every event it reads: build one
 * with `EventRegistry.empty().with(A).with(B)` (or `new EventRegistry([A, B])`) and the type
 * follows the definitions.
 */
export class EventRegistry<D extends EventDefinition = EventDefinition> {
  private readonly defs = new Map<string, EventDefinition>();

  constructor(defs: Iterable<D> = []) {
    for (const d of defs) this.add(d);
  }

  /** A registry with no event types yet. */
  static empty(): EventRegistry<never> {
    return new EventRegistry<never>();
  }

  /** This registry with one more event type (the type grows with it). */
  with<D2 extends EventDefinition>(def: D2): EventRegistry<D | D2> {
    this.add(def);
    return this as EventRegistry<D | D2>;
  }

  private add(def: EventDefinition): void {
    if (this.defs.has(def.type)) throw new Error(`event type ${def.type} is registered twice`);
    this.defs.set(def.type, def);
  }

  has(type: string): boolean {
    return this.defs.has(type);
  }

  types(): string[] {
    return [...this.defs.keys()].sort();
  }

  get(type: string): EventDefinition | undefined {
    return this.defs.get(type);
  }

  /** Validates new event data; returns what is stored. */
  encode(type: string, data: unknown): { schemaVersion: number; data: unknown } {
    const def = this.defs.get(type);
    if (!def) {
      throw new EventValidationError(type, `unknown event type; known types: ${this.types().join(', ') || '(none)'}`);
    }
    const res = def.schema.safeParse(data);
    if (!res.success) throw new EventValidationError(type, formatZodIssues(res.error));
    return { schemaVersion: def.schemaVersion, data: res.data };
  }

  /**
   * A stored event as this registry reads it: its data upcast to the current version and validated,
   * so the result is one member of the registry's union (the only place the type is asserted).
   */
  read(globalPosition: number, type: string, schemaVersion: number, data: unknown): EventOf<D> {
    return { type, data: this.decode(globalPosition, type, schemaVersion, data) } as EventOf<D>;
  }

  /** Upcasts stored data to the current version and validates it. */
  decode(globalPosition: number, type: string, schemaVersion: number, data: unknown): unknown {
    const def = this.defs.get(type);
    if (!def) throw new EventDecodeError(globalPosition, type, 'no schema is registered for this event type');
    let current = data;
    if (schemaVersion > def.schemaVersion) {
      throw new EventDecodeError(
        globalPosition,
        type,
        `schema_version ${schemaVersion} is newer than this build knows (${def.schemaVersion})`,
      );
    }
    for (let v = schemaVersion; v < def.schemaVersion; v++) {
      const up = def.upcast?.[v];
      if (!up) throw new EventDecodeError(globalPosition, type, `no upcaster from schema_version ${v}`);
      current = up(current);
    }
    const res = def.schema.safeParse(current);
    if (!res.success) throw new EventDecodeError(globalPosition, type, formatZodIssues(res.error));
    return res.data;
  }
}
