import type { Command } from 'commander';
import { checksumDatabaseFile } from '../sqlite/database-file.js';
import { hex64 } from '../ltx/header.js';
import { checkNotDirectory } from './replica-arg.js';

export function registerChecksum(program: Command): void {
  program
    .command('checksum')
    .description('print the rolling LTX checksum of a SQLite database file (16 hex digits)')
    .argument('<DB_PATH>', 'SQLite database file')
    .action(async (dbPath: string) => {
      await checkNotDirectory(dbPath);
      const { checksum } = await checksumDatabaseFile(dbPath);
      process.stdout.write(`${hex64(checksum)}\n`);
    });
}
