import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlvError } from '../src/index.ts';

describe('FlvError', () => {
  it('carries code, name, message and cause', () => {
    const cause = new Error('root');
    const err = new FlvError('FLV_ERR_MALFORMED', 'bad', { cause });
    assert.equal(err.code, 'FLV_ERR_MALFORMED');
    assert.equal(err.name, 'FlvError');
    assert.equal(err.message, 'bad');
    assert.equal(err.cause, cause);
    assert.ok(err instanceof Error);
    assert.ok(err instanceof FlvError);
    assert.match(String(err.stack), /^FlvError: bad/);
  });

  it('instanceof works across duplicate copies of the module', async () => {
    const other = (await import(`../src/errors.ts?copy=${Date.now()}`)) as typeof import('../src/errors.ts');
    assert.notEqual(other.FlvError, FlvError, 'the query string must yield a second module instance');
    const foreign = new other.FlvError('FLV_ERR_TRUNCATED', 'x');
    assert.ok(foreign instanceof FlvError);
    assert.ok(new FlvError('FLV_ERR_TRUNCATED', 'y') instanceof other.FlvError);
  });

  it('instanceof rejects plain errors and non-objects', () => {
    assert.equal(new Error('x') instanceof FlvError, false);
    assert.equal(Object.assign(new Error('x'), { code: 'FLV_ERR_TRUNCATED', name: 'FlvError' }) instanceof FlvError, false);
    assert.equal((null as unknown) instanceof FlvError, false);
    assert.equal(('FlvError' as unknown) instanceof FlvError, false);
  });
});
