import { readFileSync } from 'node:fs';
import type { Logger } from '@firstmile/observability';
import type { FakeApiServer, KubeObject, Resource } from './fake-apiserver.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url);

export function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as T;
}

/** Loads a recorded List into the stand-in (it assigns its own resourceVersions). */
export function seed(server: FakeApiServer, resource: Resource, file: string): KubeObject[] {
  return fixture<{ items: KubeObject[] }>(file).items.map((o) => server.put(resource, o));
}

export interface LogEntry {
  level: string;
  msg: string | undefined;
  fields: object;
}

/** A Logger that keeps what it is told, for assertions. */
export function recordingLogger(entries: LogEntry[] = []): Logger & { entries: LogEntry[] } {
  const make = (bindings: object): Logger => {
    const at = (level: string) => (obj: object, msg?: string) => entries.push({ level, msg, fields: { ...bindings, ...obj } });
    return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal'), child: (b) => make({ ...bindings, ...b }) };
  };
  return Object.assign(make({}), { entries });
}

export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
