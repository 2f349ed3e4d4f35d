/**
 * firstmile benchmark: the same scenarios against firstmile, nginx-rtmp and Node-Media-Server,
 * each started and stopped here on loopback ports, the server pinned to one core and this
 * generator to another. See docs/benchmarks.md.
 *
 *   node bench/src/main.ts [--servers firstmile,nginx,nms] [--scenarios fanout,ingest,latency,cluster]
 *     [--fanout 50,200,500,1000] [--ingest 10,50,100,200] [--cluster-players 1000] [--warmup-s 5] [--steady-s 15]
 *     [--smoke] [--write-docs] [--profile]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureMediaFile, loadMedia, MEDIA_SPEC, mediaFilePath } from './media.ts';
import { machineDescription, openFilesLimit } from './procstat.ts';
import { combineRuns } from './combine.ts';
import { formatProfile, summarizeProfile } from './profile.ts';
import { renderReport, writeDocs, type Report } from './report.ts';
import { runFanout, runIngest, type RunOptions, type RunResult, type ScenarioName } from './scenarios.ts';
import { natsServerBin, NGINX_RTMP_MODULE, profilesIn, ROOT, SERVER_LABELS, SERVER_NAMES, type ServerName } from './servers.ts';

const USAGE = `Usage: node bench/src/main.ts [options]   (or: pnpm run bench -- [options])

  --servers LIST        firstmile,nginx,nms (default: all three)
  --scenarios LIST      fanout,ingest,latency,cluster (default: all four; cluster runs for firstmile
                        only: publisher → firstmile edge → nats-server → firstmile origin → players,
                        next to a single-process fan-out run at the same N)
  --fanout LIST         players per fan-out run (default 50,200,500,1000)
  --ingest LIST         publishers per ingest run (default 10,50,100,200)
  --cluster-players LIST  players per cluster run (default 1000)
  --warmup-s N          warm-up before each steady window (default 5)
  --steady-s N          steady (measured) window (default 15)
  --baseline-s N        publisher alone / server idle before the load, for the RSS baseline (default 2)
  --stall-ms N          a gap between video frames at a player longer than this is a stall (default 250)
  --probe-players N     players per fan-out run hosted in the probe process, whose delays are
                        reported (default 10; the rest are in the bulk player process)
  --server-cpu LIST     taskset CPU list for the servers (default 0)
  --generator-cpu LIST  taskset CPU list for this generator (default 1)
  --repeat N            run the whole plan N times, servers alternating run by run, and report the
                        median of each figure with the lowest–highest range of the headline ones
                        (default 1)
  --smoke               tiny run: firstmile only, fanout 5, ingest 3, latency, cluster 5 (when
                        nats-server is installed), ~25 s; never writes docs
  --write-docs          write the results into docs/benchmarks.md (generated section)
  --profile             run firstmile under node --cpu-prof and print the top self-time functions
  --json FILE           also write the raw results as JSON (default bench/.cache/results-<date>.json)
  --render FILE         only render a results JSON written earlier (with --write-docs: into the docs)
  -h, --help`;

const CACHE = join(ROOT, 'bench/.cache');
const DOCS = join(ROOT, 'docs/benchmarks.md');

function log(s: string): void {
  process.stderr.write(`[bench] ${s}\n`);
}

function list(v: string | undefined, fallback: string): string[] {
  return (v ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function numbers(v: string | undefined, fallback: string, flag: string): number[] {
  return list(v, fallback).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: ${s} is not a positive integer`);
    return n;
  });
}

function seconds(v: string | undefined, fallback: number, flag: string): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: ${v} is not a number of seconds`);
  return n;
}

/** Re-runs this command under a raised open-files limit when ours is too low for the load. */
function ensureOpenFiles(needed: number): void {
  if (openFilesLimit() >= needed) return;
  if (process.env['FIRSTMILE_BENCH_REEXEC'] === '1') {
    log(`warning: open files limit ${openFilesLimit()} is below the ${needed} this run needs; connections may fail`);
    return;
  }
  log(`raising the open files limit (${openFilesLimit()} < ${needed}) and re-running`);
  const r = spawnSync(
    'bash',
    ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"', 'bench', process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, FIRSTMILE_BENCH_REEXEC: '1' } },
  );
  process.exit(r.status ?? 1);
}

