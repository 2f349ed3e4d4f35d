import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SETTINGS, loadConfig } from 'firstmile';
import { tempDir } from '../harness/media.ts';
import {
  CHART,
  COMPONENTS,
  ROOT,
  ciValuesFiles,
  find,
  helm,
  localContainer,
  matchesLabels,
  render,
  templateArgs,
  workload,
  workloads,
  type Container,
  type K8sObject,
  type PodSpec,
  type Workload,
} from './chart.ts';
import { schemaErrors, unknownFieldErrors } from './k8s-schema.ts';

const SETTING_ENVS = new Set<string>(SETTINGS.map((s) => s.env));
const CASES = ciValuesFiles().map((file) => ({ name: basename(file, '-values.yaml'), file, objects: render({ valuesFiles: [file] }) }));

test('the chart is tested over the CI values matrix: defaults, external NATS, TLS, autoscaling, existing secrets', () => {
  assert.deepEqual(CASES.map((c) => c.name), ['autoscaling', 'defaults', 'existing-secrets', 'external-nats', 'tls']);
});

test('values.schema.json and templates/_settings.tpl are what scripts/chart-schema.ts generates from SETTINGS', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/chart-schema.ts'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `stale generated chart files: ${r.stderr}`);
});

test('every setting is either a `config` key of the schema or set by the templates in some CI values file', () => {
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as {
    definitions: { config: { additionalProperties: boolean; properties: Record<string, unknown> } };
  };
  const config = schema.definitions.config;
  assert.equal(config.additionalProperties, false);
  for (const key of Object.keys(config.properties)) assert.ok(SETTINGS.some((s) => s.key === key), `schema key ${key} is not a setting`);
  const rendered = new Set<string>();
  for (const c of CASES) for (const w of firstmileWorkloads(c.objects)) for (const e of container(w).env ?? []) rendered.add(e.name);
  // A secret is never a plain setting: the chart mounts adminTokenFile instead.
  const neverRendered = new Set(['adminToken']);
  for (const s of SETTINGS) {
    if (s.key in config.properties || neverRendered.has(s.key)) continue;
    assert.ok(rendered.has(s.env), `${s.key} is not configurable in values and no CI values file makes the chart set ${s.env}`);
  }
});

