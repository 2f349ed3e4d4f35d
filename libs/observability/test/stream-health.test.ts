import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import {
  createMetrics,
  ObservabilityError,
  StreamHealthTracker,
  StreamMetrics,
  type HealthState,
  type StreamHealthSample,
} from '../src/index.ts';

/**
 * Synthetic publishers: a timeline of segments, each with its own frame rate, GOP and bitrates.
 * Frames arrive in real time (arrival = media timestamp + T0), unless a segment has no media.
 */
interface Segment {
  seconds: number;
  fps?: number;
  gopS?: number;
  videoBps?: number;
  audioBps?: number;
}

interface TimelineOptions {
  /** Audio timestamps run this far ahead of their arrival (A/V drift). */
  audioLeadMs?: number;
  /** Video timestamp of frame i arriving at media time t (default t, rounded to ms). */
  videoTs?: (i: number, t: number) => number;
}

type MediaEvent = { at: number; video: boolean; ts: number; bytes: number; key: boolean };

const T0 = 1_700_000_000_000;
const AAC_FRAME_MS = (1024 / 48_000) * 1000;

function events(segments: Segment[], options: TimelineOptions): MediaEvent[] {
  const out: MediaEvent[] = [];
  let start = 0;
  let frame = 0;
  let lastKey = Number.NEGATIVE_INFINITY;
  for (const seg of segments) {
    const end = start + seg.seconds * 1000;
    if (seg.fps && seg.videoBps) {
      const step = 1000 / seg.fps;
      const bytes = Math.round(seg.videoBps / 8 / seg.fps);
      for (let t = start; t < end - 1e-9; t += step) {
        const key = t - lastKey >= (seg.gopS ?? 2) * 1000 - 1e-6;
        if (key) lastKey = t;
        const ts = options.videoTs ? options.videoTs(frame, t) : Math.round(t);
        out.push({ at: T0 + t, video: true, ts, bytes, key });
        frame++;
      }
    }
    if (seg.audioBps) {
      const bytes = Math.round((seg.audioBps / 8) * (AAC_FRAME_MS / 1000));
      for (let t = start; t < end - 1e-9; t += AAC_FRAME_MS) {
        out.push({ at: T0 + t, video: false, ts: Math.round(t + (options.audioLeadMs ?? 0)), bytes, key: false });
      }
    }
    start = end;
  }
  return out.sort((a, b) => a.at - b.at);
}

/** Feeds the timeline and samples once a second; returns the sample taken at each second 1..n. */
function simulate(segments: Segment[], options: TimelineOptions = {}): StreamHealthSample[] {
  const tracker = new StreamHealthTracker(T0);
  tracker.setCodecs('avc1', 'mp4a');
  const all = events(segments, options);
  const seconds = segments.reduce((n, s) => n + s.seconds, 0);
  const samples: StreamHealthSample[] = [];
  let i = 0;
  for (let s = 1; s <= seconds; s++) {
    const now = T0 + s * 1000;
    for (; i < all.length && all[i]!.at < now; i++) {
      const e = all[i]!;
      if (e.video) tracker.onVideo(e.ts, e.bytes, e.key, e.at);
      else tracker.onAudio(e.ts, e.bytes, 48_000, e.at);
    }
    samples.push(tracker.sample(now));
  }
  return samples;
}

const at = (samples: StreamHealthSample[], second: number) => samples[second - 1]!;
const changes = (samples: StreamHealthSample[]) =>
  samples.filter((s) => s.changed).map((s) => ({ second: (s.atMs - T0) / 1000, state: s.state }));

const steady: Segment = { seconds: 70, fps: 30, gopS: 2, videoBps: 2_500_000, audioBps: 128_000 };

