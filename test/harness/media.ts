/**
 * Media helpers for interop tests: prepared FLV fixtures made with ffmpeg, packet listings from
 * ffprobe, a small FLV tag parser, and bounded child processes for the real encoders and players
 * (ffmpeg, ffprobe, rtmpdump, gst-launch-1.0, openssl).
 *
 * Every external process gets a time limit and is killed when it overruns it or when the test
 * process exits. A missing tool is an error (the spawn fails with ENOENT), never a skip: these tools
 * are required dependencies installed by scripts/setup.sh.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

export interface ProcessResult {
  /** Exit code, or null when the process ended on a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Raw stdout bytes (for players that write FLV to stdout). */
  stdoutBytes: Buffer;
  /** True when the time limit ran out and the process was killed. */
  timedOut: boolean;
  /** Wall time from spawn to exit. */
  elapsedMs: number;
  /** Date.now() at exit. */
  endedAt: number;
}

export interface SpawnOptions {
  /** Hard limit: the process gets SIGKILL (after `timeoutSignal` and a grace period) when it overruns. */
  timeoutMs: number;
  /** First signal on timeout (default SIGKILL). SIGINT lets ffmpeg finish the file it writes. */
  timeoutSignal?: NodeJS.Signals;
  env?: Record<string, string>;
  cwd?: string;
  /** Keep at most this many bytes of stdout (default 64 MiB). */
  maxStdoutBytes?: number;
}

export interface RunningProcess {
  readonly proc: ChildProcess;
  readonly command: string;
  /** Resolves when the process exits (or rejects when it cannot be started, e.g. the tool is missing). */
  readonly result: Promise<ProcessResult>;
  /** Stderr so far. */
  stderr(): string;
  /** Stdout bytes so far. */
  stdout(): Buffer;
  /** True once the process has exited. */
  readonly exited: boolean;
  /** Sends a signal (no-op after exit). */
  kill(signal?: NodeJS.Signals): void;
  /**
   * Stops the process: `signal` first (default SIGINT, which makes ffmpeg write its trailer), then
   * SIGKILL after `graceMs`; resolves with the result.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ProcessResult>;
  /** Resolves when stderr matches, rejects on exit or after timeoutMs. */
  waitForStderr(pattern: RegExp, timeoutMs: number): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Starts a child process with a hard time limit. A missing executable rejects `result`. */
export function spawnProcess(cmd: string, args: readonly string[], options: SpawnOptions): RunningProcess {
  const started = Date.now();
  const env = options.env ? { ...process.env, ...options.env } : process.env;
  const proc = spawn(cmd, args, { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(proc);
  const maxStdout = options.maxStdoutBytes ?? 64 * 1024 * 1024;
  const out: Buffer[] = [];
  let outBytes = 0;
  let err = '';
  let timedOut = false;
  let exited = false;
  const stderrWaiters = new Set<{ pattern: RegExp; resolve: () => void }>();
  proc.stdout!.on('data', (d: Buffer) => {
    if (outBytes + d.length <= maxStdout) {
      out.push(d);
      outBytes += d.length;
    }
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString('latin1');
    if (err.length > 4 * 1024 * 1024) err = err.slice(-2 * 1024 * 1024);
    for (const w of stderrWaiters) {
      if (w.pattern.test(err)) {
        stderrWaiters.delete(w);
        w.resolve();
      }
    }
  });
  proc.stdin!.on('error', () => {});
  let killTimer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    const first = options.timeoutSignal ?? 'SIGKILL';
    proc.kill(first);
    if (first !== 'SIGKILL') killTimer = setTimeout(() => proc.kill('SIGKILL'), 3000);
  }, options.timeoutMs);
  const command = [cmd, ...args].join(' ');
  const result = new Promise<ProcessResult>((resolve, reject) => {
    proc.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      live.delete(proc);
      exited = true;
      if (error.code === 'ENOENT') {
        reject(new Error(`required tool "${cmd}" is not installed (it is a dependency of the test suite; run scripts/setup.sh --system)`));
      } else {
        reject(error);
      }
    });
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      live.delete(proc);
      exited = true;
      const stdoutBytes = Buffer.concat(out);
      const endedAt = Date.now();
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr: err, stdoutBytes, timedOut, elapsedMs: endedAt - started, endedAt });
    });
  });
  // Nobody may be listening yet; keep an unhandled rejection from killing the test process before
  // the test awaits the result.
  result.catch(() => {});
  const handle: RunningProcess = {
    proc,
    command,
    result,
    stderr: () => err,
    stdout: () => Buffer.concat(out),
    get exited() {
      return exited;
    },
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!exited) proc.kill(signal);
    },
    async stop(signal: NodeJS.Signals = 'SIGINT', graceMs = 5000) {
      if (!exited) {
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        try {
          await result;
        } finally {
          clearTimeout(t);
        }
      }
      return result;
    },
    waitForStderr(pattern: RegExp, timeoutMs: number) {
      if (pattern.test(err)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const w = {
          pattern,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        };
        const t = setTimeout(() => {
          stderrWaiters.delete(w);
          reject(new Error(`${cmd}: stderr did not match ${pattern} within ${timeoutMs} ms:\n${err.slice(-3000)}`));
        }, timeoutMs);
        stderrWaiters.add(w);
        result.then(
          () => {
            if (stderrWaiters.delete(w)) {
              clearTimeout(t);
              reject(new Error(`${cmd} exited before stderr matched ${pattern}:\n${err.slice(-3000)}`));
            }
          },
          (error: unknown) => {
            stderrWaiters.delete(w);
            clearTimeout(t);
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        );
      });
    },
  };
  return handle;
}

