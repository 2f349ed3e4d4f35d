// Long fuzz campaign over the decoders a peer can reach: the RTMP chunk stream and AMF0/AMF3.
// Not part of the test suite (the suites run short property checks); prints figures and exits 1
// if anything crashed.
//   node scripts/fuzz.ts [--seconds N] [--seed S]      (pnpm run fuzz -- --seconds 600)
import { parseArgs } from 'node:util';
import { fuzzAmf } from '../libs/amf/test/fuzz-amf.ts';
import { fuzzChunk } from '../libs/rtmp/test/fuzz-chunk.ts';

interface Crash {
  input: string;
  error: string;
}
type Target = (iterations: number, seed: number) => { executions: number; crashes: Crash[] };

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '60' }, seed: { type: 'string', default: String(Date.now() % 1_000_000) } },
});
const seconds = Number(values.seconds);
const seed0 = Number(values.seed);
const targets: Array<[string, Target]> = [
  ['chunk', fuzzChunk],
  ['amf', fuzzAmf],
];

let failed = false;
for (const [name, run] of targets) {
  const deadline = Date.now() + (seconds * 1000) / targets.length;
  const started = Date.now();
  let executions = 0;
  const crashes: Crash[] = [];
  for (let round = 0; Date.now() < deadline; round++) {
    const r = run(5000, seed0 + round);
    executions += r.executions;
    crashes.push(...r.crashes);
  }
  const secs = (Date.now() - started) / 1000;
  console.log(`${name}: ${executions} executions in ${secs.toFixed(1)} s (${Math.round(executions / secs)}/s), ${crashes.length} crashes, seed ${seed0}`);
  for (const c of crashes.slice(0, 10)) console.log(`  crash: ${c.error}\n    input: ${c.input}`);
  if (crashes.length > 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
