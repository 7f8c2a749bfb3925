import { readFileSync } from 'node:fs';
import type { Command } from 'commander';

let cached: string | undefined;

/** The package version, read from package.json next to the built code. */
export function packageVersion(): string {
  if (cached === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    cached = pkg.version;
  }
  return cached;
}

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`tidemark v${packageVersion()}\n`);
    });
}
