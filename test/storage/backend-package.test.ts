import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BackendPackageMissingError, importBackendPackage } from '../../src/storage/backend-package.js';

describe('importBackendPackage', () => {
  it('hands back the module when the package is installed', async () => {
    const yaml = await importBackendPackage('file', 'yaml', () => import('yaml'));
    assert.equal(typeof yaml.parse, 'function');
  });

  it('names the missing package and how to install it, in one line', async () => {
    const name = 'tidemark-no-such-package-' + process.pid;
    await assert.rejects(importBackendPackage('abs', name, () => import(name)), (err: unknown) => {
      assert.ok(err instanceof BackendPackageMissingError, String(err));
      assert.equal(err.packageName, name);
      assert.equal(err.message, `an abs replica needs the npm package ${name}, which is not installed: run npm install ${name} where tidemark is installed`);
      assert.ok(err.cause instanceof Error);
      return true;
    });
    await assert.rejects(importBackendPackage('webdav', name, () => import(name)), /^BackendPackageMissingError: a webdav replica needs/);
  });

  it('passes any other failure through unchanged', async () => {
    const boom = new Error('the SDK failed to initialise');
    await assert.rejects(importBackendPackage('abs', 'x', () => Promise.reject(boom)), (err: unknown) => err === boom);
    const other = Object.assign(new Error("Cannot find package 'dependency-of-the-sdk'"), { code: 'ERR_MODULE_NOT_FOUND' });
    await assert.rejects(importBackendPackage('abs', '@azure/storage-blob', () => Promise.reject(other)), (err: unknown) => err === other);
  });
});