/** Runs a command to completion within `timeoutMs` (killed when it overruns). */
export function runProcess(cmd: string, args: readonly string[], options: SpawnOptions): Promise<ProcessResult> {
  return spawnProcess(cmd, args, options).result;
}

/**
 * Throws unless every tool is an executable on PATH. Tests call this first, so a missing
 * dependency fails the test with a clear message instead of a timeout.
 */
export function requireTools(...names: string[]): void {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d.length > 0);
  const missing = names.filter((name) => !dirs.some((d) => {
    try {
      accessSync(join(d, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }));
  if (missing.length > 0) {
    throw new Error(`required tools not installed: ${missing.join(', ')} (dependencies of the test suite; run scripts/setup.sh --system)`);
  }
}

/** Fails (throws) unless gst-inspect-1.0 knows the element. */
export async function requireGstElement(name: string): Promise<void> {
  const r = await runProcess('gst-inspect-1.0', ['--exists', name], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`required GStreamer element "${name}" is not installed`);
}

/** The first of `names` that gst-inspect-1.0 knows; throws when none is installed. */
export async function firstGstElement(names: readonly string[]): Promise<string> {
  for (const name of names) {
    const r = await runProcess('gst-inspect-1.0', ['--exists', name], { timeoutMs: 20_000 });
    if (r.code === 0) return name;
  }
  throw new Error(`none of the GStreamer elements ${names.join(', ')} is installed`);
}

/** A fresh temporary directory, removed by the returned cleanup function. */
export function tempDir(prefix = 'firstmile-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A distinctive random stream key (so a leak into the logs is unambiguous). */
export function randomKey(prefix = 'sk'): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

export interface FlvOptions {
  width?: number;
  height?: number;
  fps?: number;
  /** Video bitrate (ffmpeg syntax, e.g. '1M'); also the maxrate. */
  videoBitrate?: string;
  /** VBV buffer size (default = videoBitrate). A larger buffer allows larger keyframes. */
  bufsize?: string;
  /** Frames per GOP (default 2 s worth). */
  gop?: number;
  audio?: boolean;
  video?: boolean;
  /** Seconds. */
  duration?: number;
  /** lavfi video source (default testsrc2). */
  videoSource?: 'testsrc2' | 'smptebars' | 'testsrc' | 'rgbtestsrc';
  /** Sine frequency in Hz (default 440). */
  sineFrequency?: number;
  /** Strength of static noise added to the picture (0..100; default none): makes keyframes large. */
  noise?: number;
  /** Extra -x264-params, e.g. 'ipratio=4'. */
  x264Params?: string;
}

type ResolvedFlvOptions = Required<FlvOptions>;

const FIXTURE_FORMAT = 1;

function resolveFlvOptions(o: FlvOptions): ResolvedFlvOptions {
  const fps = o.fps ?? 30;
  return {
    width: o.width ?? 640,
    height: o.height ?? 360,
    fps,
    videoBitrate: o.videoBitrate ?? '1M',
    bufsize: o.bufsize ?? o.videoBitrate ?? '1M',
    gop: o.gop ?? 2 * fps,
    audio: o.audio ?? true,
    video: o.video ?? true,
    duration: o.duration ?? 8,
    videoSource: o.videoSource ?? 'testsrc2',
    sineFrequency: o.sineFrequency ?? 440,
    noise: o.noise ?? 0,
    x264Params: o.x264Params ?? '',
  };
}

/** ffmpeg arguments of a lavfi test source (video and/or audio); outputs follow. */
export function lavfiInputArgs(o: FlvOptions, realtime = false): string[] {
  const r = resolveFlvOptions(o);
  const args: string[] = [];
  if (r.video) {
    if (realtime) args.push('-re');
    args.push('-f', 'lavfi', '-i', `${r.videoSource}=size=${r.width}x${r.height}:rate=${r.fps}`);
  }
  if (r.audio) {
    if (realtime) args.push('-re');
    args.push('-f', 'lavfi', '-i', `sine=frequency=${r.sineFrequency}:sample_rate=44100`);
  }
  return args;
}

/** ffmpeg encoder arguments (H.264 CBR-ish, fixed GOP, no B-frames; AAC) for `o`. */
export function encoderArgs(o: FlvOptions, extraX264 = ''): string[] {
  const r = resolveFlvOptions(o);
  const args: string[] = [];
  if (r.video) {
    if (r.noise > 0) args.push('-vf', `noise=alls=${r.noise}`);
    args.push(
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
      '-b:v', r.videoBitrate, '-maxrate', r.videoBitrate, '-bufsize', r.bufsize,
      '-g', String(r.gop), '-keyint_min', String(r.gop), '-sc_threshold', '0', '-bf', '0',
    );
    const x264 = [r.x264Params, extraX264].filter((x) => x.length > 0).join(':');
    if (x264) args.push('-x264-params', x264);
  } else {
    args.push('-vn');
  }
  if (r.audio) args.push('-c:a', 'aac', '-b:a', '128k', '-ar', '44100');
  else args.push('-an');
  return args;
}

const FIXTURE_DIR = join(tmpdir(), 'firstmile-fixtures');

/**
 * A prepared FLV (H.264 + AAC from lavfi testsrc2 + sine) with the given options, generated once
 * and cached by the hash of its options under os.tmpdir()/firstmile-fixtures. Returns its path.
 * With a `path` first, the cached fixture is also copied there.
 */
export async function makeFlv(options?: FlvOptions): Promise<string>;
export async function makeFlv(path: string, options?: FlvOptions): Promise<string>;
export async function makeFlv(a?: string | FlvOptions, b?: FlvOptions): Promise<string> {
  const target = typeof a === 'string' ? a : undefined;
  const r = resolveFlvOptions((typeof a === 'string' ? b : a) ?? {});
  if (!r.audio && !r.video) throw new Error('makeFlv: a fixture needs audio or video');
  const hash = createHash('sha256').update(JSON.stringify({ format: FIXTURE_FORMAT, ...r })).digest('hex').slice(0, 20);
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const cached = join(FIXTURE_DIR, `${hash}.flv`);
  if (!existsSync(cached)) {
    // Another test file may be generating the same fixture: write a private file, then rename
    // (atomic), so nobody ever reads a half-written fixture.
    const partial = join(FIXTURE_DIR, `${hash}.${process.pid}.${randomBytes(4).toString('hex')}.partial.flv`);
    const args = ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...lavfiInputArgs(r), '-t', String(r.duration), ...encoderArgs(r), '-f', 'flv', partial];
    const res = await runProcess('ffmpeg', args, { timeoutMs: 120_000 });
    if (res.code !== 0 || res.timedOut) {
      rmSync(partial, { force: true });
      throw new Error(`ffmpeg could not make fixture (code ${res.code}, timedOut ${res.timedOut}):\n${res.stderr}`);
    }
    renameSync(partial, cached);
  }
  if (target) copyFileSync(cached, target);
  return target ?? cached;
}

// ---------------------------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------------------------

export interface Packet {
  codec_type: 'video' | 'audio' | 'data' | 'subtitle' | string;
  stream_index: number;
  /** In the stream's time base (milliseconds for FLV); undefined when ffprobe reports none. */
  pts: number | undefined;
  dts: number | undefined;
  duration: number | undefined;
  size: number;
  /** ffprobe's flags string, e.g. 'K_' for a keyframe, '__' otherwise. */
  flags: string;
  /** 'SHA256:...' of the packet payload. */
  data_hash: string;
}

interface RawPacket {
  codec_type?: string;
  stream_index?: number;
  pts?: number;
  dts?: number;
  duration?: number;
  size?: string | number;
  flags?: string;
  data_hash?: string;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && v !== '' && v !== 'N/A' ? Number(v) : undefined);

/** ffprobe -show_packets -show_data_hash sha256 of a file or URL. */
export async function probePackets(input: string, extraArgs: readonly string[] = [], timeoutMs = 60_000): Promise<Packet[]> {
  const res = await runProcess(
    'ffprobe',
    ['-hide_banner', '-v', 'error', ...extraArgs, '-show_packets', '-show_data_hash', 'sha256', '-of', 'json', input],
    { timeoutMs, timeoutSignal: 'SIGINT' },
  );
  if (res.code !== 0 && !res.timedOut) throw new Error(`ffprobe ${input} failed (code ${res.code}):\n${res.stderr}`);
  return parsePackets(res.stdout);
}

/** Parses ffprobe's JSON packet listing. */
export function parsePackets(json: string): Packet[] {
  const parsed = JSON.parse(json.trim() === '' ? '{}' : json) as { packets?: RawPacket[] };
  return (parsed.packets ?? []).map((p) => ({
    codec_type: p.codec_type ?? 'unknown',
    stream_index: p.stream_index ?? -1,
    pts: num(p.pts),
    dts: num(p.dts),
    duration: num(p.duration),
    size: num(p.size) ?? 0,
    flags: p.flags ?? '',
    data_hash: p.data_hash ?? '',
  }));
}

/** ffprobe -show_format -show_streams of a file, as parsed JSON. */
export async function probeFormat(input: string, timeoutMs = 30_000): Promise<{
  format: { format_name?: string; tags?: Record<string, string>; duration?: string };
  streams: { codec_type: string; codec_name: string; width?: number; height?: number; sample_rate?: string }[];
}> {
  const res = await runProcess('ffprobe', ['-hide_banner', '-v', 'error', '-show_format', '-show_streams', '-of', 'json', input], { timeoutMs });
  if (res.code !== 0) throw new Error(`ffprobe ${input} failed (code ${res.code}):\n${res.stderr}`);
  return JSON.parse(res.stdout) as never;
}

export interface PacketMatch {
  codec_type: string;
  /** Packets of this type in the source. */
  source: number;
  /** Packets of this type the player received. */
  received: number;
  /** Index in the source of the player's first packet. */
  startIndex: number;
  /** Constant dts offset player - source. */
  dtsOffset: number;
}

/**
 * Checks that, for each codec type, the player's packets are a contiguous run of the source's:
 * the same payload hash, size, flags and pts-dts in the same order, timestamps offset by one
 * constant per stream, the first video packet a keyframe. Returns a failure description, or the
 * match per codec type.
 */
export function matchPackets(source: readonly Packet[], received: readonly Packet[]): { ok: true; matches: PacketMatch[] } | { ok: false; reason: string } {
  const types = [...new Set(source.map((p) => p.codec_type))];
  for (const p of received) {
    if (!types.includes(p.codec_type)) return { ok: false, reason: `received a ${p.codec_type} packet; the source has only ${types.join(', ')}` };
  }
  const matches: PacketMatch[] = [];
  for (const type of types) {
    const src = source.filter((p) => p.codec_type === type);
    const got = received.filter((p) => p.codec_type === type);
    if (got.length === 0) {
      matches.push({ codec_type: type, source: src.length, received: 0, startIndex: -1, dtsOffset: 0 });
      continue;
    }
    const first = got[0]!;
    const candidates: number[] = [];
    for (let i = 0; i < src.length; i++) if (src[i]!.data_hash === first.data_hash) candidates.push(i);
    if (candidates.length === 0) return { ok: false, reason: `${type}: the player's first packet (${first.size} bytes, ${first.data_hash}) is not in the source` };
    let best: { start: number; mismatch: string } | undefined;
    let matched = -1;
    for (const start of candidates) {
      const mismatch = compareRun(src, got, start);
      if (mismatch === undefined) {
        matched = start;
        break;
      }
      if (!best) best = { start, mismatch };
    }
    if (matched < 0) return { ok: false, reason: `${type}: ${best!.mismatch}` };
    if (type === 'video' && !src[matched]!.flags.includes('K')) {
      return { ok: false, reason: `video: the player's first packet is source packet #${matched}, which is not a keyframe` };
    }
    matches.push({ codec_type: type, source: src.length, received: got.length, startIndex: matched, dtsOffset: (first.dts ?? 0) - (src[matched]!.dts ?? 0) });
  }
  return { ok: true, matches };
}

function compareRun(src: readonly Packet[], got: readonly Packet[], start: number): string | undefined {
  if (start + got.length > src.length) return `the player has ${got.length} packets from source #${start}, more than the source's ${src.length - start}`;
  const offset = (got[0]!.dts ?? 0) - (src[start]!.dts ?? 0);
  for (let i = 0; i < got.length; i++) {
    const s = src[start + i]!;
    const g = got[i]!;
    const where = `packet ${i} of the player (source #${start + i})`;
    if (g.data_hash !== s.data_hash) return `${where}: payload differs (${g.size} bytes ${g.data_hash} vs ${s.size} bytes ${s.data_hash})`;
    if (g.size !== s.size) return `${where}: size ${g.size} vs ${s.size}`;
    if (g.flags.replace(/_/g, '').replace('D', '') !== s.flags.replace(/_/g, '').replace('D', '')) return `${where}: flags ${g.flags} vs ${s.flags}`;
    if ((g.dts ?? 0) - (s.dts ?? 0) !== offset) return `${where}: dts ${g.dts} vs source ${s.dts}, offset ${(g.dts ?? 0) - (s.dts ?? 0)} instead of ${offset}`;
    if ((g.pts ?? 0) - (g.dts ?? 0) !== (s.pts ?? 0) - (s.dts ?? 0)) return `${where}: composition offset ${(g.pts ?? 0) - (g.dts ?? 0)} vs ${(s.pts ?? 0) - (s.dts ?? 0)}`;
  }
  return undefined;
}

/** Per codec type, whether dts never decreases. Returns the first violation, if any. */
export function findNonMonotonic(packets: readonly Packet[]): string | undefined {
  const last = new Map<string, number>();
  for (let i = 0; i < packets.length; i++) {
    const p = packets[i]!;
    if (p.dts === undefined) continue;
    const prev = last.get(p.codec_type);
    if (prev !== undefined && p.dts < prev) return `${p.codec_type} packet ${i}: dts ${p.dts} after ${prev}`;
    last.set(p.codec_type, p.dts);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// FLV (a minimal, independent parser: tests must not trust the code under test)
// ---------------------------------------------------------------------------------------------

export interface FlvTag {
  /** 8 audio, 9 video, 18 script data. */
  type: number;
  timestamp: number;
  /** Offset of the tag header in the file. */
  offset: number;
  data: Buffer;
}

/**
 * Parses an FLV file's tags. Stops at the first incomplete tag (a live recording may end
 * mid-tag) and reports how many bytes were parsed.
 */
export function parseFlv(buf: Buffer): { hasAudio: boolean; hasVideo: boolean; tags: FlvTag[]; parsedBytes: number } {
  if (buf.length < 9 || buf.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV file');
  const flags = buf[4]!;
  const headerSize = buf.readUInt32BE(5);
  let pos = headerSize + 4; // header + PreviousTagSize0
  const tags: FlvTag[] = [];
  while (pos + 11 <= buf.length) {
    const type = buf[pos]! & 0x1f;
    const size = buf.readUIntBE(pos + 1, 3);
    const ts = buf.readUIntBE(pos + 4, 3) | (buf[pos + 7]! << 24);
    if (pos + 11 + size + 4 > buf.length) break;
    tags.push({ type, timestamp: ts >>> 0, offset: pos, data: buf.subarray(pos + 11, pos + 11 + size) });
    pos += 11 + size + 4;
  }
  return { hasAudio: (flags & 4) !== 0, hasVideo: (flags & 1) !== 0, tags, parsedBytes: pos };
}

/** For a video tag: keyframe (frame type 1) that is not an AVC sequence header. */
export function isKeyframeTag(tag: FlvTag): boolean {
  return tag.type === 9 && tag.data.length > 1 && (tag.data[0]! >> 4 & 0x7) === 1 && !isSequenceHeaderTag(tag);
}

/** AVC/AAC sequence header (legacy FLV codec ids 7 and 10). */
export function isSequenceHeaderTag(tag: FlvTag): boolean {
  if (tag.type === 9) return (tag.data[0]! & 0x0f) === 7 && tag.data[1] === 0;
  if (tag.type === 8) return (tag.data[0]! >> 4) === 10 && tag.data[1] === 0;
  return false;
}

/** Reads an FLV file and parses it. */
export function readFlv(path: string): ReturnType<typeof parseFlv> {
  return parseFlv(readFileSync(path));
}

// ---------------------------------------------------------------------------------------------
// Publishers and players
// ---------------------------------------------------------------------------------------------

export interface PublishOptions {
  timeoutMs?: number;
  /** Extra output options before `-f flv URL`, e.g. ['-metadata', 'k=v']. */
  outputArgs?: string[];
  /** Extra input options before `-i`. */
  inputArgs?: string[];
}

/** ffmpeg -re -i FILE -c copy -f flv URL: publishes a prepared FLV in real time, unchanged. */
export function ffmpegPublishFile(file: string, url: string, options: PublishOptions = {}): RunningProcess {
  return spawnProcess(
    'ffmpeg',
    ['-hide_banner', '-nostdin', '-loglevel', 'warning', ...(options.inputArgs ?? []), '-re', '-i', file, '-c', 'copy', ...(options.outputArgs ?? []), '-f', 'flv', url],
    { timeoutMs: options.timeoutMs ?? 60_000 },
  );
}

export interface PlayOptions {
  timeoutMs?: number;
  /** Extra input options before `-i`. */
  inputArgs?: string[];
}

/**
 * ffmpeg -i URL -c copy -f flv OUT: a player recording what it receives. On timeout it gets
 * SIGINT first, so the recording is finished properly.
 */
export function ffmpegRecord(url: string, out: string, options: PlayOptions = {}): RunningProcess {
  return spawnProcess(
    'ffmpeg',
    ['-hide_banner', '-nostdin', '-loglevel', 'warning', ...(options.inputArgs ?? []), '-i', url, '-c', 'copy', '-f', 'flv', '-y', out],
    { timeoutMs: options.timeoutMs ?? 60_000, timeoutSignal: 'SIGINT' },
  );
}

/** rtmpdump --live: records the raw FLV the server sends (`out` '-' writes to stdout). */
export function rtmpdumpRecord(url: string, out: string, options: { timeoutMs?: number; extraArgs?: string[] } = {}): RunningProcess {
  return spawnProcess('rtmpdump', ['-r', url, '--live', ...(options.extraArgs ?? []), '-o', out], {
    timeoutMs: options.timeoutMs ?? 60_000,
    timeoutSignal: 'SIGINT',
  });
}

/** Polls `cond` every 20 ms until it holds; rejects after timeoutMs with `what`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Audio and video packets only (drops script-data "packets" some players write, e.g. onStatus). */
export function avPackets(packets: readonly Packet[]): Packet[] {
  return packets.filter((p) => p.codec_type === 'audio' || p.codec_type === 'video');
}

/**
 * Asserts that the player's audio/video packets are contiguous runs of the source's (same payload
 * hashes, sizes, flags, order; one timestamp offset per stream; video starting on a keyframe) and
 * that the player got at least `minFraction` of the source's packets. Returns the per-stream match.
 */
export function assertSamePackets(source: readonly Packet[], received: readonly Packet[], minFraction = 0.9, label = 'player'): PacketMatch[] {
  const src = avPackets(source);
  const got = avPackets(received);
  const m = matchPackets(src, got);
  if (!m.ok) throw new Error(`${label}: packets differ from the source: ${m.reason}`);
  const fraction = got.length / src.length;
  if (fraction < minFraction) {
    const detail = m.matches.map((x) => `${x.codec_type} ${x.received}/${x.source} from #${x.startIndex}`).join(', ');
    throw new Error(`${label}: received ${got.length} of the source's ${src.length} packets (${(fraction * 100).toFixed(1)}% < ${minFraction * 100}%): ${detail}`);
  }
  return m.matches;
}

export interface DecodeReport {
  /** Video frames decoded (ffmpeg's last `frame=` progress value). */
  frames: number;
  /** Lines ffmpeg logged at warning level or above (decode errors, corrupt data...). */
  problems: string[];
  /** Input streams ffmpeg found, e.g. 'Video: h264 (High) ..., 640x360'. */
  streams: string[];
  result: ProcessResult;
}

/**
 * An ffmpeg player that decodes audio and video to `-f null` (for `seconds` of output when given)
 * and reports how many video frames it decoded and every warning or error it logged.
 */
export function ffmpegDecode(input: string, options: { seconds?: number; timeoutMs?: number; inputArgs?: string[] } = {}): { process: RunningProcess; report: Promise<DecodeReport> } {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'level+info', ...(options.inputArgs ?? []), '-i', input];
  if (options.seconds !== undefined) args.push('-t', String(options.seconds));
  args.push('-f', 'null', '-', '-progress', 'pipe:1');
  const process = spawnProcess('ffmpeg', args, { timeoutMs: options.timeoutMs ?? 60_000, timeoutSignal: 'SIGINT' });
  const report = process.result.then((result) => {
    const frames = [...result.stdout.matchAll(/^frame=(\d+)$/gm)].map((m) => Number(m[1]));
    const lines = result.stderr.split(/\r|\n/);
    // The null muxer cannot seek back to patch its header; that is not a decode problem.
    const problems = lines.filter((l) => /^\[(warning|error|fatal|panic)\]/.test(l) && !/Failed to update header/.test(l));
    const streams = lines.filter((l) => /Stream #0:\d+.*: (Video|Audio):/.test(l) && !/->/.test(l)).map((l) => l.replace(/^.*?: (Video|Audio):/, '$1:'));
    return { frames: frames.length > 0 ? frames[frames.length - 1]! : 0, problems, streams, result };
  });
  report.catch(() => {});
  return { process, report };
}

/** Resolves with `p`'s value, or with undefined after `ms` (the timer is cleared either way). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Gives a player `graceMs` to end by itself (e.g. after the publisher left), then stops it with SIGINT. */
export async function endPlayer(player: RunningProcess, graceMs = 5000): Promise<ProcessResult> {
  await within(player.result, graceMs);
  return player.stop('SIGINT');
}
