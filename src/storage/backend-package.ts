import { StorageError } from './errors.js';

/**
 * A replica backend's SDK is an optional peer dependency: installing
 * tidemark for a directory or S3 replica does not pull in every cloud SDK,
 * and a user of another backend installs its package next to tidemark
 * (`npm install tidemark @azure/storage-blob`, or both with `-g`).
 */
export class BackendPackageMissingError extends StorageError {
  override name = 'BackendPackageMissingError';
  readonly packageName: string;

  constructor(backend: string, packageName: string, options?: { cause?: unknown }) {
    super(
      `${article(backend)} ${backend} replica needs the npm package ${packageName}, which is not installed: run npm install ${packageName} where tidemark is installed`,
      options,
    );
    this.packageName = packageName;
  }
}

/** Backends whose name is spoken with a leading vowel sound. */
const AN_BACKENDS = new Set(['s3', 'sftp', 'abs', 'oss', 'age-encrypted']);

function article(backend: string): string {
  return AN_BACKENDS.has(backend) ? 'an' : 'a';
}

const MODULE_NOT_FOUND = new Set(['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND']);

/**
 * Loads a backend's SDK with `load` (a literal `import('pkg')`, so the
 * compiler still checks its types); a package that is not installed becomes
 * one BackendPackageMissingError naming it, any other failure passes through.
 */
export async function importBackendPackage<T>(backend: string, packageName: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : '';
    // Only the package itself missing, not a module it imports in turn.
    if (typeof code === 'string' && MODULE_NOT_FOUND.has(code) && message.includes(`'${packageName}'`)) {
      throw new BackendPackageMissingError(backend, packageName, { cause: err });
    }
    throw err;
  }
}
