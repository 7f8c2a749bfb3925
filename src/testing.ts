/**
 * `tidemark/testing`: tools for testing an application's handling of replica
 * failures. A FaultInjectingClient wraps a real ReplicaClient and fails the
 * chosen operations, at random from a seed or on demand, so a failing schedule
 * can be replayed from the seed it reports. Documented in docs/api.md.
 */
export {
  FaultInjectingClient,
  InjectedFaultError,
  REPLICA_OPS,
  DEFAULT_RANDOM_FAULT_OPS,
  type ReplicaOp,
  type FaultOptions,
} from './storage/fault-injecting-client.js';
export { seededRandom } from './seeded-random.js';
