#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { createLogger } from '@firstmile/observability';
import { SETTINGS, configTable, loadConfig } from './config.ts';
import { run, VERSION, type Mode } from './run.ts';

const USAGE = `Usage: firstmile <command> [--flag value ...]

Commands:
  up       edge + origin + control in one process (the in-memory bus unless FIRSTMILE_NATS_URL is set)
  edge     only the edge: accepts publishing encoders
  origin   only the origin: serves players
  control  only control: the HTTP API (stream keys, live streams, ingest routing, webhooks)
  config   print the configuration table (Markdown)

Every flag has a FIRSTMILE_* environment variable; flags win. See docs/configuration.md.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'config') {
    process.stdout.write(`${configTable()}\n`);
    return 0;
  }
  if (command !== 'up' && command !== 'edge' && command !== 'origin' && command !== 'control') {
    process.stderr.write(`firstmile: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  let config;
  try {
    const { values } = parseArgs({
      args: rest,
      options: Object.fromEntries(SETTINGS.map((x) => [x.flag, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    });
    config = loadConfig(process.env, values as Record<string, string>);
  } catch (error) {
    process.stderr.write(`firstmile: ${(error as Error).message}\n`);
    return 2;
  }
  const logger = createLogger({ level: config.logLevel, base: { edge: config.edgeId } });
  // The OpenTelemetry SDK is loaded only when the standard OTEL_* variables ask for traces: without
  // them the API's no-op tracer costs nothing.
  let tracing: { shutdown(): Promise<void> } | undefined;
  if (Object.keys(process.env).some((k) => k.startsWith('OTEL_'))) {
    const sdk = await import('@firstmile/observability/tracing-sdk');
    try {
      tracing = sdk.startTracing(process.env, { serviceName: `firstmile-${command}`, version: VERSION, logger });
    } catch (error) {
      process.stderr.write(`firstmile: ${(error as Error).message}\n`);
      return 2;
    }
    if (tracing) logger.info({}, 'OpenTelemetry tracing on (OTLP exporter)');
  }
  const running = await run(command as Mode, config, logger);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'signal received');
      void running
        .stop()
        .then(() => tracing?.shutdown())
        .catch(() => {})
        .then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`firstmile: fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
