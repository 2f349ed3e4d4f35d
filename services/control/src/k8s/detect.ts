import { readFileSync } from 'node:fs';

/*
 * Kept apart from the client-node code: deciding whether to use Kubernetes at all must not load
 * @kubernetes/client-node (about 90 MiB of RSS), which a process outside a pod never needs.
 */

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The pod's own namespace, from its service account mount; undefined outside a pod. */
export function podNamespace(path: string = SERVICE_ACCOUNT_NAMESPACE): string | undefined {
  try {
    const ns = readFileSync(path, 'utf8').trim();
    return ns.length > 0 && ns.length <= 253 ? ns : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process runs in a pod: the kubelet sets these variables in every container. */
export function inKubernetes(env: Readonly<Record<string, string | undefined>>): boolean {
  return Boolean(env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT);
}
