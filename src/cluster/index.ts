// ndshm/cluster: stores beyond one host, through NATS JetStream (docs/cluster.md). Needs the optional
// peer dependencies @nats-io/transport-node, @nats-io/jetstream, @nats-io/kv and @nats-io/obj; the
// core entry point ('ndshm') never loads them.

export { Cluster } from './cluster.js';
export type { ClusterOptions, OpenOptions, PublishOptions, PullOptions, PullResult, RemoteGcEntry, RemoteGcOptions, RemoteListing, WaitReplicatedOptions } from './cluster.js';
export { ReplicaAgent } from './agent.js';
export type { ReplicateOptions } from './agent.js';
export type { ReplicaState, ReplicaStateName } from './hosts.js';
export type { RemoteSegment, RemoteStoreInfo } from './manifest.js';
export type { ClusterStats } from './fetch.js';
export { NdshmError, isNdshmError } from '../errors.js';
export type { NdshmErrorCode } from '../errors.js';
