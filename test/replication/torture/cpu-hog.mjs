// A CPU hog: spins so the replicator runs on a loaded machine. It checks now
// and then that the harness that started it is still there, and exits if not,
// so even a harness killed with SIGKILL leaves no spinning orphan behind.
const SPIN_SLICE_MS = 50;
const parent = process.ppid;

function parentAlive() {
  if (process.ppid !== parent) return false;
  try {
    process.kill(parent, 0);
    return true;
  } catch {
    return false;
  }
}

let x = 0;
for (;;) {
  const until = Date.now() + SPIN_SLICE_MS;
  while (Date.now() < until) x = (x * 31 + 7) % 1000003;
  if (!parentAlive()) process.exit(0);
}
