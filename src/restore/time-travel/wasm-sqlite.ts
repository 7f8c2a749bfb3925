/**
 * Loads SQLite compiled to WebAssembly (wa-sqlite's Asyncify build), which
 * lets a VFS written in JavaScript answer reads asynchronously: the page a
 * query needs is fetched from the replica while SQLite's call is suspended.
 * SQLite's own WebAssembly build only takes synchronous VFS methods, which
 * would need a worker thread and a blocking bridge for every page.
 *
 * The package is imported only when time travel is used, so other commands
 * do not pay for it. Each database gets its own instance, since Asyncify
 * allows one suspended call per instance.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { WasmMemory } from './replica-vfs.js';

type SqliteApi = ReturnType<typeof import('@journeyapps/wa-sqlite').Factory>;

export interface WasmSqlite {
  sqlite3: SqliteApi;
  module: WasmMemory & { ccall(name: string, ret: null, types: string[], args: unknown[]): unknown };
}

const WASM_FILE = '@journeyapps/wa-sqlite/dist/wa-sqlite-async.wasm';

let binary: Promise<Uint8Array> | undefined;

function wasmBinary(): Promise<Uint8Array> {
  binary ??= readFile(createRequire(import.meta.url).resolve(WASM_FILE));
  binary.catch(() => {
    binary = undefined;
  });
  return binary;
}

/** A fresh SQLite instance with its own memory. */
export async function loadWasmSqlite(): Promise<WasmSqlite> {
  const [{ default: factory }, api, bytes] = await Promise.all([
    import('@journeyapps/wa-sqlite/dist/wa-sqlite-async.mjs'),
    import('@journeyapps/wa-sqlite'),
    wasmBinary(),
  ]);
  const module = (await factory({ wasmBinary: bytes })) as WasmSqlite['module'];
  return { sqlite3: api.Factory(module), module };
}
