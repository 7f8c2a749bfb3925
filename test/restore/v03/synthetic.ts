import type { V03Listing } from '../../../src/restore/v03/listing.js';
import type { LtxFileInfo } from '../../../src/storage/replica-client.js';

export const T0 = Date.UTC(2024, 0, 1);

/** Seconds after T0 as a Date. */
export function at(seconds: number): Date {
  return new Date(T0 + seconds * 1000);
}

export interface SynthGeneration {
  /** [index, createdAt in seconds after T0]. */
  snapshots: readonly (readonly [number, number])[];
  /** [index, offset, createdAt in seconds after T0], in (index, offset) order. */
  segments: readonly (readonly [number, number, number])[];
}

/** A v0.3 listing as a client would return it, built from times in seconds; generations in ID order. */
export function synthListing(spec: Record<string, SynthGeneration>): V03Listing {
  const generations = Object.keys(spec)
    .sort()
    .map((generation) => {
      const g = spec[generation]!;
      const snapshots = [...g.snapshots]
        .sort((a, b) => a[0] - b[0])
        .map(([index, t]) => ({ generation, index, size: 100, createdAt: at(t) }));
      const walSegments = g.segments.map(([index, offset, t]) => ({ generation, index, offset, size: 50, createdAt: at(t) }));
      const times = [...snapshots, ...walSegments].map((o) => o.createdAt.getTime());
      return {
        generation,
        snapshots,
        walSegments,
        createdAt: times.length === 0 ? undefined : new Date(Math.min(...times)),
        updatedAt: times.length === 0 ? undefined : new Date(Math.max(...times)),
      };
    });
  return { generations };
}

/** An LTX file listing entry created `seconds` after T0. */
export function ltxFile(level: number, min: bigint, max: bigint, seconds: number): LtxFileInfo {
  return { level, minTxid: min, maxTxid: max, size: 200, createdAt: at(seconds) };
}
