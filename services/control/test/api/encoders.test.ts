import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LADDER, type EncoderSettings } from '../../src/api/encoders.ts';
import { createStream, startApi, type ApiErrorBody } from './helpers.ts';

interface IngestChoice {
  id: string;
  region: string | null;
  url: string;
  secureUrl: string | null;
}

interface EncoderConfig {
  ingest: IngestChoice;
  alternatives: IngestChoice[];
  encoder: EncoderSettings;
}

test('encoder-config answers the best ingest server URL and the recommended settings for a valid key, never echoing the key', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const s = await createStream(api);
  const res = await api.call<EncoderConfig>({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey: s.streamKey } });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, {
    ingest: { id: 'eu-west', region: 'eu-west', url: 'rtmp://eu-west.ingest.test/live', secureUrl: 'rtmps://eu-west.ingest.test/live' },
    alternatives: [{ id: 'us-east', region: 'us-east', url: 'rtmp://us-east.ingest.test/live', secureUrl: null }],
    encoder: {
      keyframeIntervalSeconds: 2,
      rateControl: 'CBR',
      videoCodec: 'h264',
      bframes: 0,
      audio: { codec: 'aac', bitrateKbps: 128, sampleRate: 48000 },
      ladder: [
        { height: 1080, fps: 60, maxBitrateKbps: 6000 },
        { height: 1080, fps: 30, maxBitrateKbps: 4500 },
        { height: 720, fps: 60, maxBitrateKbps: 4500 },
        { height: 720, fps: 30, maxBitrateKbps: 3000 },
        { height: 480, fps: 30, maxBitrateKbps: 1500 },
      ],
    },
  });
  assert.ok(!JSON.stringify(res.body).includes(s.streamKey));
  assert.deepEqual(api.router.calls, [{ ip: '127.0.0.1', region: undefined, app: 'live' }]);
});

test('encoder-config passes the region hint and app to routing', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const s = await createStream(api);
  const res = await api.call<EncoderConfig>({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey: s.streamKey, region: 'us-east', app: 'events' } });
  assert.equal(res.body.ingest.url, 'rtmp://us-east.ingest.test/events');
  assert.deepEqual(api.router.calls, [{ ip: '127.0.0.1', region: 'us-east', app: 'events' }]);
});

const capabilityCases: { what: string; capabilities: object; codec: string; ladder: { height: number; fps: number; maxBitrateKbps: number }[] }[] = [
  { what: 'a 4500 kbit/s ceiling leaves out the 6000 rung', capabilities: { maxBitrateKbps: 4500 }, codec: 'h264', ladder: LADDER.slice(1) },
  { what: 'a 3000 kbit/s ceiling', capabilities: { maxBitrateKbps: 3000 }, codec: 'h264', ladder: LADDER.slice(3) },
  { what: 'a ceiling under the lowest rung gives that rung at the ceiling', capabilities: { maxBitrateKbps: 1000 }, codec: 'h264', ladder: [{ height: 480, fps: 30, maxBitrateKbps: 1000 }] },
  { what: 'an HEVC-only encoder', capabilities: { codecs: ['hevc'] }, codec: 'hevc', ladder: [...LADDER] },
  { what: 'codec aliases, any case', capabilities: { codecs: ['AV01', 'HVC1'] }, codec: 'hevc', ladder: [...LADDER] },
  { what: 'H.264 preferred when offered', capabilities: { codecs: ['av1', 'avc'] }, codec: 'h264', ladder: [...LADDER] },
];

for (const c of capabilityCases) {
  test(`encoder-config caps the ladder by capabilities: ${c.what}`, async (t) => {
    const api = await startApi();
    t.after(() => api.close());
    const s = await createStream(api);
    const res = await api.call<EncoderConfig>({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey: s.streamKey, capabilities: c.capabilities } });
    assert.equal(res.status, 200);
    assert.equal(res.body.encoder.videoCodec, c.codec);
    assert.deepEqual(res.body.encoder.ladder, c.ladder);
  });
}

test('encoder-config refuses unknown, rotated-out and revoked keys alike with 401, and reports each failure for lockout', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const rotatedOut = await createStream(api);
  await api.call({ method: 'post', url: `/v1/streams/${rotatedOut.id}/rotate-key`, body: { overlapSeconds: 0 } });
  const revoked = await createStream(api);
  await api.call({ method: 'post', url: `/v1/streams/${revoked.id}/revoke` });
  const answers: ApiErrorBody[] = [];
  for (const streamKey of ['sk_guessed', rotatedOut.streamKey, revoked.streamKey]) {
    const res = await api.call<ApiErrorBody>({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey } });
    assert.equal(res.status, 401);
    answers.push(res.body);
  }
  assert.deepEqual(answers.map((a) => a.error), Array(3).fill({ code: 'UNAUTHORIZED', message: 'unknown, expired or revoked stream key' }), 'one answer: no oracle');
  assert.deepEqual(api.authFailures, ['127.0.0.1', '127.0.0.1', '127.0.0.1']);
  assert.equal(api.router.calls.length, 0);
});

