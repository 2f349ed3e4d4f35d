import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The long campaign runs outside CI; this keeps the script itself from rotting.
test('scripts/fuzz.ts runs a short campaign and reports executions and zero crashes per target', () => {
  const script = fileURLToPath(new URL('../scripts/fuzz.ts', import.meta.url));
  const r = spawnSync(process.execPath, [script, '--seconds', '2', '--seed', '7'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  for (const target of ['chunk', 'amf']) {
    const m = new RegExp(`^${target}: (\\d+) executions .* (\\d+) crashes`, 'm').exec(r.stdout);
    assert.ok(m, `no ${target} line in:\n${r.stdout}`);
    assert.ok(Number(m[1]) > 0);
    assert.equal(Number(m[2]), 0);
  }
});
