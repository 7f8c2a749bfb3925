/** A signal event as the caller supplies it. */
export interface SignalEvent {
  /** Unsigned 64-bit entity id. */
  entityId: bigint;
  /** Signal type, an integer in 0..255. */
  signalType: number;
  /** Stored as an IEEE-754 single (f32); replay returns the f32 value. */
  weight: number;
  /** Unsigned 64-bit timestamp in nanoseconds; its epoch is the caller's. */
  timestampNanos: bigint;
}

/** An event read back from the log, with the sequence number it was given. */
export interface ReplayedEvent extends SignalEvent {
  seq: bigint;
}

export const MAX_U64 = 0xffff_ffff_ffff_ffffn;
export const MAX_SIGNAL_TYPE = 255;

function checkU64(value: unknown, field: string, where: string): void {
  if (typeof value !== 'bigint') {
    throw new TypeError(`${where}: ${field} must be a bigint, got ${typeof value}`);
  }
  if (value < 0n || value > MAX_U64) {
    throw new RangeError(`${where}: ${field} ${value} is outside the unsigned 64-bit range`);
  }
}

/**
 * True when `event` can be stored exactly as a 21-byte record. The check of
 * the hot path: it builds no message, so appendMany need not make a label per
 * event; validateEvent then says what is wrong with one that fails.
 */
export function isValidEvent(event: unknown): event is SignalEvent {
  if (event === null || typeof event !== 'object') return false;
  const e = event as Record<string, unknown>;
  const { entityId, signalType, weight, timestampNanos } = e;
  return (
    typeof entityId === 'bigint' &&
    entityId >= 0n &&
    entityId <= MAX_U64 &&
    typeof signalType === 'number' &&
    Number.isInteger(signalType) &&
    signalType >= 0 &&
    signalType <= MAX_SIGNAL_TYPE &&
    typeof weight === 'number' &&
    Number.isFinite(Math.fround(weight)) &&
    typeof timestampNanos === 'bigint' &&
    timestampNanos >= 0n &&
    timestampNanos <= MAX_U64
  );
}

/**
 * Throws a TypeError or RangeError naming the offending field when `event`
 * cannot be stored exactly as a 21-byte record. `where` prefixes the message
 * (e.g. "append" or "appendMany[3]").
 */
export function validateEvent(event: unknown, where: string): asserts event is SignalEvent {
  if (event === null || typeof event !== 'object') {
    throw new TypeError(`${where}: event must be an object, got ${event === null ? 'null' : typeof event}`);
  }
  const e = event as Record<string, unknown>;
  checkU64(e.entityId, 'entityId', where);
  const signalType = e.signalType;
  if (typeof signalType !== 'number') {
    throw new TypeError(`${where}: signalType must be a number, got ${typeof signalType}`);
  }
  if (!Number.isInteger(signalType) || signalType < 0 || signalType > MAX_SIGNAL_TYPE) {
    throw new RangeError(`${where}: signalType ${signalType} is not an integer in 0..${MAX_SIGNAL_TYPE}`);
  }
  const weight = e.weight;
  if (typeof weight !== 'number') {
    throw new TypeError(`${where}: weight must be a number, got ${typeof weight}`);
  }
  // A finite double can still overflow f32 (e.g. 1e39), which would be stored as Infinity.
  if (!Number.isFinite(Math.fround(weight))) {
    throw new RangeError(`${where}: weight ${weight} is not a finite 32-bit float`);
  }
  checkU64(e.timestampNanos, 'timestampNanos', where);
}
