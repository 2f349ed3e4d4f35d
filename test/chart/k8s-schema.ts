/**
 * Validation of rendered Kubernetes objects against the API's OpenAPI definitions, as shipped by
 * kubernetes-models (and @kubernetes-models/prometheus-operator for ServiceMonitor):
 *
 * 1. `validate()`: the JSON schema check (types, enums, required fields, formats).
 * 2. A strict unknown-field check. The OpenAPI schemas allow unknown properties (the API server
 *    drops or rejects them depending on its field validation mode), so a misspelt field would pass
 *    (1). The same definitions also ship as TypeScript interfaces; the objects are type-checked as
 *    object literals of those interfaces, and TypeScript's excess-property check rejects any field
 *    the definition does not have, at any depth.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

const HERE = dirname(fileURLToPath(import.meta.url));

/** The module of an object's model, e.g. apps/v1 Deployment -> kubernetes-models/apps/v1/Deployment. */
export function modelModule(apiVersion: string, kind: string): string {
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/** Schema check (1): the error message of each invalid object, keyed by `Kind/name`. */
export async function schemaErrors(objects: readonly K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata.name}`;
    const module = modelModule(o.apiVersion, o.kind);
    let Cls: ModelClass | undefined;
    try {
      const m = (await import(module)) as Record<string, unknown>;
      Cls = m[o.kind] as ModelClass | undefined;
    } catch (error) {
      errors.push(`${id}: no model for ${o.apiVersion} ${o.kind} (${(error as Error).message})`);
      continue;
    }
    if (typeof Cls !== 'function') {
      errors.push(`${id}: ${module} has no ${o.kind} export`);
      continue;
    }
    try {
      new Cls(o).validate();
    } catch (error) {
      errors.push(`${id}: ${(error as Error).message}`);
    }
  }
  return errors;
}

/** Strict check (2): every field TypeScript finds no definition for (or of the wrong type). */
export function unknownFieldErrors(objects: readonly K8sObject[]): string[] {
  const file = join(HERE, '__rendered_objects__.ts');
  const chunks = objects.map((o, i) => `import type { I${o.kind} as T${i} } from ${JSON.stringify(modelModule(o.apiVersion, o.kind))};`);
  // Which object each line of the generated file belongs to, for the messages.
  const owners: string[] = chunks.map(() => '(imports)');
  objects.forEach((o, i) => {
    const chunk = `export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`;
    chunks.push(chunk);
    for (let n = chunk.split('\n').length; n > 0; n--) owners.push(`${o.kind}/${o.metadata.name}`);
  });
  const text = chunks.join('\n');

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, onError, create) =>
    name === file ? ts.createSourceFile(name, text, version) : getSourceFile(name, version, onError, create);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === file ? text : readFile(name));
  const program = ts.createProgram([file], options, host);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file)!;
  const out: string[] = [];
  // Every property of every object literal must be a property of the type the definition expects
  // there. TypeScript's own excess-property diagnostic stops at the first one per object; this
  // walk reports them all, with their path.
  const visit = (node: ts.Node, path: string[]): void => {
    if (ts.isObjectLiteralExpression(node)) {
      const type = checker.getContextualType(node);
      const known = type ? knownProperties(checker, type) : undefined;
      for (const prop of node.properties) {
        if (!ts.isPropertyAssignment(prop)) continue;
        const name = ts.isStringLiteral(prop.name) ? prop.name.text : prop.name.getText(source);
        if (known && !known.has(name)) out.push(`${owners[lineOf(source, prop)]}: unknown field ${[...path, name].join('.')}`);
        visit(prop.initializer, [...path, name]);
      }
      return;
    }
    if (ts.isArrayLiteralExpression(node)) {
      node.elements.forEach((e, i) => visit(e, [...path, String(i)]));
      return;
    }
    ts.forEachChild(node, (child) => visit(child, path));
  };
  visit(source, []);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file?.fileName !== file || d.start === undefined) {
      out.push(`(type check) ${message}`);
      continue;
    }
    // Excess properties are reported above, all of them.
    if (/may only specify known properties/.test(message)) continue;
    const { line: at } = d.file.getLineAndCharacterOfPosition(d.start);
    out.push(`${owners[at] ?? `line ${at + 1}`}: ${message.split('\n')[0]} [${d.file.text.split('\n')[at]!.trim()}]`);
  }
  return out;
}

function lineOf(source: ts.SourceFile, node: ts.Node): number {
  return source.getLineAndCharacterOfPosition(node.getStart(source)).line;
}

/** Property names of a (possibly union) type; undefined when any string key is allowed (a map). */
function knownProperties(checker: ts.TypeChecker, type: ts.Type): Set<string> | undefined {
  const parts = type.isUnion() ? type.types : [type];
  const names = new Set<string>();
  for (const part of parts) {
    if (part.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return undefined;
    if (!(part.flags & ts.TypeFlags.Object)) continue;
    if (checker.getIndexInfoOfType(part, ts.IndexKind.String)) return undefined;
    for (const p of checker.getPropertiesOfType(part)) names.add(p.getName());
  }
  return names;
}
