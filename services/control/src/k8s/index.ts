export { makeKubeConfig, podNamespace, inKubernetes } from './kube-config.ts';
export type { KubeConnection } from './kube-config.ts';
export { KubernetesEdgeSource, REGION_LABEL, ZONE_LABEL, SERVICE_NAME_LABEL } from './kubernetes-edge-source.ts';
export type { KubernetesEdgeSourceOptions } from './kubernetes-edge-source.ts';
