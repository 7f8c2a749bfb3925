import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/**
 * Writes back dirty pages and drops the kernel's page cache, so the next read
 * comes from the disk. Needs root; returns false (and the run is warm) without.
 */
export function dropPageCache(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}
