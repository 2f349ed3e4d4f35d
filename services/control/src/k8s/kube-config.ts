import { KubeConfig } from '@kubernetes/client-node';
import { RoutingError } from '../routing/errors.ts';

/** How control reaches the Kubernetes API. */
export type KubeConnection =
  /** In a pod: the service account token, CA and KUBERNETES_SERVICE_HOST/PORT. */
  | { kind: 'in-cluster' }
  /** A kubeconfig file (development against a real cluster). */
  | { kind: 'kubeconfig'; path: string; context?: string | undefined }
  /** A server URL without client auth (tests against a loopback stand-in). */
  | { kind: 'server'; server: string; skipTLSVerify?: boolean | undefined; token?: string | undefined };

export function makeKubeConfig(connection: KubeConnection): KubeConfig {
  const kc = new KubeConfig();
  try {
    switch (connection.kind) {
      case 'in-cluster': {
        kc.loadFromCluster();
        break;
      }
      case 'kubeconfig': {
        kc.loadFromFile(connection.path);
        if (connection.context !== undefined) kc.setCurrentContext(connection.context);
        break;
      }
      case 'server': {
        kc.loadFromClusterAndUser(
          { name: 'firstmile', server: connection.server.replace(/\/+$/, ''), skipTLSVerify: connection.skipTLSVerify ?? false },
          { name: 'firstmile', ...(connection.token !== undefined ? { token: connection.token } : {}) },
        );
        break;
      }
    }
  } catch (error) {
    throw new RoutingError('ROUTING_ERR_KUBERNETES', `cannot load the Kubernetes client configuration (${connection.kind}): ${(error as Error).message}`, { cause: error });
  }
  if (!kc.getCurrentCluster()) throw new RoutingError('ROUTING_ERR_KUBERNETES', `no current cluster in the Kubernetes client configuration (${connection.kind})`);
  return kc;
}

export { inKubernetes, podNamespace } from './detect.ts';
