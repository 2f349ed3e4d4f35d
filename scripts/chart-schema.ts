// Generates the chart's view of the firstmile settings from SETTINGS (services/firstmile/src/config.ts),
// so values, schema and code cannot drift apart:
//   - charts/firstmile/values.schema.json: `definitions.config`, the schema of `config:` and of each
//     component's `config:` override (one property per setting, camelCase key = setting key);
//   - charts/firstmile/templates/_settings.tpl: the settings' defaults, which the templates read for
//     ports, probes and the termination grace period.
// The rest of values.schema.json is written by hand; this script replaces only its generated part.
//   node scripts/chart-schema.ts            rewrite both files
//   node scripts/chart-schema.ts --check    exit 1 if either file is stale (the chart tests run this)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../services/firstmile/src/config.ts';

const CHART = fileURLToPath(new URL('../charts/firstmile/', import.meta.url));
export const SCHEMA_PATH = `${CHART}values.schema.json`;
export const SETTINGS_TPL_PATH = `${CHART}templates/_settings.tpl`;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/**
 * Settings the templates set themselves, so they are not in `config:`. Each is either a path to a
 * file mounted from a Secret (a secret's value must never sit in a values file or a Deployment's
 * env), or a value only the chart knows (the pod's name, the Services and NATS users it creates).
 */
const CHART_MANAGED: Readonly<Record<string, string>> = {
  edgeId: 'the pod name (downward API)',
  natsUrl: 'the built-in NATS Service, or nats.external.url',
  natsCreds: 'a creds file mounted from nats.external.credentials.<component>',
  natsUser: 'the per-component NATS user',
  natsPassword: 'the per-component NATS password, from a Secret',
  natsTlsCa: 'nats.tls (mounted CA file)',
  natsTlsCert: 'nats.tls.clientSecret (mounted client certificate)',
  natsTlsKey: 'nats.tls.clientSecret (mounted client key)',
  rtmpsPort: 'tls.containerPort when tls.enabled (RTMPS needs port, certificate and key together)',
  tlsCert: 'tls (mounted certificate, reloaded when the Secret changes)',
  tlsKey: 'tls (mounted key)',
  adminToken: 'never a plain value: secrets.adminToken is mounted as adminTokenFile',
  k8sEdgeService: 'the edge Service this release creates',
  leaseName: 'a Lease named after this release, the one the control Role may update',
};

/** Files holding secrets: `*File` settings are mounted from `secrets.*` by the templates. */
export function isChartManaged(key: string): boolean {
  return key in CHART_MANAGED || key.endsWith('File');
}

function settingSchema(s: (typeof SETTINGS)[number]): JsonObject {
  // The input side: z.coerce.number() reads a string from the environment but is an integer in values.
  const raw = s.schema.toJSONSchema({ io: 'input', unrepresentable: 'any' }) as JsonObject;
  const { $schema: _ignored, ...schema } = raw;
  let out: JsonObject = schema;
  const en = schema['enum'];
  // An environment variable is a string; a 'true'|'false' setting is a boolean in a values file.
  if (Array.isArray(en) && en.length === 2 && en.includes('true') && en.includes('false')) out = { type: 'boolean' };
  if (out['type'] === undefined) throw new Error(`setting ${s.key}: no JSON type can be derived from its schema (${JSON.stringify(raw)})`);
  const def = typedDefault(s.key, out['type'], s.default);
  return { ...out, ...(def === undefined ? {} : { default: def }), description: `${s.env}. ${s.doc}` };
}

function typedDefault(key: string, type: Json | undefined, def: string | undefined): Json | undefined {
  if (def === undefined) return undefined;
  if (type === 'integer' || type === 'number') {
    const n = Number(def);
    if (!Number.isFinite(n)) throw new Error(`setting ${key}: default ${def} is not a number`);
    return n;
  }
  if (type === 'boolean') return def === 'true';
  return def;
}

export function configDefinition(): JsonObject {
  for (const key of Object.keys(CHART_MANAGED)) {
    if (!SETTINGS.some((s) => s.key === key)) throw new Error(`chart-managed setting ${key} is no longer in SETTINGS: update scripts/chart-schema.ts and the templates`);
  }
  const properties: JsonObject = {};
  for (const s of SETTINGS) if (!isChartManaged(s.key)) properties[s.key] = settingSchema(s);
  return {
    type: 'object',
    description: 'firstmile settings (FIRSTMILE_* variables, see docs/configuration.md), camelCase. Generated from SETTINGS by scripts/chart-schema.ts.',
    additionalProperties: false,
    properties,
  };
}

export function settingDefaults(): JsonObject {
  const out: JsonObject = {};
  for (const s of SETTINGS) {
    if (s.default === undefined) continue;
    const schema = settingSchema(s);
    out[s.key] = schema['default'] ?? null;
  }
  return out;
}

export function renderSchema(current: string): string {
  const schema = JSON.parse(current) as JsonObject;
  const definitions = (schema['definitions'] ?? {}) as JsonObject;
  schema['definitions'] = { ...definitions, config: configDefinition() };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

export function renderSettingsTpl(): string {
  return [
    '{{- /*',
    'Generated from SETTINGS (services/firstmile/src/config.ts) by scripts/chart-schema.ts: do not edit.',
    'The defaults of every firstmile setting, as JSON: the templates read ports, timeouts and bucket',
    'names from the effective configuration (values over these defaults), so probes, Service ports and',
    'the termination grace period follow whatever the process will use.',
    '*/ -}}',
    '{{- define "firstmile.settingDefaults" -}}',
    JSON.stringify(settingDefaults()),
    '{{- end -}}',
    '',
  ].join('\n');
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const outputs: Array<[string, string]> = [
    [SCHEMA_PATH, renderSchema(readFileSync(SCHEMA_PATH, 'utf8'))],
    [SETTINGS_TPL_PATH, renderSettingsTpl()],
  ];
  let stale = 0;
  for (const [path, text] of outputs) {
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      // missing: stale
    }
    if (current === text) continue;
    if (check) {
      process.stderr.write(`chart-schema: ${path.slice(CHART.length)} is stale: run node scripts/chart-schema.ts\n`);
      stale++;
    } else {
      writeFileSync(path, text);
      process.stderr.write(`chart-schema: wrote ${path.slice(CHART.length)}\n`);
    }
  }
  return stale === 0 ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