const cases: Array<{
  name: string;
  segments: Segment[];
  options?: TimelineOptions;
  /** Expected state at these seconds. */
  states: Array<[number, HealthState]>;
  check?: (samples: StreamHealthSample[]) => void;
}> = [
  {
    name: '30 fps with a 2 s GOP stays healthy, with its figures measured',
    segments: [steady],
    states: [
      [5, 'healthy'],
      [70, 'healthy'],
    ],
    check(samples) {
      assert.deepEqual(changes(samples), []);
      const s = at(samples, 70);
      assert.ok(Math.abs(s.fps - 30) < 0.5, `fps ${s.fps}`);
      assert.ok(Math.abs(s.videoBps - 2_500_000) / 2_500_000 < 0.02, `video ${s.videoBps}`);
      assert.ok(Math.abs(s.audioBps - 128_000) / 128_000 < 0.03, `audio ${s.audioBps}`);
      assert.ok(s.keyframeIntervalS !== undefined && Math.abs(s.keyframeIntervalS - 2) < 0.05, `gop ${s.keyframeIntervalS}`);
      assert.equal(s.sampleRateHz, 48_000);
      assert.ok(s.avDriftS !== undefined && Math.abs(s.avDriftS) < 0.04, `drift ${s.avDriftS}`);
      // Millisecond timestamps of a 30 fps stream step 33, 33, 34: under a millisecond of jitter.
      assert.ok(s.jitterS < 0.001, `jitter ${s.jitterS}`);
      assert.equal(s.videoCodec, 'avc1');
    },
  },
  {
    name: 'a 10 s GOP is degraded once the interval passes 4 s, and stays so',
    segments: [{ ...steady, seconds: 30, gopS: 10 }],
    states: [
      [4, 'healthy'],
      [5, 'degraded'],
      [30, 'degraded'],
    ],
    check(samples) {
      assert.deepEqual(changes(samples), [{ second: 5, state: 'degraded' }]);
      assert.ok(Math.abs(at(samples, 30).keyframeIntervalS! - 10) < 0.05);
    },
  },
  {
    name: 'media that stops is starving 2 s after the last frame',
    segments: [{ ...steady, seconds: 10 }, { seconds: 5 }],
    states: [
      [11, 'healthy'],
      [12, 'starving'],
      [15, 'starving'],
    ],
    check(samples) {
      assert.deepEqual(changes(samples), [{ second: 12, state: 'starving' }]);
    },
  },
  {
    name: 'media that resumes after starving is healthy again',
    segments: [{ ...steady, seconds: 10 }, { seconds: 3 }, { ...steady, seconds: 5 }],
    states: [
      [13, 'starving'],
      [14, 'healthy'],
    ],
  },
  {
    name: 'a publisher that never sends media is starving after 2 s',
    segments: [{ seconds: 3 }],
    states: [
      [1, 'healthy'],
      [2, 'starving'],
    ],
  },
  {
    name: 'video bitrate falling under half of its last-minute median is degraded',
    segments: [steady, { ...steady, seconds: 10, videoBps: 1_000_000 }],
    states: [
      [70, 'healthy'],
      [80, 'degraded'],
    ],
  },
  {
    name: 'video bitrate falling to 60% of its median stays healthy',
    segments: [steady, { ...steady, seconds: 10, videoBps: 1_500_000 }],
    states: [[80, 'healthy']],
    check: (samples) => assert.deepEqual(changes(samples), []),
  },
  {
    name: 'a bitrate drop before a minute of history is not judged against a median',
    segments: [{ ...steady, seconds: 30 }, { ...steady, seconds: 10, videoBps: 500_000 }],
    states: [[40, 'healthy']],
  },
  {
    name: 'frame rate falling under half of its last-minute median is degraded',
    segments: [steady, { ...steady, seconds: 10, fps: 12, videoBps: 2_500_000 }],
    states: [
      [70, 'healthy'],
      [80, 'degraded'],
    ],
    check: (samples) => assert.ok(Math.abs(at(samples, 80).fps - 12) < 0.5),
  },
  {
    name: 'audio 300 ms ahead of video reads as +0.3 s of A/V drift',
    segments: [{ ...steady, seconds: 10 }],
    options: { audioLeadMs: 300 },
    states: [[10, 'healthy']],
    check(samples) {
      for (const s of samples.slice(2)) assert.ok(Math.abs(s.avDriftS! - 0.3) < 0.04, `drift ${s.avDriftS}`);
    },
  },
  {
    name: 'video timestamps alternating 20 ms early and late read as 20 ms of jitter',
    segments: [{ ...steady, seconds: 10 }],
    options: { videoTs: (i, t) => Math.round(t) + (i % 2 === 0 ? -10 : 10) },
    states: [[10, 'healthy']],
    check(samples) {
      const j = at(samples, 10).jitterS;
      assert.ok(Math.abs(j - 0.02) < 0.002, `jitter ${j}`);
    },
  },
  {
    name: 'an audio-only stream is healthy, with no keyframe interval and no drift',
    segments: [{ seconds: 10, audioBps: 96_000 }],
    states: [[10, 'healthy']],
    check(samples) {
      const s = at(samples, 10);
      assert.equal(s.keyframeIntervalS, undefined);
      assert.equal(s.avDriftS, undefined);
      assert.equal(s.fps, 0);
    },
  },
];

