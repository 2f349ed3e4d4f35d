import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineRuns, median } from '../bench/src/combine.ts';
import { scenarioTable, type Report } from '../bench/src/report.ts';
import type { RunResult } from '../bench/src/scenarios.ts';

// --repeat: a cell's runs become the median of each figure, with the range of the headline ones.

function run(over: Partial<RunResult>): RunResult {
  const base = {
    server: 'firstmile', scenario: 'fanout', size: 10, connected: 10, errors: [], windowSeconds: 15,
    serverCpuCores: 0.1, serverCoreBusy: Number.NaN, serverRssBytes: 100 * 1048576, baselineRssBytes: 90 * 1048576,
    cpuUsPerMessage: 4, cpuCoresPerGbps: 0.1, deliveredGbps: 1, deliveredMessagesPerSecond: 730,
    rssPerPlayerBytes: 20 * 1024, rssPerPublisherBytes: Number.NaN, cpuPercentPerPublisher: Number.NaN,
    publishMbps: 3.2, ingestMbps: Number.NaN, playersAtRate: 1, minPlayerRate: 1, playerMbpsP50: 3.2,
    playersWithStalls: 0, stalls: 0, delayP50Ms: 1, delayP99Ms: 5, delayMaxMs: 9, delaySamples: 100, probePlayers: 10,
    allDelayP50Ms: 1, allDelayP99Ms: 5, generatorCpu: 0.2, generatorLoopP99Ms: 1, publisherMaxLateMs: 1,
    publisherSkipped: 0, serverAlive: true, parts: [], windowStartUs: 1, windowEndUs: 2,
  } satisfies RunResult;
  return { ...base, ...over };
}

test('median: the middle value, the mean of the middle two, NaN ignored', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([Number.NaN, 7]), 7);
  assert.ok(Number.isNaN(median([])));
});

test('combineRuns: every figure is the median of the runs, with the range of the headline ones', () => {
  const c = combineRuns([run({ cpuUsPerMessage: 3 }), run({ cpuUsPerMessage: 5, delayP99Ms: 9 }), run({ cpuUsPerMessage: 4, delayP99Ms: 7 })]);
  assert.equal(c.cpuUsPerMessage, 4);
  assert.equal(c.delayP99Ms, 7);
  assert.deepEqual(c.spread?.cpuUsPerMessage, [3, 5]);
  assert.deepEqual(c.spread?.delayP99Ms, [5, 9]);
  assert.equal(c.runs, 3);
});

test('combineRuns: a failed run is reported, not averaged in, and an incomplete run marks the cell', () => {
  const c = combineRuns([run({ cpuUsPerMessage: 3 }), run({ connected: 0, cpuUsPerMessage: 0, failure: 'server exited' }), run({ cpuUsPerMessage: 5, connected: 9 })]);
  assert.equal(c.cpuUsPerMessage, 4, 'the median of the two runs that ran');
  assert.equal(c.connected, 0);
  assert.match(c.failure ?? '', /^1 of 3 runs: server exited$/);
});

test('a repeated cell renders as median (lowest–highest); a single run as the figure alone', () => {
  const report = (results: RunResult[]): Report => ({ date: 'd', command: 'c', machine: 'm', media: 'x', settings: 's', servers: ['firstmile'], results, notes: [] });
  const repeated = scenarioTable(report([combineRuns([run({ cpuUsPerMessage: 3.5 }), run({ cpuUsPerMessage: 4.25 })])]), 'fanout')!;
  assert.match(repeated, /\| server CPU µs \/ delivered message \| 3\.88 \(3\.50–4\.25\) \|/);
  const single = scenarioTable(report([run({ cpuUsPerMessage: 3.5 })]), 'fanout')!;
  assert.match(single, /\| server CPU µs \/ delivered message \| 3\.50 \|/);
});
