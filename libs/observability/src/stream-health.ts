import type { Counter } from 'prom-client';
import { ObservabilityError } from './errors.ts';
import { HEALTH_STATES, OTHER_STREAM, type HealthState, type Metrics } from './metrics.ts';

/**
 * Thresholds of the stream health states (docs/metrics.md). Defaults are the documented values;
 * tests and operators may tighten them.
 */
export interface HealthThresholds {
  /** No media for this long while the publisher is connected: starving (default 2000). */
  starvingAfterMs: number;
  /** A keyframe interval above this is degraded: players joining wait that long (default 4). */
  maxKeyframeIntervalS: number;
  /** Video bitrate under this fraction of its last-minute median is degraded (default 0.5). */
  minBitrateRatio: number;
  /** Frame rate under this fraction of its last-minute median is degraded (default 0.5). */
  minFramerateRatio: number;
  /** Seconds of once-a-second history the medians need before they are used (default 60). */
  historySeconds: number;
  /** Seconds over which bitrate, frame rate and jitter are measured (default 5). */
  windowSeconds: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: Readonly<HealthThresholds> = Object.freeze({
  starvingAfterMs: 2000,
  maxKeyframeIntervalS: 4,
  minBitrateRatio: 0.5,
  minFramerateRatio: 0.5,
  historySeconds: 60,
  windowSeconds: 5,
});

/** One reading of a stream's figures, taken once a second by the edge. */
export interface StreamHealthSample {
  /** The nowMs the sample was taken at. */
  atMs: number;
  videoBps: number;
  audioBps: number;
  fps: number;
  /** Unset before any video. */
  keyframeIntervalS: number | undefined;
  /** Unset until the publisher announced one. */
  sampleRateHz: number | undefined;
  jitterS: number;
  /** Last audio timestamp minus last video timestamp; unset unless both are present. */
  avDriftS: number | undefined;
  videoCodec: string | undefined;
  audioCodec: string | undefined;
  state: HealthState;
  /** The state differs from the previous sample's (the first sample compares with healthy). */
  changed: boolean;
}

// Per-second bucket fields, laid out flat in one Float64Array: no objects on the frame path.
const F_VBYTES = 0;
const F_ABYTES = 1;
const F_VFRAMES = 2;
const F_JSUM = 3;
const F_JCOUNT = 4;
const FIELDS = 5;

/**
 * Weight of a new timestamp delta in the running expected spacing: slow enough that one late frame
 * barely moves it, fast enough to follow a frame-rate change within a few seconds.
 */
const SPACING_WEIGHT = 1 / 16;
/** A video timestamp step this large is a reset (publisher restart, wrap), not a frame interval. */
const MAX_TIMESTAMP_STEP_MS = 10_000;

/**
 * Figures and health of one live stream, sans I/O: the edge reports each media message and asks
 * for a sample once a second. onVideo/onAudio are the ingest hot path: arithmetic on preallocated
 * typed arrays, no allocation. Rates are over a window of one-second buckets by arrival time (what
 * the edge receives); keyframe interval, jitter and A/V drift are in media time.
 */
export class StreamHealthTracker {
  readonly #t: HealthThresholds;
  readonly #window: number;
  readonly #buckets: Float64Array;
  #head = 0;
  #bucketSecond = Number.NaN;

  #firstMediaAt = Number.NaN;
  #lastMediaAt: number;
  #firstVideoTs = Number.NaN;
  #lastVideoTs = Number.NaN;
  #expectedDelta = Number.NaN;
  #lastKeyTs = Number.NaN;
  #lastKeyInterval = Number.NaN;
  #lastAudioTs = Number.NaN;
  #sampleRate = 0;
  #videoCodec: string | undefined;
  #audioCodec: string | undefined;

  readonly #bpsHistory: Float64Array;
  readonly #fpsHistory: Float64Array;
  readonly #scratch: Float64Array;
  #historyCount = 0;
  #historyHead = 0;
  #historySecond = Number.NaN;

  #state: HealthState = 'healthy';
  #offline = false;