for (const c of cases) {
  test(`StreamHealthTracker: ${c.name}`, () => {
    const samples = simulate(c.segments, c.options);
    for (const [second, state] of c.states) {
      assert.equal(at(samples, second).state, state, `state at ${second} s (changes: ${JSON.stringify(changes(samples))})`);
    }
    c.check?.(samples);
  });
}

test('StreamHealthTracker: markOffline reports offline once as a change, then steadily', () => {
  const tracker = new StreamHealthTracker(T0);
  tracker.onVideo(0, 1000, true, T0 + 10);
  assert.equal(tracker.sample(T0 + 1000).state, 'healthy');
  tracker.markOffline();
  const first = tracker.sample(T0 + 2000);
  assert.deepEqual([first.state, first.changed], ['offline', true]);
  const second = tracker.sample(T0 + 3000);
  assert.deepEqual([second.state, second.changed], ['offline', false]);
});

test('StreamHealthTracker: a timestamp jump back starts a new GOP instead of a negative interval', () => {
  const tracker = new StreamHealthTracker(T0);
  tracker.onVideo(50_000, 1000, true, T0);
  tracker.onVideo(52_000, 1000, true, T0 + 100);
  tracker.onVideo(0, 1000, true, T0 + 200);
  tracker.onVideo(33, 1000, false, T0 + 233);
  const s = tracker.sample(T0 + 1000);
  assert.equal(s.keyframeIntervalS, 2);
  assert.equal(s.state, 'healthy');
});

test('StreamHealthTracker: window and history sizes out of range are refused', () => {
  assert.throws(() => new StreamHealthTracker(0, { windowSeconds: 0 }), (e) => e instanceof ObservabilityError && e.code === 'OBS_ERR_INVALID_OPTION');
  assert.throws(() => new StreamHealthTracker(0, { historySeconds: 1e9 }), (e) => e instanceof ObservabilityError && e.code === 'OBS_ERR_INVALID_OPTION');
});

// StreamMetrics: the cap, aggregation and removal, read back from the registry.

type Series = { labels: Record<string, string | number>; value: number };

async function series(registry: Registry, name: string): Promise<Series[]> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  assert.ok(metric, `${name} is registered`);
  return (metric as unknown as { values: Series[] }).values;
}

async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const match = (await series(registry, name)).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return match?.value;
}

function sampleOf(state: HealthState, atMs = T0, overrides: Partial<StreamHealthSample> = {}): StreamHealthSample {
  return {
    atMs,
    videoBps: 2_000_000,
    audioBps: 128_000,
    fps: 30,
    keyframeIntervalS: 2,
    sampleRateHz: 48_000,
    jitterS: 0.001,
    avDriftS: 0.02,
    videoCodec: 'avc1',
    audioCodec: 'mp4a',
    state,
    changed: false,
    ...overrides,
  };
}

function setup(maxStreams: number) {
  const registry = new Registry();
  const metrics = createMetrics({ registry, service: 'edge', version: 'test', maxStreams });
  return { registry, metrics, streams: new StreamMetrics({ metrics }) };
}

test('StreamMetrics: with a cap of 2, a third stream is aggregated: no gauges, counters under _other', async () => {
  const { registry, streams } = setup(2);
  const a = streams.register('live', 'st_a');
  const b = streams.register('live', 'st_b');
  const c = streams.register('live', 'st_c');
  assert.deepEqual([a.labelled, b.labelled, c.labelled], [true, true, false]);
  for (const h of [a, b, c]) h.update(sampleOf('healthy'));
  c.addDroppedFrames(7);
  a.addDroppedFrames(2);

  const health = await series(registry, 'firstmile_stream_health');
  assert.deepEqual([...new Set(health.map((s) => s.labels['stream']))].sort(), ['st_a', 'st_b']);
  const bitrate = await series(registry, 'firstmile_stream_ingest_bitrate_bps');
  assert.ok(bitrate.every((s) => s.labels['stream'] !== 'st_c'));
  assert.equal(await value(registry, 'firstmile_stream_ingest_bitrate_bps', { stream: 'st_a', kind: 'video' }), 2_000_000);
  assert.equal(await value(registry, 'firstmile_streams_unlabelled'), 1);
  assert.equal(await value(registry, 'firstmile_streams', { state: 'healthy' }), 3, 'the per-state count is never capped');
  assert.equal(await value(registry, 'firstmile_frames_dropped_total', { app: '_other', stream: '_other' }), 7);
  assert.equal(await value(registry, 'firstmile_frames_dropped_total', { app: 'live', stream: 'st_a' }), 2);
  assert.equal(await value(registry, 'firstmile_stream_info', { stream: 'st_a', video_codec: 'avc1', audio_codec: 'mp4a' }), 1);
});