function pinSelf(cpu: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-cp', cpu, String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch (error) {
    log(`warning: could not pin the generator to CPU ${cpu} (${(error as Error).message})`);
    return false;
  }
}

/** Short HEAD hash, noting uncommitted changes under libs/ or services/ (what firstmile runs). */
function gitCommit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'libs', 'services'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty === '' ? head : `${head} (with uncommitted changes in libs/ or services/)`;
  } catch {
    return undefined;
  }
}

function runSetup(tools: string[]): void {
  if (tools.length === 0) return;
  const r = spawnSync('bash', [join(ROOT, 'bench/setup.sh'), ...tools], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`bench/setup.sh ${tools.join(' ')} failed (exit ${r.status}); see the message above`);
}

async function main(): Promise<void> {
  // `pnpm run bench -- --flag` hands the script a literal `--`.
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const { values } = parseArgs({
    args,
    options: {
      servers: { type: 'string' },
      scenarios: { type: 'string' },
      fanout: { type: 'string' },
      ingest: { type: 'string' },
      'cluster-players': { type: 'string' },
      'warmup-s': { type: 'string' },
      'steady-s': { type: 'string' },
      'baseline-s': { type: 'string' },
      'stall-ms': { type: 'string' },
      'probe-players': { type: 'string' },
      'server-cpu': { type: 'string' },
      'generator-cpu': { type: 'string' },
      repeat: { type: 'string' },
      smoke: { type: 'boolean' },
      'write-docs': { type: 'boolean' },
      profile: { type: 'boolean' },
      json: { type: 'string' },
      render: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const smoke = values.smoke === true;

  if (values.render !== undefined) {
    const report = JSON.parse(readFileSync(values.render, 'utf8'), (_k, v: unknown) => (v === null ? Number.NaN : v)) as Report;
    const text = renderReport(report);
    console.log(text);
    if (values['write-docs']) writeDocs(DOCS, text);
    return;
  }

  const servers = list(values.servers, smoke ? 'firstmile' : SERVER_NAMES.join(','));
  for (const s of servers) if (!SERVER_NAMES.includes(s as ServerName)) throw new Error(`--servers: unknown server ${s} (firstmile, nginx, nms)`);
  const scenarios = list(values.scenarios, 'fanout,ingest,latency,cluster');
  for (const s of scenarios) if (!['fanout', 'ingest', 'latency', 'cluster'].includes(s)) throw new Error(`--scenarios: unknown scenario ${s}`);
  const fanout = numbers(values.fanout, smoke ? '5' : '50,200,500,1000', '--fanout');
  const ingest = numbers(values.ingest, smoke ? '3' : '10,50,100,200', '--ingest');
  const clusterPlayers = numbers(values['cluster-players'], smoke ? '5' : '1000', '--cluster-players');
  if (scenarios.includes('cluster') && !servers.includes('firstmile')) {
    log('the cluster scenario only applies to firstmile, which is not among --servers: skipping it');
    scenarios.splice(scenarios.indexOf('cluster'), 1);
  }
  if (scenarios.includes('cluster') && smoke && values.scenarios === undefined && natsServerBin() === undefined) {
    log('nats-server is not installed: the smoke run leaves the cluster scenario out');
    scenarios.splice(scenarios.indexOf('cluster'), 1);
  }
  const warmupS = seconds(values['warmup-s'], smoke ? 1 : 5, '--warmup-s');
  const steadyS = seconds(values['steady-s'], smoke ? 2.5 : 15, '--steady-s');
  const baselineS = seconds(values['baseline-s'], smoke ? 1 : 2, '--baseline-s');
  const stallMs = seconds(values['stall-ms'], 250, '--stall-ms');
  const probePlayers = numbers(values['probe-players'], '10', '--probe-players')[0]!;
  if (steadyS <= 0) throw new Error('--steady-s must be above 0');

  const maxConnections =
    Math.max(
      scenarios.includes('fanout') ? Math.max(...fanout) : 0,
      scenarios.includes('ingest') ? Math.max(...ingest) : 0,
      scenarios.includes('cluster') ? Math.max(...clusterPlayers) : 0,
    ) + 1;
  ensureOpenFiles(maxConnections + 256);

  const cpus = availableParallelism();
  let serverCpu: string | undefined = values['server-cpu'] ?? '0';
  const generatorCpu = values['generator-cpu'] ?? '1';
  if (cpus < 2) {
    log(`only ${cpus} CPU: the server and the generator are not pinned apart`);
    serverCpu = undefined;
  } else if (!pinSelf(generatorCpu)) {
    serverCpu = undefined;
  }

  const tools: string[] = [];
  if (servers.includes('nginx') && (!existsSync('/usr/sbin/nginx') || !existsSync(NGINX_RTMP_MODULE))) tools.push('nginx');
  if (scenarios.includes('cluster') && natsServerBin() === undefined) tools.push('nats');
  if (!existsSync(mediaFilePath(CACHE))) tools.push('ffmpeg');
  runSetup(tools);
  const media = loadMedia(ensureMediaFile(CACHE, log));
  const mediaText =
    `${MEDIA_SPEC.width}x${MEDIA_SPEC.height}p${MEDIA_SPEC.fps} H.264 (x264 veryfast, ${MEDIA_SPEC.videoKbps} kbit/s, ` +
    `${MEDIA_SPEC.gopFrames / MEDIA_SPEC.fps} s GOP, no B-frames) + AAC ${MEDIA_SPEC.audioKbps} kbit/s, ${(media.durationMs / 1000).toFixed(1)} s looped; ` +
    `${((media.payloadBytesPerSecond * 8) / 1e6).toFixed(2)} Mbit/s of payload, ${media.messagesPerSecond.toFixed(1)} messages/s`;
  log(`media: ${mediaText}`);

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let profileDir: string | undefined;
  if (values.profile) {
    profileDir = join(CACHE, 'profiles', stamp);
    mkdirSync(profileDir, { recursive: true });
  }

  const options: RunOptions = {
    warmupMs: warmupS * 1000,
    steadyMs: steadyS * 1000,
    baselineMs: baselineS * 1000,
    graceMs: smoke ? 500 : 1000,
    stallMs,
    serverCpu,
    profileDir,
    connectTimeoutMs: 20_000,
    connectConcurrency: 50,
    probePlayers,
    log,
  };

  const repeat = numbers(values.repeat, '1', '--repeat')[0]!;
  if (repeat > 1 && profileDir !== undefined) throw new Error('--profile measures one run: use it without --repeat');
  /** Every run of each cell of the plan, in plan order. */
  const runsByCell = new Map<string, RunResult[]>();
  const profileTexts: string[] = [];
  /** `only`: the servers of this step when not all of --servers. */
  const plan: { scenario: ScenarioName; size: number; only?: ServerName[] }[] = [];
  for (const s of scenarios as ScenarioName[]) {
    if (s === 'fanout') for (const n of fanout) plan.push({ scenario: s, size: n });
    if (s === 'ingest') for (const m of ingest) plan.push({ scenario: s, size: m });
    if (s === 'latency') plan.push({ scenario: s, size: 1 });
    if (s === 'cluster') {
      for (const n of clusterPlayers) {
        // The single-process figure at the same N, unless the fan-out runs measure it anyway.
        if (!(scenarios.includes('fanout') && fanout.includes(n))) plan.push({ scenario: 'fanout', size: n, only: ['firstmile'] });
        plan.push({ scenario: s, size: n, only: ['firstmile'] });
      }
    }
  }
  const started = Date.now();
  for (let rep = 1; rep <= repeat; rep++) for (const step of plan) {
    for (const server of step.only ?? (servers as ServerName[])) {
      log(`${SERVER_LABELS[server]}: ${step.scenario} ${step.size}${repeat > 1 ? ` (run ${rep} of ${repeat})` : ''}`);
      const r =
        step.scenario === 'ingest'
          ? await runIngest(server, step.size, media, options)
          : await runFanout(server, step.size, media, options, step.scenario);
      const key = `${server} ${step.scenario} ${step.size}`;
      runsByCell.set(key, [...(runsByCell.get(key) ?? []), r]);
      log(
        `  server CPU ${(r.serverCpuCores * 100).toFixed(1)} %, RSS ${(r.serverRssBytes / 1048576).toFixed(1)} MiB, ` +
          `generator CPU ${(r.generatorCpu * 100).toFixed(1)} %` +
          (step.scenario === 'ingest' ? '' : `, ${r.cpuUsPerMessage.toFixed(2)} µs/msg, at rate ${(r.playersAtRate * 100).toFixed(0)} %, delay p50 ${r.delayP50Ms.toFixed(2)} p99 ${r.delayP99Ms.toFixed(2)} ms`) +
          r.parts.map((p) => `; ${p.label} ${(p.cpuCores * 100).toFixed(1)} % (${p.cpuUsPerMessage.toFixed(2)} µs/msg)`).join(''),
      );
      if (profileDir !== undefined && server === 'firstmile') {
        for (const f of profilesIn(profileDir).filter((p) => !p.includes('/run-'))) {
          const named = join(profileDir, `run-${step.scenario}-${step.size}.cpuprofile`);
          renameSync(f, named);
          if (step.scenario === 'fanout' && step.size === Math.max(...fanout)) {
            const range = Number.isFinite(r.windowStartUs) ? { startUs: r.windowStartUs, endUs: r.windowEndUs } : undefined;
            const t = formatProfile(
              summarizeProfile(named, 25, range),
              `firstmile CPU profile, fan-out ${step.size} players, steady window only (${named.slice(ROOT.length)})`,
            );
            profileTexts.push(t);
            log(`profile written: ${named}`);
          }
        }
      }
    }
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const results = [...runsByCell.values()].map(combineRuns);

  const command = `pnpm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
  const report: Report = {
    commit: gitCommit(),
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    command,
    machine: machineDescription(),
    media: mediaText,
    settings:
      `Warm-up ${warmupS} s, steady window ${steadyS} s per run, a fresh server per run; ` +
      (serverCpu !== undefined ? `server pinned to CPU ${serverCpu}, generator to CPU ${generatorCpu}.` : 'no CPU pinning.') +
      ` Delays are from ${probePlayers} probe players per run (a separate process).` +
      (repeat > 1 ? ` Each figure is the median of ${repeat} runs (the plan ran ${repeat} times over, servers alternating), with the lowest–highest range of the headline figures in brackets.` : '') +
      (profileDir !== undefined ? ' firstmile ran under node --cpu-prof (its CPU figures include the profiler).' : ''),
    servers: servers as ServerName[],
    results,
    notes: [],
  };
  const text = renderReport(report);
  console.log(text);
  for (const t of profileTexts) console.log(`\n${t}`);

  const jsonFile = values.json ?? (smoke ? undefined : join(CACHE, `results-${stamp}.json`));
  if (jsonFile !== undefined) {
    mkdirSync(join(jsonFile, '..'), { recursive: true });
    writeFileSync(jsonFile, JSON.stringify(report, null, 1));
    log(`results: ${jsonFile}`);
  }
  if (values['write-docs'] && !smoke) {
    if (profileDir !== undefined) {
      // A profiling run measures firstmile under the profiler: only its profile goes into the docs.
      const head = `Run ${report.date}${report.commit ? `, firstmile at commit ${report.commit}` : ''}, command: \`${command}\`.`;
      if (profileTexts.length > 0) writeDocs(DOCS, [head, ...profileTexts].join('\n\n'), 'profile');
    } else {
      writeDocs(DOCS, text);
    }
    log(`updated ${DOCS}`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(`error: ${(error as Error).message}`);
    process.exit(1);
  },
);