const badBodies: { what: string; body: unknown; field: string }[] = [
  { what: 'no streamKey', body: {}, field: 'body/streamKey' },
  { what: 'an empty streamKey', body: { streamKey: '' }, field: 'body/streamKey' },
  { what: 'a streamKey over 256 characters', body: { streamKey: 'k'.repeat(257) }, field: 'body/streamKey' },
  { what: 'a bitrate ceiling under 100', body: { streamKey: 'sk_x', capabilities: { maxBitrateKbps: 50 } }, field: 'body/capabilities/maxBitrateKbps' },
  { what: 'more than 16 codecs', body: { streamKey: 'sk_x', capabilities: { codecs: Array.from({ length: 17 }, (_, i) => `c${i}`) } }, field: 'body/capabilities/codecs' },
  { what: 'an unknown capability', body: { streamKey: 'sk_x', capabilities: { gpu: true } }, field: 'body/capabilities/gpu' },
];

for (const c of badBodies) {
  test(`encoder-config with ${c.what} answers 400 naming ${c.field}, before any key lookup`, async (t) => {
    const api = await startApi();
    t.after(() => api.close());
    const res = await api.call<ApiErrorBody>({ method: 'post', url: '/v1/encoder-config', token: null, body: c.body });
    assert.equal(res.status, 400);
    assert.ok(res.body.error.details?.some((d) => d.field === c.field), JSON.stringify(res.body.error.details));
    assert.deepEqual(api.authFailures, []);
  });
}

test('encoder-config with only codecs the ingest cannot take answers 400 naming capabilities.codecs', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const s = await createStream(api);
  const res = await api.call<ApiErrorBody>({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey: s.streamKey, capabilities: { codecs: ['vp8'] } } });
  assert.equal(res.status, 400);
  assert.deepEqual(res.body.error.details, [{ field: 'body/capabilities/codecs', message: 'must include h264, hevc or av1' }]);
});

test('GET /v1/ingests ranks through routing for the caller and app, and falls back to the public URL when routing has nothing', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const ranked = await api.call<{ data: { id: string; region: string | null; urlTemplate: string; urlTemplateSecure: string | null; distanceKm?: number }[] }>({
    method: 'get',
    url: '/v1/ingests?region=us-east&app=events',
    token: null,
  });
  assert.equal(ranked.status, 200);
  assert.deepEqual(ranked.body.data.map((e) => e.id), ['us-east', 'eu-west']);
  assert.equal(ranked.body.data[0]?.urlTemplate, 'rtmp://us-east.ingest.test/events/{stream_key}');
  assert.equal(ranked.body.data[0]?.urlTemplateSecure, null);
  assert.equal(ranked.body.data[1]?.distanceKm, 12);
  assert.deepEqual(api.router.calls, [{ ip: '127.0.0.1', region: 'us-east', app: 'events' }]);

  api.router.endpoints = [];
  const fallback = await api.call<{ data: { id: string; urlTemplate: string; urlTemplateSecure: string | null }[] }>({ method: 'get', url: '/v1/ingests', token: null });
  assert.deepEqual(fallback.body.data.map((e) => [e.id, e.urlTemplate, e.urlTemplateSecure]), [['default', 'rtmp://ingest.test/live/{stream_key}', 'rtmps://ingest.test:443/live/{stream_key}']]);

  const bad = await api.call<ApiErrorBody>({ method: 'get', url: `/v1/ingests?region=${'r'.repeat(65)}`, token: null });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.details?.[0]?.field, 'querystring/region');
});

test('encoder-config answers 429 TOO_MANY_REQUESTS to a locked-out address without looking at its key', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const s = await createStream(api);
  api.lockedOut.add('127.0.0.1');
  const res = await api.call<ApiErrorBody>({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey: s.streamKey } });
  assert.equal(res.status, 429);
  assert.equal(res.body.error.code, 'TOO_MANY_REQUESTS');
  assert.deepEqual(api.authFailures, []);
  assert.equal(api.router.calls.length, 0);
});