test('StreamMetrics: remove() deletes the series and frees a slot under the cap', async () => {
  const { registry, streams } = setup(1);
  const a = streams.register('live', 'st_a');
  a.update(sampleOf('healthy'));
  a.setViewers(3);
  const b = streams.register('live', 'st_b');
  assert.equal(b.labelled, false);
  a.remove();
  a.remove();
  assert.equal((await series(registry, 'firstmile_stream_health')).length, 0);
  assert.equal((await series(registry, 'firstmile_stream_ingest_bitrate_bps')).length, 0);
  assert.equal((await series(registry, 'firstmile_stream_viewers')).length, 0);
  assert.equal(await value(registry, 'firstmile_streams', { state: 'healthy' }), 0);
  assert.equal(streams.labelled, 0);
  const c = streams.register('live', 'st_c');
  assert.equal(c.labelled, true);
  b.remove();
  assert.equal(await value(registry, 'firstmile_streams_unlabelled'), 0);
});

test('StreamMetrics: health changes move the per-state counts, count the change, and flip the health gauge', async () => {
  const { registry, streams } = setup(10);
  const a = streams.register('live', 'st_a');
  a.update(sampleOf('healthy'));
  a.update(sampleOf('degraded'));
  a.update(sampleOf('degraded'));
  assert.equal(await value(registry, 'firstmile_streams', { state: 'healthy' }), 0);
  assert.equal(await value(registry, 'firstmile_streams', { state: 'degraded' }), 1);
  assert.equal(await value(registry, 'firstmile_stream_health_changes_total', { state: 'degraded' }), 1);
  assert.equal(await value(registry, 'firstmile_stream_health', { stream: 'st_a', state: 'degraded' }), 1);
  assert.equal(await value(registry, 'firstmile_stream_health', { stream: 'st_a', state: 'healthy' }), 0);
});

test('StreamMetrics: an offline stream keeps only its health series, removed by sweep() after the grace', async () => {
  const { registry, streams } = setup(10);
  const a = streams.register('live', 'st_a');
  a.update(sampleOf('healthy', T0));
  a.update(sampleOf('offline', T0 + 1000));
  assert.equal(await value(registry, 'firstmile_stream_health', { stream: 'st_a', state: 'offline' }), 1);
  assert.equal((await series(registry, 'firstmile_stream_framerate_fps')).length, 0, 'no figures for a gone publisher');
  streams.sweep(T0 + 1000 + 59_999);
  assert.equal(streams.labelled, 1);
  streams.sweep(T0 + 1000 + 60_000);
  assert.equal(streams.labelled, 0);
  assert.equal((await series(registry, 'firstmile_stream_health')).length, 0);
  assert.equal(await value(registry, 'firstmile_streams', { state: 'offline' }), 0);
});

test('StreamMetrics: a publisher back within the grace keeps its handle and series', () => {
  const { streams } = setup(10);
  const a = streams.register('live', 'st_a');
  a.update(sampleOf('offline', T0));
  const again = streams.register('live', 'st_a');
  assert.equal(again, a);
  again.update(sampleOf('healthy', T0 + 5000));
  streams.sweep(T0 + 120_000);
  assert.equal(streams.labelled, 1);
});

test('StreamMetrics: a codec change replaces the info series; unprintable codec names read as other', async () => {
  const { registry, streams } = setup(10);
  const a = streams.register('live', 'st_a');
  a.update(sampleOf('healthy'));
  a.update(sampleOf('healthy', T0, { videoCodec: 'hvc1', audioCodec: 'bad\u0000codec' }));
  const info = await series(registry, 'firstmile_stream_info');
  assert.deepEqual(
    info.map((s) => [s.labels['video_codec'], s.labels['audio_codec'], s.value]),
    [['hvc1', 'other', 1]],
  );
});
