// Runs the replication torture harness (test/replication/torture/) for many
// cycles against the built CLI and prints a summary every few cycles and at
// the end: `npm run soak -- --cycles 1000 [--seed N]`. Exits 1 if anything failed.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../test/replication/torture/soak.ts');
process.exitCode = await main(process.argv.slice(2));
