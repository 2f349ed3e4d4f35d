import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '@firstmile/bus';
import {
  AppAuthorizers,
  JwtAuthorizer,
  KeysAuthorizer,
  NoneAuthorizer,
  SignedAuthorizer,
  WebhookAuthorizer,
  createPublishAuthorizer,
  signPublishUrl,
  type PublishAuthConfig,
  type PublishAuthorizer,
} from '../src/index.ts';

const SECRET = 'signing-secret-0123456789abcdef';

test('createPublishAuthorizer() builds each mode from plain config, and its decisions carry the mode', async (t) => {
  const bus = new MemoryBus();
  t.after(() => bus.close());
  const cases: { config: PublishAuthConfig; type: new (...args: never[]) => PublishAuthorizer }[] = [
    { config: { mode: 'none' }, type: NoneAuthorizer },
    { config: { mode: 'keys', cacheTtlMs: 500 }, type: KeysAuthorizer },
    { config: { mode: 'signed', secret: SECRET }, type: SignedAuthorizer },
    { config: { mode: 'webhook', url: 'http://127.0.0.1:1/auth' }, type: WebhookAuthorizer },
    { config: { mode: 'jwt', key: 'an-hmac-secret-of-at-least-32-bytes!', audience: 'fm' }, type: JwtAuthorizer },
  ];
  for (const c of cases) {
    const a = createPublishAuthorizer(c.config, { bus });
    assert.ok(a instanceof c.type, c.config.mode);
    assert.equal(a.mode, c.config.mode);
    const d = await a.authorize({ app: 'live', name: 'cam', clientIp: '192.0.2.1' });
    assert.equal(d.mode, c.config.mode);
    a.close?.();
  }
  assert.throws(() => createPublishAuthorizer({ mode: 'keys' }), { code: 'AUTH_ERR_CONFIG' });
  assert.throws(() => createPublishAuthorizer({ mode: 'keys', cacheTtlMs: 5000 }, { bus }), { code: 'AUTH_ERR_CONFIG' });
  assert.throws(() => createPublishAuthorizer({ mode: 'open' } as unknown as PublishAuthConfig), { code: 'AUTH_ERR_CONFIG' });
});

test('AppAuthorizers picks the authorizer per app, falls back to the default, refuses unlisted apps without one', async () => {
  const apps = AppAuthorizers.fromConfig({ apps: { live: { mode: 'signed', secret: SECRET }, dev: { mode: 'none' } } });
  const signed = `cam?${signPublishUrl({ secret: SECRET, app: 'live', stream: 'cam', expiresAt: Date.now() + 60_000 })}`;
  const r = (app: string, name: string) => apps.authorize({ app, name, clientIp: '192.0.2.1' });
  assert.deepEqual(await r('live', signed), { ok: true, playName: 'cam', mode: 'signed' });
  assert.equal((await r('live', 'cam')).ok, false, 'live needs a signature');
  assert.deepEqual(await r('dev', 'anything?x=1'), { ok: true, playName: 'anything', mode: 'none' });
  assert.deepEqual(await r('other', 'cam'), { ok: false, code: 'AUTH_DENIED', reason: 'app not configured', mode: 'none' });
  assert.deepEqual([...apps.modes].sort(), ['none', 'signed']);

  const withDefault = new AppAuthorizers({ default: new NoneAuthorizer() });
  assert.equal((await withDefault.authorize({ app: 'any', name: 'cam', clientIp: '192.0.2.1' })).ok, true);
  assert.equal(withDefault.mode, 'none');

  const broken: PublishAuthorizer = { mode: 'webhook', authorize: () => Promise.reject(new Error('bug')) };
  const guarded = new AppAuthorizers({ apps: new Map([['live', broken]]) });
  assert.deepEqual(await guarded.authorize({ app: 'live', name: 'cam', clientIp: '192.0.2.1' }), {
    ok: false,
    code: 'AUTH_UNAVAILABLE',
    reason: 'authorizer failed',
    mode: 'webhook',
  });
});