  /** `nowMs`: when the publisher started (starving counts from here until the first media). */
  constructor(nowMs: number, thresholds: Partial<HealthThresholds> = {}) {
    this.#t = { ...DEFAULT_HEALTH_THRESHOLDS, ...thresholds };
    const { windowSeconds, historySeconds } = this.#t;
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > 60) {
      throw new ObservabilityError('OBS_ERR_INVALID_OPTION', `windowSeconds must be an integer in 1..60, got ${windowSeconds}`);
    }
    if (!Number.isInteger(historySeconds) || historySeconds < 1 || historySeconds > 3600) {
      throw new ObservabilityError('OBS_ERR_INVALID_OPTION', `historySeconds must be an integer in 1..3600, got ${historySeconds}`);
    }
    this.#window = windowSeconds;
    this.#buckets = new Float64Array(windowSeconds * FIELDS);
    this.#bpsHistory = new Float64Array(historySeconds);
    this.#fpsHistory = new Float64Array(historySeconds);
    this.#scratch = new Float64Array(historySeconds);
    this.#lastMediaAt = nowMs;
  }

  get state(): HealthState {
    return this.#state;
  }

  /** One video message: `tsMs` its RTMP timestamp, `nowMs` its arrival. */
  onVideo(tsMs: number, bytes: number, isKeyframe: boolean, nowMs: number): void {
    const b = this.#media(nowMs);
    const buckets = this.#buckets;
    buckets[b + F_VBYTES]! += bytes;
    buckets[b + F_VFRAMES]! += 1;
    const last = this.#lastVideoTs;
    if (last === last) {
      const d = tsMs - last;
      if (d < 0 || d > MAX_TIMESTAMP_STEP_MS) {
        // A jump is a new timeline: start the spacing and the GOP over rather than report nonsense.
        this.#expectedDelta = Number.NaN;
        this.#lastKeyTs = Number.NaN;
        this.#firstVideoTs = tsMs;
      } else if (this.#expectedDelta !== this.#expectedDelta) {
        this.#expectedDelta = d;
      } else {
        buckets[b + F_JSUM]! += Math.abs(d - this.#expectedDelta);
        buckets[b + F_JCOUNT]! += 1;
        this.#expectedDelta += (d - this.#expectedDelta) * SPACING_WEIGHT;
      }
    } else {
      this.#firstVideoTs = tsMs;
    }
    this.#lastVideoTs = tsMs;
    if (isKeyframe) {
      const lastKey = this.#lastKeyTs;
      if (lastKey === lastKey && tsMs > lastKey) this.#lastKeyInterval = tsMs - lastKey;
      this.#lastKeyTs = tsMs;
    }
  }

  /** One audio message; `sampleRate` when the edge parsed one (AAC sequence header, FLV flags). */
  onAudio(tsMs: number, bytes: number, sampleRate: number | undefined, nowMs: number): void {
    const b = this.#media(nowMs);
    this.#buckets[b + F_ABYTES]! += bytes;
    this.#lastAudioTs = tsMs;
    if (sampleRate !== undefined && sampleRate > 0) this.#sampleRate = sampleRate;
  }

  setCodecs(video: string | undefined, audio: string | undefined): void {
    this.#videoCodec = video;
    this.#audioCodec = audio;
  }

  /** The publisher is gone: every later sample reports offline. */
  markOffline(): void {
    this.#offline = true;
  }

  /** Figures now, and the health state with whether it changed since the previous sample. */
  sample(nowMs: number): StreamHealthSample {
    this.#advance(nowMs);
    const t = this.#t;
    let vbytes = 0;
    let abytes = 0;
    let vframes = 0;
    let jsum = 0;
    let jcount = 0;
    const buckets = this.#buckets;
    for (let i = 0; i < buckets.length; i += FIELDS) {
      vbytes += buckets[i + F_VBYTES]!;
      abytes += buckets[i + F_ABYTES]!;
      vframes += buckets[i + F_VFRAMES]!;
      jsum += buckets[i + F_JSUM]!;
      jcount += buckets[i + F_JCOUNT]!;
    }
    // The buckets cover whole seconds up to now; at the start only since the first media, and at
    // least a second so the first frames do not read as a burst.
    const windowStart = Math.max((this.#bucketSecond - this.#window + 1) * 1000, this.#firstMediaAt);
    const seconds = this.#firstMediaAt === this.#firstMediaAt ? Math.max(1, (nowMs - windowStart) / 1000) : 1;
    const videoBps = (vbytes * 8) / seconds;
    const audioBps = (abytes * 8) / seconds;
    const fps = vframes / seconds;
    const keyframeIntervalS = this.#keyframeIntervalS();
    const hasVideo = this.#lastVideoTs === this.#lastVideoTs;
    const hasAudio = this.#lastAudioTs === this.#lastAudioTs;

    let state: HealthState;
    if (this.#offline) state = 'offline';
    else if (nowMs - this.#lastMediaAt >= t.starvingAfterMs) state = 'starving';
    else if (keyframeIntervalS !== undefined && keyframeIntervalS > t.maxKeyframeIntervalS) state = 'degraded';
    else if (this.#historyCount >= this.#bpsHistory.length && hasVideo && this.#belowMedians(videoBps, fps)) state = 'degraded';
    else state = 'healthy';

    // The medians describe the stream while it flows: starving and offline seconds would only
    // drag them down and hide the next drop.
    if (state !== 'starving' && state !== 'offline' && this.#firstMediaAt === this.#firstMediaAt) {
      this.#record(Math.floor(nowMs / 1000), videoBps, fps);
    }
    const changed = state !== this.#state;
    this.#state = state;
    return {
      atMs: nowMs,
      videoBps,
      audioBps,
      fps,
      keyframeIntervalS,
      sampleRateHz: this.#sampleRate > 0 ? this.#sampleRate : undefined,
      jitterS: jcount > 0 ? jsum / jcount / 1000 : 0,
      avDriftS: hasVideo && hasAudio ? (this.#lastAudioTs - this.#lastVideoTs) / 1000 : undefined,
      videoCodec: this.#videoCodec,
      audioCodec: this.#audioCodec,
      state,
      changed,
    };
  }

  /** Marks media arrival and returns the offset of the current bucket. */
  #media(nowMs: number): number {
    this.#advance(nowMs);
    if (this.#firstMediaAt !== this.#firstMediaAt) this.#firstMediaAt = nowMs;
    else if (nowMs - this.#lastMediaAt >= this.#t.starvingAfterMs) this.#restartTimeline();
    this.#lastMediaAt = nowMs;
    return this.#head * FIELDS;
  }

  /**
   * Media resumes after a stall: the keyframe interval and timestamp spacing that span the gap
   * say nothing about the encoder, so they start over.
   */
  #restartTimeline(): void {
    this.#firstVideoTs = Number.NaN;
    this.#lastVideoTs = Number.NaN;
    this.#expectedDelta = Number.NaN;
    this.#lastKeyTs = Number.NaN;
    this.#lastKeyInterval = Number.NaN;
    this.#lastAudioTs = Number.NaN;
  }

  #advance(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const current = this.#bucketSecond;
    if (current !== current) {
      this.#bucketSecond = second;
      return;
    }
    if (second <= current) return; // same second, or a clock step back: keep adding to this one
    const steps = Math.min(second - current, this.#window);
    const buckets = this.#buckets;
    for (let i = 0; i < steps; i++) {
      this.#head = (this.#head + 1) % this.#window;
      buckets.fill(0, this.#head * FIELDS, this.#head * FIELDS + FIELDS);
    }
    this.#bucketSecond = second;
  }

  #keyframeIntervalS(): number | undefined {
    const lastVideo = this.#lastVideoTs;
    if (lastVideo !== lastVideo) return undefined;
    // Time since the last keyframe (or since the first frame when none came) is a lower bound on
    // the interval in progress: an encoder that stopped sending keyframes shows up before the next.
    const lastKey = this.#lastKeyTs;
    const open = (lastKey === lastKey ? lastVideo - lastKey : lastVideo - this.#firstVideoTs) / 1000;
    const last = this.#lastKeyInterval / 1000;
    return last === last ? Math.max(last, open) : open;
  }

  #record(second: number, videoBps: number, fps: number): void {
    if (second <= this.#historySecond) return;
    this.#historySecond = second;
    const n = this.#bpsHistory.length;
    this.#bpsHistory[this.#historyHead] = videoBps;
    this.#fpsHistory[this.#historyHead] = fps;
    this.#historyHead = (this.#historyHead + 1) % n;
    if (this.#historyCount < n) this.#historyCount++;
  }

  #belowMedians(videoBps: number, fps: number): boolean {
    return (
      videoBps < this.#t.minBitrateRatio * median(this.#bpsHistory, this.#scratch) ||
      fps < this.#t.minFramerateRatio * median(this.#fpsHistory, this.#scratch)
    );
  }
}

function median(values: Float64Array, scratch: Float64Array): number {
  scratch.set(values);
  scratch.sort();
  const n = scratch.length;
  const mid = n >> 1;
  return n % 2 === 1 ? scratch[mid]! : (scratch[mid - 1]! + scratch[mid]!) / 2;
}

/** Codec names come from the publisher's bytes (FourCC): a bounded, printable label or `other`. */
function codecLabel(codec: string | undefined): string {
  if (codec === undefined || codec.length === 0) return 'none';
  return codec.length <= 16 && /^[A-Za-z0-9._-]+$/.test(codec) ? codec : 'other';
}

/** Label values are capped like every peer-chosen length (names are capped upstream too). */
const MAX_LABEL_LENGTH = 256;

export interface StreamMetricsOptions {
  metrics: Metrics;
  /** Streams with their own series; defaults to metrics.maxStreams. */
  maxStreams?: number | undefined;
  /** An offline stream's series stay this long after the publisher left (default 60 s), see sweep(). */
  offlineGraceMs?: number | undefined;
}

/** One stream's metric series: labelled, or aggregated past the cap (`stream="_other"`). */
export interface StreamMetricsHandle {
  readonly app: string;
  readonly stream: string;
  /** False when the stream is past the cap: gauges are omitted, counters go to `_other`. */
  readonly labelled: boolean;
  /** The last state given to update(), if any. */
  readonly state: HealthState | undefined;
  /** Publishes a sample (edge): per-stream gauges, the health gauge and the per-state counts. */
  update(sample: StreamHealthSample): void;
  /** Players of the stream on this origin. */
  setViewers(viewers: number): void;
  /** Frames skipped for slow players (origin). */
  addDroppedFrames(frames: number): void;
  /** Removes the stream's series and frees its slot under the cap. Idempotent. */
  remove(): void;
}

/**
 * Owns the cardinality cap of the per-stream series: the first `maxStreams` streams registered (and
 * still present) get series labelled by app and stream, the rest are aggregated: their gauges are
 * omitted and their counters go to app="_other", stream="_other". One instance per service.
 */
export class StreamMetrics {
  readonly #metrics: Metrics;
  readonly #maxStreams: number;
  readonly #offlineGraceMs: number;
  readonly #handles = new Map<string, StreamHandleImpl>();
  #labelled = 0;

  constructor(options: StreamMetricsOptions) {
    this.#metrics = options.metrics;
    this.#maxStreams = options.maxStreams ?? options.metrics.maxStreams;
    this.#offlineGraceMs = options.offlineGraceMs ?? 60_000;
  }

  /** Streams with their own series now. */
  get labelled(): number {
    return this.#labelled;
  }

  /** Streams aggregated past the cap now. */
  get unlabelled(): number {
    return this.#handles.size - this.#labelled;
  }

  /**
   * The handle of a stream: the existing one when the stream is still registered (a publisher that
   * reconnects within the offline grace keeps its series), else a new one, labelled while there
   * is room under the cap.
   */
  register(app: string, stream: string): StreamMetricsHandle {
    const a = app.slice(0, MAX_LABEL_LENGTH);
    const s = stream.slice(0, MAX_LABEL_LENGTH);
    const key = `${a}\u0000${s}`;
    const existing = this.#handles.get(key);
    if (existing) return existing;
    const labelled = this.#labelled < this.#maxStreams;
    const handle = new StreamHandleImpl(this.#metrics, a, s, labelled, () => {
      this.#handles.delete(key);
      if (labelled) this.#labelled--;
      else this.#metrics.streamsUnlabelled.dec();
    });
    this.#handles.set(key, handle);
    if (labelled) this.#labelled++;
    else this.#metrics.streamsUnlabelled.inc();
    return handle;
  }

  /** Removes the series of streams offline for longer than the grace; call it once a second. */
  sweep(nowMs: number): void {
    // Deleting the entry being visited is safe while iterating a Map.
    for (const handle of this.#handles.values()) {
      if (handle.offlineSince !== undefined && nowMs - handle.offlineSince >= this.#offlineGraceMs) handle.remove();
    }
  }

  /** Removes every stream's series (service shutdown). */
  close(): void {
    for (const handle of this.#handles.values()) handle.remove();
  }
}

class StreamHandleImpl implements StreamMetricsHandle {
  readonly app: string;
  readonly stream: string;
  readonly labelled: boolean;
  state: HealthState | undefined;
  offlineSince: number | undefined;
  readonly #m: Metrics;
  readonly #labels: { app: string; stream: string };
  readonly #dropped: ReturnType<Counter<'app' | 'stream'>['labels']>;
  readonly #onRemove: () => void;
  #info: { app: string; stream: string; video_codec: string; audio_codec: string } | undefined;
  #removed = false;
  #hasViewers = false;

  constructor(metrics: Metrics, app: string, stream: string, labelled: boolean, onRemove: () => void) {
    this.app = app;
    this.stream = stream;
    this.labelled = labelled;
    this.#m = metrics;
    this.#labels = { app, stream };
    this.#dropped = metrics.framesDropped.labels(labelled ? this.#labels : { app: OTHER_STREAM, stream: OTHER_STREAM });
    // The series exists at 0 from the start (see createMetrics).
    this.#dropped.inc(0);
    this.#onRemove = onRemove;
  }

  update(sample: StreamHealthSample): void {
    if (this.#removed) return;
    const m = this.#m;
    const previous = this.state;
    const state = sample.state;
    if (previous !== state) {
      if (previous !== undefined) {
        m.streams.dec({ state: previous });
        m.streamHealthChanges.inc({ state });
      }
      m.streams.inc({ state });
      this.state = state;
    }
    if (state === 'offline') this.offlineSince ??= sample.atMs;
    else this.offlineSince = undefined;
    if (!this.labelled) return;

    const l = this.#labels;
    const { app, stream } = l;
    if (state !== previous) {
      for (const s of HEALTH_STATES) m.streamHealth.set({ app, stream, state: s }, s === state ? 1 : 0);
    }
    if (state === 'offline') {
      // The publisher is gone: its last figures would read as a live stream; only health stays.
      this.#removeFigures();
      return;
    }
    m.streamIngestBitrate.set({ app, stream, kind: 'video' }, Math.round(sample.videoBps));
    m.streamIngestBitrate.set({ app, stream, kind: 'audio' }, Math.round(sample.audioBps));
    m.streamFramerate.set(l, sample.fps);
    m.streamTimestampJitter.set(l, sample.jitterS);
    if (sample.keyframeIntervalS !== undefined) m.streamKeyframeInterval.set(l, sample.keyframeIntervalS);
    if (sample.sampleRateHz !== undefined) m.streamAudioSampleRate.set(l, sample.sampleRateHz);
    if (sample.avDriftS !== undefined) m.streamAvDrift.set(l, sample.avDriftS);
    else m.streamAvDrift.remove(l);
    const video_codec = codecLabel(sample.videoCodec);
    const audio_codec = codecLabel(sample.audioCodec);
    const info = this.#info;
    if (!info || info.video_codec !== video_codec || info.audio_codec !== audio_codec) {
      if (info) m.streamInfo.remove(info);
      this.#info = { app, stream, video_codec, audio_codec };
      m.streamInfo.set(this.#info, 1);
    }
  }

  setViewers(viewers: number): void {
    if (this.#removed || !this.labelled) return;
    this.#hasViewers = true;
    this.#m.streamViewers.set(this.#labels, viewers);
  }

  addDroppedFrames(frames: number): void {
    if (this.#removed || frames <= 0) return;
    this.#dropped.inc(frames);
  }

  remove(): void {
    if (this.#removed) return;
    this.#removed = true;
    const m = this.#m;
    if (this.state !== undefined) m.streams.dec({ state: this.state });
    if (this.labelled) {
      this.#removeFigures();
      const { app, stream } = this.#labels;
      if (this.state !== undefined) for (const state of HEALTH_STATES) m.streamHealth.remove({ app, stream, state });
      if (this.#hasViewers) m.streamViewers.remove(this.#labels);
      m.framesDropped.remove(this.#labels);
    }
    this.#onRemove();
  }

  #removeFigures(): void {
    const m = this.#m;
    const l = this.#labels;
    const { app, stream } = l;
    m.streamIngestBitrate.remove({ app, stream, kind: 'video' });
    m.streamIngestBitrate.remove({ app, stream, kind: 'audio' });
    m.streamFramerate.remove(l);
    m.streamKeyframeInterval.remove(l);
    m.streamAudioSampleRate.remove(l);
    m.streamTimestampJitter.remove(l);
    m.streamAvDrift.remove(l);
    if (this.#info) {
      m.streamInfo.remove(this.#info);
      this.#info = undefined;
    }
  }
}
