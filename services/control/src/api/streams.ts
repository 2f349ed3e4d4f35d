import {
  KeyStoreError,
  MAX_KEYS_PER_STREAM,
  generateStreamId,
  generateStreamKey,
  hashStreamKey,
  keyLogId,
  publishKeysChanged,
  signPlaybackToken,
  type StreamKeyEntry,
  type StreamRecord,
} from '@firstmile/auth';
import { streamIdForName, type LiveStreamRecord } from '@firstmile/bus';
import type { FastifyRequest } from 'fastify';
import type { ApiContext, ApiRoute } from './context.ts';
import { ControlApiError, streamNotFound } from './errors.ts';
import { findLiveSessions, kickSessions, type KickedSession } from './kick.ts';
import { isExpired } from './sweeper.ts';
import { ingestUrls, playbackUrls, type IngestUrls, type PlaybackUrls } from './urls.ts';

/** A stream as the API shows it: never a key, never a key's hash. */
export interface StreamResource {
  id: string;
  name?: string;
  playbackPolicy: 'public' | 'signed';
  status: 'idle' | 'live' | 'revoked';
  createdAt: string;
  updatedAt: string;
  revokedAt?: string;
  ingest: IngestUrls;
  playback: PlaybackUrls;
  metadata: Record<string, string>;
}

interface StreamBody {
  name?: string;
  playbackPolicy?: 'public' | 'signed';
  metadata?: Record<string, string>;
}

const DEFAULT_PAGE = 20;
const DEFAULT_PLAYBACK_TOKEN_TTL_S = 3600;
const CAS_ATTEMPTS = 5;

