/**
 * How Node runs firstmile in production: `scripts/up.sh`, the Dockerfile's ENTRYPOINT and ENV, and
 * the bench start it this way, and test/chart/image.test.ts checks that they agree with this file.
 *
 * `--max-semi-space-size=2` (MiB): V8 grows its young generation with the allocation rate, up to
 * 64 MiB per semi-space on a large machine. Fan-out allocates a little per write (write requests,
 * callbacks), so at 1000 players the young generation alone grew by about 35 MiB, which the bench
 * counted as 35 KiB per player. Almost nothing survives a scavenge on this path, so a small young
 * generation costs more frequent but cheap scavenges (no change in CPU per message in the bench)
 * and keeps RSS proportional to what is really held.
 *
 * `MALLOC_ARENA_MAX=2`: glibc gives each thread (libuv's pool, V8's GC workers) its own arena,
 * and fragmentation in each multiplies RSS.
 */
export const NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=2']);

export const NODE_ENV: Readonly<Record<string, string>> = Object.freeze({ MALLOC_ARENA_MAX: '2' });
