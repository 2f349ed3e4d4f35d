/** The parts of control that need @kubernetes/client-node (loaded only in a pod). */
export * from './k8s/index.ts';
export { KubernetesLeaseElector } from './leader/kubernetes-lease.ts';
export type { KubernetesLeaseElectorOptions } from './leader/kubernetes-lease.ts';
