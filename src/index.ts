export { TidemarkError, UsageError } from './errors.js';
