import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_QUERY_PARAMS, MAX_STREAM_NAME_LENGTH, parseStreamName, parseTcUrlQuery, requestParams } from '../src/index.ts';

test('parseStreamName() splits base and query, and refuses what is over the caps', () => {
  const cases: { name: string; base?: string; query?: Record<string, string> }[] = [
    { name: 'key', base: 'key', query: {} },
    { name: 'key?', base: 'key', query: {} },
    { name: 'cam?expires=1&sig=ab', base: 'cam', query: { expires: '1', sig: 'ab' } },
    { name: 'cam?token=a%2Bb', base: 'cam', query: { token: 'a+b' } },
    { name: 'cam?x=1?y=2', base: 'cam', query: { x: '1?y=2' } },
    { name: '', base: undefined },
    { name: '?token=x', base: undefined },
    { name: 'k'.repeat(MAX_STREAM_NAME_LENGTH), base: 'k'.repeat(MAX_STREAM_NAME_LENGTH), query: {} },
    { name: 'k'.repeat(MAX_STREAM_NAME_LENGTH + 1), base: undefined },
    { name: `k?${Array.from({ length: MAX_QUERY_PARAMS }, (_, i) => `p${i}=1`).join('&')}`, base: 'k' },
    { name: `k?${Array.from({ length: MAX_QUERY_PARAMS + 1 }, (_, i) => `p${i}=1`).join('&')}`, base: undefined },
  ];
  for (const c of cases) {
    const parsed = parseStreamName(c.name);
    assert.equal(parsed?.base, c.base, c.name.slice(0, 40));
    if (parsed && c.query) assert.deepEqual(Object.fromEntries(parsed.query), c.query);
  }
});

test('parseTcUrlQuery() reads the query of a tcUrl, none is empty, over the cap is refused', () => {
  assert.deepEqual(Object.fromEntries(parseTcUrlQuery('rtmp://h/live?token=t&x=1')!), { token: 't', x: '1' });
  assert.equal([...parseTcUrlQuery('rtmp://h/live')!].length, 0);
  assert.equal([...parseTcUrlQuery(undefined)!].length, 0);
  assert.equal(parseTcUrlQuery(`rtmp://h/live?t=${'x'.repeat(MAX_STREAM_NAME_LENGTH)}`), undefined);
});

test('requestParams(): the stream name query wins over the tcUrl query; the object has no prototype', () => {
  const p = requestParams('cam?token=from-name&__proto__=x&constructor=y', 'rtmp://h/live?token=from-tcurl&sig=s')!;
  assert.equal(p.base, 'cam');
  assert.equal(p.get('token'), 'from-name');
  assert.equal(p.get('sig'), 's');
  assert.equal(p.get('missing'), undefined);
  const o = p.toObject();
  assert.equal(Object.getPrototypeOf(o), null);
  assert.deepEqual(Object.entries(o), [['token', 'from-name'], ['__proto__', 'x'], ['constructor', 'y'], ['sig', 's']]);
  assert.equal(requestParams('cam', `rtmp://h/live?${'a=1&'.repeat(MAX_QUERY_PARAMS)}`), undefined);
});