for (const c of CASES) {
  test(`${c.name}: helm lint --strict passes`, () => {
    const r = helm(['lint', '--strict', CHART, '--values', c.file, '--kube-version', '1.31.0']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test(`${c.name}: every rendered object is valid against the Kubernetes OpenAPI schema, with no unknown field`, async () => {
    assert.deepEqual(await schemaErrors(c.objects), []);
    assert.deepEqual(unknownFieldErrors(c.objects), []);
  });

  test(`${c.name}: every Service selects the pods of one workload, on ports those pods have`, () => {
    for (const svc of c.objects.filter((o) => o.kind === 'Service')) {
      const spec = svc['spec'] as { selector: Record<string, string>; ports: Array<{ name: string; targetPort: string | number }> };
      const selected = workloads(c.objects).filter((w) => matchesLabels(spec.selector, w.template.metadata.labels));
      assert.equal(selected.length, 1, `Service ${svc.metadata.name} selects ${selected.length} workloads`);
      for (const port of spec.ports) {
        assert.ok(hasContainerPort(selected[0]!.template.spec, port.targetPort), `Service ${svc.metadata.name} port ${port.name} targets ${port.targetPort}, which no container has`);
      }
    }
  });

  test(`${c.name}: selectors of workloads, PodDisruptionBudgets and autoscalers match their pods`, () => {
    for (const w of workloads(c.objects)) assert.ok(matchesLabels(w.selector, w.template.metadata.labels), `${w.object.metadata.name}: selector does not match its pod labels`);
    for (const pdb of c.objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
      const sel = (pdb['spec'] as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      assert.equal(workloads(c.objects).filter((w) => matchesLabels(sel, w.template.metadata.labels)).length, 1, `PDB ${pdb.metadata.name}`);
    }
    for (const hpa of c.objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
      const spec = hpa['spec'] as { scaleTargetRef: { kind: string; name: string }; metrics: Array<{ type: string; pods?: { metric: { name: string } }; resource?: { name: string } }> };
      const target = find(c.objects, spec.scaleTargetRef.kind, spec.scaleTargetRef.name);
      assert.equal((target['spec'] as { replicas?: number }).replicas, undefined, `${target.metadata.name} sets replicas although an HPA scales it`);
      assert.ok(spec.metrics.some((m) => m.type === 'Pods' && /^firstmile_active_(publishers|players)$/.test(m.pods!.metric.name)), 'a Pods metric of active connections');
      assert.ok(spec.metrics.some((m) => m.type === 'Resource' && m.resource!.name === 'cpu'), 'a CPU fallback');
    }
  });

  test(`${c.name}: probes point at ports the containers have`, () => {
    for (const w of workloads(c.objects)) {
      for (const ct of w.template.spec.containers) {
        for (const probe of [ct.readinessProbe, ct.livenessProbe, ct.startupProbe]) {
          const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
          if (port !== undefined) assert.ok(hasContainerPort({ containers: [ct] }, port), `${w.object.metadata.name}/${ct.name}: probe port ${port}`);
        }
      }
      for (const ct of firstmileContainers(w)) {
        assert.equal(ct.readinessProbe?.httpGet?.path, '/readyz');
        assert.equal(ct.livenessProbe?.httpGet?.path, '/healthz');
        assert.equal(ct.readinessProbe?.httpGet?.port, 'http');
        const http = ct.ports!.find((p) => p.name === 'http')!;
        assert.equal(http.containerPort, effectiveNumber(ct, 'httpPort'), 'the http port is the one the process listens on');
      }
    }
  });

  test(`${c.name}: every pod drains: preStop, then a grace period longer than preStop + shutdownTimeoutMs`, () => {
    for (const w of firstmileWorkloads(c.objects)) {
      const ct = container(w);
      const preStop = ct.lifecycle?.preStop?.sleep?.seconds;
      assert.ok(preStop !== undefined && preStop >= 1, `${w.object.metadata.name}: no preStop sleep`);
      const shutdownS = effectiveNumber(ct, 'shutdownTimeoutMs') / 1000;
      const grace = w.template.spec.terminationGracePeriodSeconds!;
      assert.ok(grace > preStop + shutdownS, `${w.object.metadata.name}: grace ${grace}s <= preStop ${preStop}s + drain ${shutdownS}s`);
    }
    const edge = workload(c.objects, 'edge');
    assert.ok(effectiveNumber(container(edge), 'shutdownTimeoutMs') >= 60_000, 'encoders get at least a minute to finish or reconnect elsewhere');
    const nats = workloads(c.objects).find((w) => w.object.kind === 'StatefulSet');
    if (nats) {
      const cmd = nats.template.spec.containers[0]!.lifecycle?.preStop?.exec?.command.join(' ') ?? '';
      assert.match(cmd, /nats-server --signal ldm=/, 'NATS enters lame duck mode before it stops');
      const conf = natsConf(c.objects);
      const ldm = Number(/lame_duck_duration: (\d+)s/.exec(conf)![1]);
      assert.ok(nats.template.spec.terminationGracePeriodSeconds! > ldm, 'NATS has time to finish lame duck mode');
    }
  });

  test(`${c.name}: the env of edge, origin and control is exactly settings the code reads, and loadConfig accepts it`, (t) => {
    const dir = tempDir('fm-chart-env-');
    t.after(dir.cleanup);
    for (const w of firstmileWorkloads(c.objects)) {
      const ct = container(w);
      const names = (ct.env ?? []).map((e) => e.name);
      assert.equal(new Set(names).size, names.length, `${ct.name}: duplicate env`);
      for (const name of names) assert.ok(SETTING_ENVS.has(name), `${ct.name}: ${name} is not a setting in SETTINGS`);
      assert.ok(names.includes('FIRSTMILE_EDGE_ID'), 'the pod name identifies the process');
      // Secrets from existing Secrets cannot be read here; stand-ins keep loadConfig's checks honest.
      const env = Object.fromEntries((ct.env ?? []).map((e) => [e.name, e.value ?? 'from-a-secret-0123456789']));
      assert.doesNotThrow(() => loadConfig(env, {}), `${ct.name}: loadConfig rejects the chart's env`);
      if (!c.name.startsWith('existing-secrets') && c.name !== 'external-nats') {
        const local = localContainer(c.objects, w.template.spec, ct.name, dir.path, { name: `${ct.name}-0`, namespace: 'media' });
        assert.doesNotThrow(() => loadConfig(local.env, {}));
      }
    }
  });

  test(`${c.name}: secrets reach the services as files of mounted Secret volumes, never as env values or subPath mounts`, () => {
    for (const w of firstmileWorkloads(c.objects)) {
      const ct = container(w);
      for (const e of ct.env ?? []) {
        if (/_FILE$|^FIRSTMILE_(TLS_CERT|TLS_KEY|NATS_CREDS|NATS_TLS_CA|NATS_TLS_CERT|NATS_TLS_KEY)$/.test(e.name)) {
          const mount = (ct.volumeMounts ?? []).find((m) => e.value!.startsWith(`${m.mountPath}/`));
          assert.ok(mount, `${ct.name}: ${e.name}=${e.value} is not inside a mounted volume`);
          assert.ok(!('subPath' in mount), `${ct.name}: ${mount.name} uses subPath (kubelet would never update it)`);
        }
        if (e.name === 'FIRSTMILE_NATS_PASSWORD') assert.ok(e.valueFrom?.secretKeyRef, 'the NATS password comes from a Secret');
        assert.ok(e.name !== 'FIRSTMILE_ADMIN_TOKEN', 'the admin token is never an env value');
      }
    }
  });

  test(`${c.name}: every pod and container runs non-root, read-only, without privilege escalation or capabilities, seccomp RuntimeDefault`, () => {
    for (const w of workloads(c.objects)) {
      const pod = w.template.spec.securityContext as Record<string, unknown>;
      assert.equal(pod['runAsNonRoot'], true);
      assert.deepEqual(pod['seccompProfile'], { type: 'RuntimeDefault' });
      for (const ct of w.template.spec.containers) {
        const sc = ct.securityContext as { capabilities?: { drop?: string[]; add?: string[] } } & Record<string, unknown>;
        const id = `${w.object.metadata.name}/${ct.name}`;
        assert.equal(sc['runAsNonRoot'], true, id);
        assert.equal(sc['runAsUser'], 1000, id);
        assert.equal(sc['readOnlyRootFilesystem'], true, id);
        assert.equal(sc['allowPrivilegeEscalation'], false, id);
        assert.deepEqual(sc.capabilities, { drop: ['ALL'] }, id);
        assert.deepEqual(sc['seccompProfile'], { type: 'RuntimeDefault' }, id);
      }
      const tmp = (w.template.spec.volumes ?? []).find((v) => v.name === 'tmp');
      if (w.object.kind === 'Deployment') assert.ok(tmp?.emptyDir, `${w.object.metadata.name}: /tmp is an emptyDir`);
    }
  });

  test(`${c.name}: NetworkPolicies deny by default and allow only ports the selected pods listen on`, () => {
    const policies = c.objects.filter((o) => o.kind === 'NetworkPolicy');
    const deny = policies.find((p) => p.metadata.name.endsWith('-default-deny'));
    assert.ok(deny, 'a default-deny policy');
    const denySpec = deny['spec'] as { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress?: unknown; egress?: unknown };
    assert.deepEqual(denySpec.policyTypes, ['Ingress', 'Egress']);
    assert.equal(denySpec.ingress, undefined);
    assert.equal(denySpec.egress, undefined);
    for (const w of workloads(c.objects)) assert.ok(matchesLabels(denySpec.podSelector.matchLabels, w.template.metadata.labels), `default deny covers ${w.object.metadata.name}`);
    for (const p of policies) {
      const spec = p['spec'] as NetworkPolicySpec;
      const selected = workloads(c.objects).filter((w) => matchesLabels(spec.podSelector.matchLabels ?? {}, w.template.metadata.labels));
      for (const rule of spec.ingress ?? []) {
        for (const port of rule.ports ?? []) {
          for (const w of selected) assert.ok(hasContainerPort(w.template.spec, port.port), `${p.metadata.name}: ingress port ${port.port} is not a port of ${w.object.metadata.name}`);
        }
      }
      for (const rule of spec.egress ?? []) {
        for (const peer of rule.to ?? []) {
          if (!peer.podSelector || peer.namespaceSelector) continue;
          const targets = workloads(c.objects).filter((w) => matchesSelector(peer.podSelector!, w.template.metadata.labels));
          assert.ok(targets.length > 0, `${p.metadata.name}: egress peer selects no pod of the release`);
          for (const port of rule.ports ?? []) {
            for (const w of targets) assert.ok(hasContainerPort(w.template.spec, port.port), `${p.metadata.name}: egress port ${port.port} is not a port of ${w.object.metadata.name}`);
          }
        }
      }
    }
    // The flows the cluster needs: encoders -> edge RTMP, players -> origin, services -> NATS.
    for (const comp of ['edge', 'origin'] as const) {
      const np = find(c.objects, 'NetworkPolicy', workload(c.objects, comp).object.metadata.name);
      const rtmp = effectiveNumber(container(workload(c.objects, comp)), 'rtmpPort');
      const ingress = (np['spec'] as NetworkPolicySpec).ingress ?? [];
      assert.ok(ingress.some((r) => r.from === undefined && (r.ports ?? []).some((x) => x.port === rtmp)), `${comp}: RTMP open to anyone`);
    }
    for (const comp of COMPONENTS) {
      const np = find(c.objects, 'NetworkPolicy', workload(c.objects, comp).object.metadata.name);
      const egress = (np['spec'] as NetworkPolicySpec).egress ?? [];
      assert.ok(egress.some((r) => (r.ports ?? []).some((x) => x.port === 4222)), `${comp}: egress to NATS`);
    }
  });

  test(`${c.name}: the edge Service is a LoadBalancer keeping client IPs, with RTMP (and RTMPS with TLS)`, () => {
    const edge = workload(c.objects, 'edge');
    const svc = find(c.objects, 'Service', edge.object.metadata.name);
    const spec = svc['spec'] as { type: string; externalTrafficPolicy: string; ports: Array<{ name: string; port: number; targetPort: string }> };
    assert.equal(spec.type, 'LoadBalancer');
    assert.equal(spec.externalTrafficPolicy, 'Local');
    assert.deepEqual(spec.ports.find((p) => p.name === 'rtmp'), { name: 'rtmp', port: 1935, targetPort: 'rtmp', protocol: 'TCP' });
    const tls = container(edge).env!.some((e) => e.name === 'FIRSTMILE_RTMPS_PORT');
    assert.equal(spec.ports.some((p) => p.name === 'rtmps' && p.port === 443 && p.targetPort === 'rtmps'), tls);
    for (const p of spec.ports) assert.notEqual(p.name, 'http', 'health and metrics are not exposed on the load balancer');
  });

  test(`${c.name}: control may read EndpointSlices and Nodes and hold its Lease, nothing more; edges and origins get no API token`, () => {
    const roles = c.objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole');
    const rules = roles.flatMap((r) => (r['rules'] as Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>).map((x) => ({ kind: r.kind, ...x })));
    const grants = rules.map((r) => `${r.kind}:${r.apiGroups.join()}/${r.resources.join()}:${[...r.verbs].sort().join()}${r.resourceNames ? `@${r.resourceNames.join()}` : ''}`).sort();
    const control = workload(c.objects, 'control').object.metadata.name;
    assert.deepEqual(grants, [
      `ClusterRole:/nodes:get,list,watch`,
      `Role:coordination.k8s.io/leases:create`,
      `Role:coordination.k8s.io/leases:get,update@${control}`,
      `Role:discovery.k8s.io/endpointslices:get,list,watch`,
    ]);
    const lease = container(workload(c.objects, 'control')).env!.find((e) => e.name === 'FIRSTMILE_LEASE_NAME');
    assert.equal(lease?.value, control, 'the Lease control elects with is the one its Role may update');
    for (const w of workloads(c.objects)) {
      assert.equal(w.template.spec.automountServiceAccountToken, w.template.metadata.labels['app.kubernetes.io/component'] === 'control', w.object.metadata.name);
    }
  });

  test(`${c.name}: pods roll when their secrets or the NATS configuration change`, () => {
    for (const w of firstmileWorkloads(c.objects)) assert.match(w.template.metadata.annotations?.['checksum/secrets'] ?? '', /^[0-9a-f]{64}$/);
    const nats = workloads(c.objects).find((w) => w.object.kind === 'StatefulSet');
    if (nats) assert.match(nats.template.metadata.annotations?.['checksum/config'] ?? '', /^[0-9a-f]{64}$/);
  });
}

test('ServiceMonitors are rendered only when the monitoring.coreos.com/v1 API exists, and select the metrics Services', () => {
  const without = render({ apiVersions: [] });
  assert.equal(without.filter((o) => o.kind === 'ServiceMonitor').length, 0);
  const autoscaling = CASES.find((c) => c.name === 'autoscaling')!.objects;
  const monitors = autoscaling.filter((o) => o.kind === 'ServiceMonitor');
  assert.deepEqual(monitors.map((m) => m.metadata.labels?.['app.kubernetes.io/component']).sort(), ['control', 'edge', 'nats', 'origin']);
  for (const m of monitors) {
    const spec = m['spec'] as { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string; path: string }> };
    const services = autoscaling.filter((o) => o.kind === 'Service' && matchesLabels(spec.selector.matchLabels, o.metadata.labels ?? {}));
    assert.equal(services.length, 1, `${m.metadata.name} selects ${services.length} Services`);
    const ports = (services[0]!['spec'] as { ports: Array<{ name: string }> }).ports.map((p) => p.name);
    for (const e of spec.endpoints) assert.ok(ports.includes(e.port), `${m.metadata.name}: no port ${e.port}`);
    assert.equal(m.metadata.labels?.['release'], 'kube-prometheus-stack', 'metrics.serviceMonitor.labels');
  }
});

const TYPOS: Array<{ name: string; yaml: string; mention: RegExp }> = [
  { name: 'a misspelt top-level component key', yaml: 'edge:\n  replicsa: 3\n', mention: /replicsa/ },
  { name: 'a misspelt setting in config', yaml: 'config:\n  logLevl: debug\n', mention: /logLevl/ },
  { name: 'a misspelt setting in a component override', yaml: 'origin:\n  config:\n    playWaitMS: 1000\n', mention: /playWaitMS/ },
  { name: 'a misspelt nested key', yaml: 'nats:\n  builtin:\n    jetstream:\n      storagSize: 1Gi\n', mention: /storagSize/ },
  { name: 'a setting of the wrong type', yaml: 'config:\n  rtmpPort: "1935x"\n', mention: /rtmpPort/ },
  { name: 'a setting out of its range', yaml: 'config:\n  chunkSize: 64\n', mention: /chunkSize/ },
  { name: 'a chart-managed setting in config', yaml: 'config:\n  natsUrl: nats://elsewhere:4222\n', mention: /natsUrl/ },
];

for (const typo of TYPOS) {
  test(`a values file with ${typo.name} fails helm lint --strict and helm template`, (t) => {
    const dir = tempDir('fm-chart-typo-');
    t.after(dir.cleanup);
    const file = join(dir.path, 'typo-values.yaml');
    writeFileSync(file, typo.yaml);
    const lint = helm(['lint', '--strict', CHART, '--values', file]);
    assert.notEqual(lint.code, 0, 'lint accepted the typo');
    assert.match(lint.stdout + lint.stderr, typo.mention);
    const tpl = helm(templateArgs({ valuesFiles: [file] }));
    assert.notEqual(tpl.code, 0, 'template accepted the typo');
    assert.match(tpl.stderr, typo.mention);
  });
}

test('values that would deploy but not work are refused with a reason', () => {
  const cases: Array<[string[], RegExp]> = [
    [['nats.builtin.replicas=1'], /indexReplicas \(3\) is more than nats.builtin.replicas \(1\)/],
    [['tls.enabled=true'], /tls.enabled needs/],
    [['nats.external.enabled=true'], /nats.external.url is required/],
  ];
  for (const [set, reason] of cases) {
    const r = helm(templateArgs({ set }));
    assert.notEqual(r.code, 0, set.join(','));
    assert.match(r.stderr, reason);
  }
});

test('the rendered NATS configuration of every built-in variant is accepted by nats-server', (t) => {
  const dir = tempDir('fm-chart-natsconf-');
  t.after(dir.cleanup);
  for (const c of CASES) {
    if (!workloads(c.objects).some((w) => w.object.kind === 'StatefulSet')) continue;
    // Files the configuration names exist in the pod; here -t only needs them readable.
    let conf = natsConf(c.objects);
    const certs = join(dir.path, c.name);
    conf = conf.replaceAll('"/etc/nats/tls/', `"${certs}/`);
    if (conf.includes(certs)) {
      const nats = workload(c.objects, 'nats');
      const local = localContainer(c.objects, nats.template.spec, 'nats', join(dir.path, `${c.name}-pod`), { name: 'n-0', namespace: 'media', claims: ['data'] });
      conf = conf.replaceAll(certs, local.mounts['/etc/nats/tls']!);
    }
    const file = join(dir.path, `${c.name}.conf`);
    writeFileSync(file, conf);
    const env = { ...process.env, POD_NAME: 'n-0', FM_EDGE_PASSWORD: 'e', FM_ORIGIN_PASSWORD: 'o', FM_CONTROL_PASSWORD: 'c' };
    const r = spawnSync('nats-server', ['-t', '-c', file], { encoding: 'utf8', env, timeout: 20_000 });
    assert.equal(r.status, 0, `${c.name}: ${r.stdout}${r.stderr}\n${conf}`);
  }
});

// ------------------------------------------------------------------------------------------------

interface NetworkPolicyPeer {
  podSelector?: { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string; values: string[] }> };
  namespaceSelector?: unknown;
  ipBlock?: unknown;
}
interface NetworkPolicySpec {
  podSelector: { matchLabels?: Record<string, string> };
  ingress?: Array<{ from?: NetworkPolicyPeer[]; ports?: Array<{ port: number | string; protocol?: string }> }>;
  egress?: Array<{ to?: NetworkPolicyPeer[]; ports?: Array<{ port: number | string; protocol?: string }> }>;
}

function matchesSelector(sel: NonNullable<NetworkPolicyPeer['podSelector']>, labels: Record<string, string>): boolean {
  if (!matchesLabels(sel.matchLabels ?? {}, labels)) return false;
  return (sel.matchExpressions ?? []).every((e) => {
    if (e.operator === 'In') return e.values.includes(labels[e.key] ?? '\u0000');
    if (e.operator === 'NotIn') return !e.values.includes(labels[e.key] ?? '\u0000');
    if (e.operator === 'Exists') return e.key in labels;
    return !(e.key in labels);
  });
}

function hasContainerPort(spec: Pick<PodSpec, 'containers'>, port: number | string): boolean {
  return spec.containers.some((ct) => (ct.ports ?? []).some((p) => (typeof port === 'number' ? p.containerPort === port : p.name === port)));
}

function firstmileWorkloads(objects: readonly K8sObject[]): Workload[] {
  return COMPONENTS.map((comp) => workload(objects, comp));
}

function firstmileContainers(w: Workload): Container[] {
  const comp = w.template.metadata.labels['app.kubernetes.io/component'];
  return (COMPONENTS as readonly string[]).includes(comp ?? '') ? [container(w)] : [];
}

function container(w: Workload): Container {
  assert.equal(w.template.spec.containers.length, 1, `${w.object.metadata.name} has one container`);
  return w.template.spec.containers[0]!;
}

/** A numeric setting as the process will see it: the container's env, else the setting's default. */
function effectiveNumber(ct: Container, key: string): number {
  const s = SETTINGS.find((x) => x.key === key);
  if (!s) throw new Error(`no setting ${key}`);
  const v = ct.env?.find((e) => e.name === s.env)?.value ?? s.default;
  if (v === undefined) throw new Error(`${key} has no value`);
  return Number(v);
}

function natsConf(objects: readonly K8sObject[]): string {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-nats-config'));
  if (!cm) throw new Error('no NATS ConfigMap');
  return (cm['data'] as Record<string, string>)['nats.conf']!;
}