export function streamRoutes(ctx: ApiContext): ApiRoute[] {
  const { deps } = ctx;

  const resource = (r: StreamRecord, live: boolean): StreamResource => ({
    id: r.id,
    ...(r.name !== undefined ? { name: r.name } : {}),
    playbackPolicy: r.playback,
    status: r.revokedAt !== undefined ? 'revoked' : live ? 'live' : 'idle',
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    ...(r.revokedAt !== undefined ? { revokedAt: r.revokedAt } : {}),
    ingest: ingestUrls(deps.publicUrls, deps.defaultApp),
    playback: playbackUrls(deps.publicUrls, deps.defaultApp, r.id),
    metadata: { ...r.metadata },
  });

  /** Which of `ids` are live. The index being unreachable makes them `idle`, not the request fail. */
  const liveSet = async (request: FastifyRequest, ids: readonly string[]): Promise<Set<string>> => {
    let records: LiveStreamRecord[];
    try {
      records = await deps.index.list();
    } catch (error) {
      ctx.log(request).warn({ err: (error as Error).message }, 'live-stream index unavailable; streams shown as idle');
      return new Set();
    }
    const byName = new Set<string>();
    const byKey = new Set<string>();
    const apps = new Set<string>();
    for (const r of records) {
      if (r.stream !== undefined) byName.add(r.stream);
      byKey.add(`${r.app}\u0000${r.streamId}`);
      apps.add(r.app);
    }
    const out = new Set<string>();
    for (const id of ids) {
      if (byName.has(id) || [...apps].some((app) => byKey.has(`${app}\u0000${streamIdForName(app, id)}`))) out.add(id);
    }
    return out;
  };

  const newKey = (now: number): { key: string; entry: StreamKeyEntry } => {
    const key = generateStreamKey();
    return { key, entry: { hash: hashStreamKey(deps.keyHashSecret, key), createdAt: new Date(now).toISOString() } };
  };

  /** Read, change, compare-and-set; a lost race re-reads and re-applies the change. */
  const mutate = async (id: string, change: (record: StreamRecord, now: number) => StreamRecord): Promise<StreamRecord> => {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const current = await deps.store.get(id);
      if (!current) throw streamNotFound(id);
      const now = ctx.now();
      const next = change(structuredClone(current.record), now);
      next.keys = next.keys.filter((k) => !isExpired(k, now));
      next.updatedAt = new Date(now).toISOString();
      try {
        await deps.store.update(next, current.revision);
        return next;
      } catch (error) {
        if (error instanceof KeyStoreError && error.code === 'KEYSTORE_ERR_CONFLICT') continue;
        if (error instanceof KeyStoreError && error.code === 'KEYSTORE_ERR_NOT_FOUND') throw streamNotFound(id);
        throw error;
      }
    }
    throw new ControlApiError(409, 'CONFLICT', `stream ${id} is being changed concurrently; try again`);
  };

  /** Tells edges to drop cached decisions about the stream's keys (at most once: the 1 s cache TTL is the fallback). */
  const keysChanged = (request: FastifyRequest, id: string) => {
    try {
      publishKeysChanged(deps.bus, id, new Date(ctx.now()));
    } catch (error) {
      ctx.log(request).warn({ stream: id, err: (error as Error).message }, 'could not announce a key change; edge caches expire on their own');
    }
  };

  /**
   * Ends the stream's live sessions. Called after the keys are already refused, so a failure here
   * leaves a consistent state and the caller's retry (revoke and delete are idempotent) finishes it.
   */
  const kickAll = async (request: FastifyRequest, id: string, reason: 'kicked' | 'revoked'): Promise<KickedSession[]> => {
    let sessions: LiveStreamRecord[];
    try {
      sessions = await findLiveSessions(deps.index, id);
    } catch (error) {
      ctx.log(request).error({ stream: id, err: (error as Error).message }, 'live-stream index unreachable; live sessions not ended');
      throw new ControlApiError(503, 'UNAVAILABLE', `the keys of stream ${id} are refused, but the live-stream index is unreachable, so a live session could not be ended; retry the request`, { cause: error });
    }
    if (sessions.length === 0) return [];
    const kicked = await kickSessions(deps.bus, sessions, reason, ctx.kickTimeoutMs);
    const log = ctx.log(request).child({ stream: id });
    for (const k of kicked) {
      if (k.ok) log.info({ app: k.app, edge: k.edge, reason }, 'live session ended');
      else log.warn({ app: k.app, edge: k.edge, reason, err: k.error }, 'live session not confirmed ended');
    }
    return kicked;
  };

  const param = (request: FastifyRequest) => (request.params as { id: string }).id;

  return [
    {
      method: 'post',
      path: '/v1/streams',
      auth: 'admin',
      async handler(request, reply) {
        const body = (request.body ?? {}) as StreamBody;
        const now = ctx.now();
        const at = new Date(now).toISOString();
        // A fresh id and key collide with an existing one with negligible probability; retry anyway.
        for (let attempt = 0; ; attempt++) {
          const { key, entry } = newKey(now);
          const record: StreamRecord = {
            id: generateStreamId(),
            ...(body.name !== undefined ? { name: body.name } : {}),
            playback: body.playbackPolicy ?? 'public',
            createdAt: at,
            updatedAt: at,
            keys: [entry],
            metadata: { ...body.metadata },
          };
          try {
            await deps.store.create(record);
          } catch (error) {
            if (attempt < 2 && error instanceof KeyStoreError && error.code === 'KEYSTORE_ERR_EXISTS') continue;
            throw error;
          }
          ctx.log(request).info({ stream: record.id, keyId: keyLogId(key) }, 'stream created');
          reply.code(201).header('location', `/v1/streams/${record.id}`);
          return { ...resource(record, false), ingest: ingestUrls(deps.publicUrls, deps.defaultApp, key), streamKey: key };
        }
      },
    },
    {
      method: 'get',
      path: '/v1/streams',
      auth: 'admin',
      async handler(request) {
        const query = request.query as { limit?: number; cursor?: string };
        const limit = query.limit ?? DEFAULT_PAGE;
        const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
        // Newest first; the cursor is the last (createdAt, id) shown, so pages stay stable while
        // streams are created (they sort before the cursor) or deleted.
        const records = (await deps.store.list()).sort(newestFirst);
        const start = after ? records.findIndex((r) => newestFirst(r, { createdAt: after.createdAt, id: after.id }) > 0) : 0;
        const page = start < 0 ? [] : records.slice(start, start + limit);
        const more = start >= 0 && start + limit < records.length;
        const live = await liveSet(request, page.map((r) => r.id));
        const last = page.at(-1);
        return {
          data: page.map((r) => resource(r, live.has(r.id))),
          nextCursor: more && last ? encodeCursor(last) : null,
        };
      },
    },
    {
      method: 'get',
      path: '/v1/streams/{id}',
      auth: 'admin',
      async handler(request) {
        const id = param(request);
        const found = await deps.store.get(id);
        if (!found) throw streamNotFound(id);
        const live = await liveSet(request, [id]);
        return resource(found.record, live.has(id));
      },
    },
    {
      method: 'patch',
      path: '/v1/streams/{id}',
      auth: 'admin',
      async handler(request) {
        const id = param(request);
        const body = request.body as StreamBody;
        let policyChanged = false;
        const record = await mutate(id, (r) => {
          if (body.name !== undefined) r.name = body.name;
          if (body.metadata !== undefined) r.metadata = { ...body.metadata };
          if (body.playbackPolicy !== undefined) {
            policyChanged = r.playback !== body.playbackPolicy;
            r.playback = body.playbackPolicy;
          }
          return r;
        });
        // Origins cache play decisions like edges cache publish ones.
        if (policyChanged) keysChanged(request, id);
        ctx.log(request).info({ stream: id, fields: Object.keys(body) }, 'stream updated');
        const live = await liveSet(request, [id]);
        return resource(record, live.has(id));
      },
    },
    {
      method: 'delete',
      path: '/v1/streams/{id}',
      auth: 'admin',
      async handler(request, reply) {
        const id = param(request);
        // Revoked first, then kicked, then deleted: an encoder that reconnects after the kick is
        // already refused, and if the kick cannot run the record is still there for a retry.
        await mutate(id, (r, now) => {
          r.revokedAt ??= new Date(now).toISOString();
          return r;
        });
        keysChanged(request, id);
        await kickAll(request, id, 'revoked');
        try {
          await deps.store.delete(id);
        } catch (error) {
          if (error instanceof KeyStoreError && error.code === 'KEYSTORE_ERR_NOT_FOUND') throw streamNotFound(id);
          throw error;
        }
        ctx.log(request).info({ stream: id }, 'stream deleted');
        return reply.code(204).send();
      },
    },
    {
      method: 'post',
      path: '/v1/streams/{id}/rotate-key',
      auth: 'admin',
      async handler(request) {
        const id = param(request);
        const body = (request.body ?? {}) as { overlapSeconds?: number };
        const overlapMs = body.overlapSeconds !== undefined ? body.overlapSeconds * 1000 : ctx.rotationOverlapMs;
        let key = '';
        let previousKeyExpiresAt: string | null = null;
        const record = await mutate(id, (r, now) => {
          if (r.revokedAt !== undefined) throw new ControlApiError(409, 'STREAM_REVOKED', `stream ${id} is revoked; create a new stream`);
          const fresh = newKey(now);
          key = fresh.key;
          const until = now + overlapMs;
          previousKeyExpiresAt = overlapMs > 0 ? new Date(until).toISOString() : null;
          // Previous keys end at the overlap, or earlier if an earlier rotation already set it.
          const previous = overlapMs === 0
            ? []
            : r.keys.map((k) => ({ ...k, expiresAt: k.expiresAt !== undefined && Date.parse(k.expiresAt) < until ? k.expiresAt : new Date(until).toISOString() }));
          // A burst of rotations inside one overlap would grow the list without bound: the store
          // holds MAX_KEYS_PER_STREAM, so the previous keys that expire first go first.
          previous.sort((a, b) => Date.parse(b.expiresAt) - Date.parse(a.expiresAt));
          r.keys = [...previous.slice(0, MAX_KEYS_PER_STREAM - 1), fresh.entry];
          return r;
        });
        keysChanged(request, id);
        deps.webhooks.emit('stream.key_rotated', { stream: id, at: record.updatedAt, previousKeyExpiresAt });
        ctx.log(request).info({ stream: id, keyId: keyLogId(key), overlapMs }, 'stream key rotated');
        const live = await liveSet(request, [id]);
        return { ...resource(record, live.has(id)), ingest: ingestUrls(deps.publicUrls, deps.defaultApp, key), streamKey: key, previousKeyExpiresAt };
      },
    },
    {
      method: 'post',
      path: '/v1/streams/{id}/revoke',
      auth: 'admin',
      async handler(request) {
        const id = param(request);
        const record = await mutate(id, (r, now) => {
          // Hashes stay so edges can tell a revoked key (AUTH_REVOKED) from an unknown one.
          r.revokedAt ??= new Date(now).toISOString();
          return r;
        });
        keysChanged(request, id);
        const kicked = await kickAll(request, id, 'revoked');
        ctx.log(request).info({ stream: id, sessionsEnded: kicked.filter((k) => k.ok).length }, 'stream revoked');
        return { stream: resource(record, false), kicked };
      },
    },
    {
      method: 'post',
      path: '/v1/streams/{id}/playback-token',
      auth: 'admin',
      async handler(request) {
        const id = param(request);
        const body = (request.body ?? {}) as { ttlSeconds?: number };
        const found = await deps.store.get(id);
        if (!found) throw streamNotFound(id);
        if (found.record.revokedAt !== undefined) throw new ControlApiError(409, 'STREAM_REVOKED', `stream ${id} is revoked`);
        if (found.record.playback !== 'signed') {
          throw new ControlApiError(409, 'CONFLICT', `stream ${id} has playback policy "public": players need no token`);
        }
        if (deps.playbackSecret === undefined) {
          throw new ControlApiError(503, 'PLAYBACK_SIGNING_DISABLED', 'no playback secret is configured on this server');
        }
        // Tokens carry whole seconds; the answer states the expiry the token really has.
        const expiresAt = Math.floor((ctx.now() + (body.ttlSeconds ?? DEFAULT_PLAYBACK_TOKEN_TTL_S) * 1000) / 1000) * 1000;
        const token = signPlaybackToken({ secret: deps.playbackSecret, streamId: id, expiresAt });
        return { token, expiresAt: new Date(expiresAt).toISOString(), playback: playbackUrls(deps.publicUrls, deps.defaultApp, id, token) };
      },
    },
  ];
}

function newestFirst(a: { createdAt: string; id: string }, b: { createdAt: string; id: string }): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function encodeCursor(r: { createdAt: string; id: string }): string {
  return Buffer.from(JSON.stringify([r.createdAt, r.id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') return { createdAt: v[0], id: v[1] };
  } catch {
    // Reported below.
  }
  throw new ControlApiError(400, 'BAD_REQUEST', 'cursor is not one this API returned', {
    details: [{ field: 'querystring/cursor', message: 'is not a cursor from nextCursor' }],
  });
}
