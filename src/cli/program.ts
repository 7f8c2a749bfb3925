import { Command, CommanderError } from 'commander';
import { TidemarkError, UsageError } from '../errors.js';
import { registerChecksum } from './checksum.js';
import { registerDatabases } from './databases.js';
import { registerLtx } from './ltx.js';
import { registerReset } from './reset.js';
import { registerStatus } from './status.js';
import { registerInspect } from './inspect.js';
import { registerReplicate } from './replicate.js';
import { registerRestore } from './restore.js';
import { registerQuery } from './query.js';
import { registerVersion, packageVersion } from './version.js';
import { normalizeArgv } from './argv.js';

/** Exit status for usage errors: unknown commands and flags, bad flag values. */
export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 1;

export function buildProgram(): Command {
  const program = new Command('tidemark')
    .description('Continuous streaming disaster recovery for SQLite, compatible with Litestream v0.5.')
    .version(packageVersion(), '--version', 'print the version and exit')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // Commander's own error text is replaced by one line printed in run().
      writeErr: (s) => {
        if (!s.startsWith('error:')) process.stderr.write(s);
      },
    });
  registerReplicate(program);
  registerRestore(program);
  registerQuery(program);
  registerDatabases(program);
  registerLtx(program);
  registerStatus(program);
  registerReset(program);
  registerInspect(program);
  registerChecksum(program);
  registerVersion(program);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** Runs the CLI with process-style arguments (without node and script) and resolves the exit code. */
export async function run(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(normalizeArgv(args), { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        return 0;
      }
      // Commander puts a suggestion ("Did you mean …?") on a line of its own; an error is one line.
      process.stderr.write(`tidemark: ${err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`tidemark: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof TidemarkError) {
      process.stderr.write(`tidemark: ${err.message}\n`);
      return EXIT_FAILURE;
    }
    const e = err as NodeJS.ErrnoException;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      process.stderr.write(`tidemark: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    throw err;
  }
}

