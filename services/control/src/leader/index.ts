export type { LeaderElector, StopOptions, ElectorTiming } from './elector.ts';
export { SoloElector } from './solo.ts';
export { KubernetesLeaseElector } from './kubernetes-lease.ts';
export type { KubernetesLeaseElectorOptions } from './kubernetes-lease.ts';
export { NatsKvLockElector, lockBucketName, LOCK_KEY } from './nats-kv-lock.ts';
export type { NatsKvLockElectorOptions } from './nats-kv-lock.ts';
