import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as amf from '../src/index.ts';
import { AmfError, DEFAULT_AMF_LIMITS, decodeAmf0 } from '../src/index.ts';

describe('AmfError', () => {
  it('carries name "AmfError", a stable code, the message and an optional cause', () => {
    const cause = new Error('inner');
    const error = new AmfError('AMF_ERR_LIMIT', 'too many', { cause });
    assert.ok(error instanceof Error);
    assert.ok(error instanceof AmfError);
    assert.equal(error.name, 'AmfError');
    assert.equal(error.code, 'AMF_ERR_LIMIT');
    assert.equal(error.message, 'too many');
    assert.equal(error.cause, cause);
  });

  it('instanceof AmfError holds for an error from a duplicate copy of the package (same Symbol.for brand)', () => {
    class AmfErrorFromOtherCopy extends Error {
      constructor() {
        super('from another copy');
        Object.defineProperty(this, Symbol.for('firstmile.amf.error'), { value: true });
      }
    }
    assert.ok(new AmfErrorFromOtherCopy() instanceof AmfError);
  });

  it('instanceof AmfError is false for other errors and non-objects', () => {
    for (const value of [new Error('x'), new RangeError('x'), null, undefined, 'AmfError', 42, {}]) {
      assert.equal(value instanceof AmfError, false, String(value));
    }
  });

  it('decode failures are AmfErrors whose message names the offset', () => {
    let thrown: unknown;
    try {
      decodeAmf0(Buffer.from('0505ff', 'hex'));
    } catch (error) {
      thrown = error;
    }
    assert.ok(thrown instanceof AmfError);
    assert.equal(thrown.code, 'AMF_ERR_UNKNOWN_MARKER');
    assert.match(thrown.message, /offset 2/);
  });
});

describe('public API', () => {
  it('DEFAULT_AMF_LIMITS is frozen with the documented defaults', () => {
    assert.ok(Object.isFrozen(DEFAULT_AMF_LIMITS));
    assert.deepStrictEqual({ ...DEFAULT_AMF_LIMITS }, {
      maxDepth: 64,
      maxItems: 65536,
      maxTotalItems: 1_000_000,
      maxStringBytes: 16 * 1024 * 1024,
    });
  });

  it('index.ts exports exactly the documented runtime names', () => {
    assert.deepStrictEqual(Object.keys(amf).sort(), [
      'AMF3_INT_MAX',
      'AMF3_INT_MIN',
      'Amf0Decoder',
      'Amf0Encoder',
      'Amf0Marker',
      'Amf3Decoder',
      'Amf3Dictionary',
      'Amf3Encoder',
      'Amf3Marker',
      'Amf3Vector',
      'Amf3Xml',
      'AmfError',
      'ByteArray',
      'DEFAULT_AMF_LIMITS',
      'EcmaArray',
      'MAX_DEPTH_CEILING',
      'TypedObject',
      'XmlDocument',
      'decodeAmf0',
      'decodeAmf0Value',
      'decodeAmf3',
      'decodeAmf3Value',
      'encodeAmf0',
      'encodeAmf0Value',
      'encodeAmf3',
      'encodeAmf3Value',
    ]);
  });

  it('Amf0Marker and Amf3Marker carry the spec values', () => {
    assert.equal(amf.Amf0Marker.EcmaArray, 0x08);
    assert.equal(amf.Amf0Marker.AvmPlus, 0x11);
    assert.equal(amf.Amf3Marker.Object, 0x0a);
    assert.equal(amf.Amf3Marker.Dictionary, 0x11);
  });
});
