/**
 * Loads SQLite compiled to WebAssembly (wa-sqlite's Asyncify build), which
 * lets a VFS written in JavaScript answer reads asynchronously: the page a
 * query needs is fetched from the replica while SQLite's call is suspended.
 * SQLite's own WebAssembly build only takes synchronous VFS methods, which
 * would need a worker thread and a blocking bridge for every page.
 *
 * The package is imported only when time travel is used, so other commands
 * do not pay for it. The module is compiled once; each database gets its own
 * instance, since Asyncify allows one suspended call per instance.
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

/** The slice of the WebAssembly API used here (the project's TS lib settings do not declare it). */
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<object>;
}
const wasmApi = (): WasmApi => (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: Promise<object> | undefined;

/** Compiled once per process; each instance then only links it and allocates its memory. */
function compiledModule(): Promise<object> {
  compiled ??= readFile(createRequire(import.meta.url).resolve(WASM_FILE)).then((bytes) => wasmApi().compile(bytes));
  compiled.catch(() => {
    compiled = undefined;
  });
  return compiled;
}

/** A fresh SQLite instance with its own memory. */
export async function loadWasmSqlite(): Promise<WasmSqlite> {
  const [{ default: factory }, api, wasm] = await Promise.all([
    import('@journeyapps/wa-sqlite/dist/wa-sqlite-async.mjs'),
    import('@journeyapps/wa-sqlite'),
    compiledModule(),
  ]);
  // Emscripten's instantiateWasm hook has no way to report a failure: race it.
  let failed: (err: unknown) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => {
    failed = reject;
  });
  const module = (await Promise.race([
    factory({
      instantiateWasm(imports: object, done: (instance: object, module: object) => void): object {
        wasmApi().instantiate(wasm, imports).then((instance) => done(instance, wasm), failed);
        return {};
      },
    }),
    failure,
  ])) as WasmSqlite['module'];
  return { sqlite3: api.Factory(module), module };
}
