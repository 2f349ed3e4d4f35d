import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { requireTools, tempDir } from '../harness/media.ts';
import { NODE_ENV, NODE_FLAGS } from 'firstmile';
import { ROOT, render } from './chart.ts';
import { cleanupStack, startChartNats, startComponent, startFirstmile, type FirstmileProcess } from './processes.ts';

// No container engine runs here, so the image is reproduced from its Dockerfile: the build
// stage's COPY (filtered by .dockerignore) and RUN steps, then the runtime stage's WORKDIR, ENV,
// USER, ENTRYPOINT and CMD, all read from the Dockerfile so the test cannot drift from it.

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  const stages: Stage[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`cannot parse Dockerfile line: ${line}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
      stages.push({ from: f[1]!, name: f[2], instructions: [] });
    } else if (op !== 'ARG' || stages.length > 0) {
      stages.at(-1)?.instructions.push({ op, args });
    }
  }
  return stages;
}

/** ENV lines (both `ENV K=V K2=V2` and `ENV K V`) of one stage. */
function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage.instructions.filter((x) => x.op === 'ENV')) {
    if (!i.args.includes('=')) {
      const [k, ...v] = i.args.split(/\s+/);
      env[k!] = v.join(' ');
      continue;
    }
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  }
  return env;
}

function jsonForm(stage: Stage, op: string): string[] {
  const i = stage.instructions.filter((x) => x.op === op).at(-1);
  if (!i) throw new Error(`no ${op} in the runtime stage`);
  const v = JSON.parse(i.args) as unknown;
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `${op} must use the exec (JSON) form`);
  return v as string[];
}

/** .dockerignore semantics: last matching pattern wins, `!` re-includes, a match on a parent directory counts. */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        const ch = pattern[i]!;
        if (ch === '*' && pattern[i + 1] === '*') {
          re += '.*';
          i++;
          if (pattern[i + 1] === '/') i++;
        } else if (ch === '*') re += '[^/]*';
        else if (ch === '?') re += '[^/]';
        else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
  return (path) => {
    const parts = path.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate;
    return excluded;
  };
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** Path, size and mtime of every file: a process that wrote anything changes this. */
function snapshot(dir: string): string[] {
  return walk(dir).map((f) => {
    const s = statSync(f);
    return `${relative(dir, f)} ${s.size} ${s.mtimeMs}`;
  });
}

const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const STAGES = parseDockerfile(DOCKERFILE);
const BUILD = STAGES.find((s) => s.name === 'build')!;
const RUNTIME = STAGES.at(-1)!;

test('the Dockerfile builds in two stages on Node 24 slim and runs as a numeric non-root user', () => {
  assert.equal(STAGES.length, 2);
  assert.ok(BUILD, 'a build stage');
  const arg = /^ARG NODE_IMAGE=(\S+)$/m.exec(DOCKERFILE)?.[1];
  assert.equal(arg, 'node:24-slim');
  for (const s of STAGES) assert.equal(s.from, '${NODE_IMAGE}');
  const user = RUNTIME.instructions.filter((i) => i.op === 'USER').at(-1)?.args;
  assert.match(user ?? '', /^[1-9]\d*(:\d+)?$/, 'USER is numeric and not root');
  assert.deepEqual(RUNTIME.instructions.filter((i) => i.op === 'COPY').map((i) => i.args), ['--from=build /app /app']);
  const env = stageEnv(RUNTIME);
  assert.equal(env['NODE_ENV'], 'production');
  for (const [k, v] of Object.entries(NODE_ENV)) assert.equal(env[k], v, `ENV ${k} as in node-runtime.ts`);
  const entrypoint = jsonForm(RUNTIME, 'ENTRYPOINT');
  assert.deepEqual(entrypoint.slice(1, 1 + NODE_FLAGS.length), [...NODE_FLAGS], 'ENTRYPOINT passes the Node flags of node-runtime.ts');
  assert.equal(env['NODE_COMPILE_CACHE'], undefined, 'a compile cache would write to the read-only root');
});

test('scripts/up.sh runs firstmile with the Node flags and environment of the image', () => {
  const up = readFileSync(join(ROOT, 'scripts/up.sh'), 'utf8');
  const exec = /^exec node (.*) services\/firstmile\/src\/bin\.ts up "\$@"$/m.exec(up);
  assert.ok(exec, 'up.sh ends in exec node <flags> services/firstmile/src/bin.ts up');
  assert.deepEqual(exec[1]!.split(' '), [...NODE_FLAGS]);
  for (const [k, v] of Object.entries(NODE_ENV)) assert.match(up, new RegExp(`^export ${k}=${v}$`, 'm'));
});

test('the Dockerfile installs the pnpm version scripts/setup.sh pins', () => {
  const pinned = /^FM_PNPM_VERSION=(\S+)$/m.exec(readFileSync(join(ROOT, 'scripts/setup.sh'), 'utf8'))?.[1];
  const installed = /pnpm@(\d+\.\d+\.\d+)/.exec(BUILD.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n'))?.[1];
  assert.ok(pinned && installed);
  assert.equal(installed, pinned);
});

test('the image\'s production install starts edge, origin and control from the Dockerfile\'s entrypoint with the chart\'s env, and up as the default command, from a read-only tree as a non-root user', async (t) => {
  requireTools('nats-server', 'pnpm');
  const defer = cleanupStack(t);
  const work = tempDir('fm-image-');
  // The image's /app is read-only for its user: make the copy writable again for cleanup.
  defer(() => {
    spawnSync('chmod', ['-R', 'u+w', work.path]);
    work.cleanup();
  });
  chmodSync(work.path, 0o755);
  const workdir = RUNTIME.instructions.filter((i) => i.op === 'WORKDIR').at(-1)!.args;
  assert.equal(BUILD.instructions.filter((i) => i.op === 'WORKDIR').at(-1)!.args, workdir, 'the build stage installs where the runtime stage runs');
  const app = join(work.path, 'app');
  mkdirSync(app);

  // COPY <src...> <dest> of the build stage, with .dockerignore applied to the context.
  const ignored = dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
  let copied = 0;
  for (const i of BUILD.instructions.filter((x) => x.op === 'COPY')) {
    const parts = i.args.split(/\s+/);
    assert.ok(!parts[0]!.startsWith('--'), `unexpected COPY flags in the build stage: ${i.args}`);
    const dest = parts.at(-1)!;
    for (const src of parts.slice(0, -1)) {
      const from = join(ROOT, src);
      const files = statSync(from).isDirectory() ? walk(from) : [from];
      for (const f of files) {
        const rel = relative(ROOT, f);
        if (ignored(rel)) continue;
        const target = dest.endsWith('/') && !statSync(from).isDirectory() ? join(app, dest, relative(dirname(from), f)) : join(app, dest, relative(from, f));
        mkdirSync(dirname(target), { recursive: true });
        cpSync(f, target);
        copied++;
      }
    }
  }
  assert.ok(copied > 0);
  const shipped = walk(app).map((f) => relative(app, f));
  for (const f of shipped) assert.doesNotMatch(f, /(^|\/)(test|node_modules|dist)\//, `${f} should not be in the build context`);
  assert.ok(shipped.includes('services/firstmile/src/bin.ts'));

  // RUN steps, except installing pnpm itself (the pinned version is already on PATH here).
  // Packages are copied, not hard-linked from the shared store, so making the tree read-only below
  // cannot touch the store's files (in the image the store stays behind in the build stage).
  const env = { ...process.env, ...stageEnv(BUILD), npm_config_package_import_method: 'copy' };
  for (const i of BUILD.instructions.filter((x) => x.op === 'RUN')) {
    if (/npm install --global .*pnpm@/.test(i.args)) continue;
    const started = Date.now();
    const r = spawnSync('sh', ['-c', i.args], { cwd: app, env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `RUN ${i.args}\n${r.stdout}\n${r.stderr}`);
    console.log(`image: RUN ${i.args} took ${Date.now() - started} ms`);
  }
  const size = execFileSync('du', ['-sm', app], { encoding: 'utf8' }).split(/\s/)[0];
  console.log(`image: /app is ${size} MiB (production dependencies only)`);
  for (const dev of ['typescript', 'fast-check', 'kubernetes-models', 'yaml']) {
    assert.equal(spawnSync('find', [join(app, 'node_modules', '.pnpm'), '-maxdepth', '1', '-name', `${dev.replace('/', '+')}@*`], { encoding: 'utf8' }).stdout.trim(), '', `${dev} is not a production dependency`);
  }
  execFileSync('chmod', ['-R', 'a-w', app]);
  const before = snapshot(app);

  const entrypoint = jsonForm(RUNTIME, 'ENTRYPOINT');
  const cmd = jsonForm(RUNTIME, 'CMD');
  assert.equal(entrypoint[0], 'node');
  const entry = [process.execPath, ...entrypoint.slice(1)];
  const runtimeEnv = stageEnv(RUNTIME);
  const asUser = process.getuid?.() === 0 ? { uid: 1000, gid: 1000 } : undefined;
  const user = RUNTIME.instructions.filter((i) => i.op === 'USER').at(-1)!.args.split(':');
  if (asUser) assert.deepEqual([String(asUser.uid), String(asUser.gid)], user);

  const objects = render({ set: ['nats.builtin.replicas=1', 'config.indexReplicas=1', 'config.keysReplicas=1'] });
  const secrets = join(work.path, 'pods');
  mkdirSync(secrets, { mode: 0o755 });
  const nats = await startChartNats(objects, join(work.path, 'nats'));
  defer(() => nats.stop());
  const started: FirstmileProcess[] = [];
  defer(() => Promise.all(started.map((p) => p.stop())));
  for (const component of ['control', 'edge', 'origin'] as const) {
    const p = await startComponent({
      objects,
      component,
      dir: secrets,
      natsUrl: nats.url,
      entry,
      cwd: app,
      ...(asUser ? { asUser } : {}),
    });
    started.push(p);
    console.log(`image: ${component} ready as ${asUser ? `uid ${asUser.uid}` : 'this user'}`);
  }
  // `up`: the image's default command, with no configuration at all.
  const up = await startFirstmile({ entry, command: cmd[0]!, env: runtimeEnv, cwd: app, ...(asUser ? { asUser } : {}) });
  started.push(up);
  assert.deepEqual(cmd, ['up']);

  for (const p of started) {
    assert.doesNotMatch(p.output(), /EACCES|EROFS|permission denied/i, 'a process tried to write to the read-only tree');
  }
  await Promise.all(started.map((p) => p.stop()));
  assert.deepEqual(snapshot(app), before, 'nothing was written to /app');
});
