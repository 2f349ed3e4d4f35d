import { streamIdForName, type LiveStreamRecord, type StreamHealthState } from '@firstmile/bus';
import type { ApiContext, ApiRoute } from './context.ts';
import { ControlApiError } from './errors.ts';
import { findLiveSessions, kickSessions } from './kick.ts';
import type { Viewers } from './cluster-view.ts';

export interface LiveStream {
  /** The play name; null when neither the index, an edge heartbeat nor a stream record names it. */
  id: string | null;
  app: string;
  streamId: string;
  edge: string;
  startedAt: string;
  video: string | null;
  audio: string | null;
  ingestBps: number | null;
  health: StreamHealthState | null;
  viewers: Viewers;
}

export function liveRoutes(ctx: ApiContext): ApiRoute[] {
  const { deps } = ctx;

  const listIndex = async (): Promise<LiveStreamRecord[]> => {
    try {
      return await deps.index.list();
    } catch (error) {
      throw new ControlApiError(503, 'UNAVAILABLE', 'the live-stream index is unreachable', { cause: error });
    }
  };

  /**
   * Play names of records that carry none (older edges) and have no heartbeat yet: the stream
   * records whose id hashes to the record's stream id. Costs one hash per stream and app, so it
   * runs only when needed.
   */
  const namesFromStore = async (records: readonly LiveStreamRecord[]): Promise<Map<string, string>> => {
    const names = new Map<string, string>();
    if (records.length === 0) return names;
    const apps = new Set(records.map((r) => r.app));
    for (const s of await deps.store.list()) {
      for (const app of apps) names.set(`${app}\u0000${streamIdForName(app, s.id)}`, s.id);
    }
    return names;
  };

  return [
    {
      method: 'get',
      path: '/v1/live',
      auth: 'admin',
      async handler() {
        const records = await listIndex();
        const view = deps.clusterView;
        const unnamed = records.filter((r) => r.stream === undefined && view.edgeStream(r.edge, r.app, r.streamId) === undefined);
        const names = await namesFromStore(unnamed);
        const data: LiveStream[] = records.map((r) => {
          const hb = view.edgeStream(r.edge, r.app, r.streamId);
          return {
            id: r.stream ?? hb?.stream ?? names.get(`${r.app}\u0000${r.streamId}`) ?? null,
            app: r.app,
            streamId: r.streamId,
            edge: r.edge,
            startedAt: r.since,
            video: r.video ?? hb?.video ?? null,
            audio: r.audio ?? hb?.audio ?? null,
            ingestBps: hb?.ingestBps ?? null,
            health: hb?.health ?? null,
            viewers: view.viewers(r.app, r.streamId),
          };
        });
        data.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0));
        return { data };
      },
    },
    {
      method: 'delete',
      path: '/v1/live/{id}',
      auth: 'admin',
      async handler(request) {
        const id = (request.params as { id: string }).id;
        let sessions: LiveStreamRecord[];
        try {
          sessions = await findLiveSessions(deps.index, id, true);
        } catch (error) {
          throw new ControlApiError(503, 'UNAVAILABLE', 'the live-stream index is unreachable', { cause: error });
        }
        if (sessions.length === 0) throw new ControlApiError(404, 'LIVE_STREAM_NOT_FOUND', 'no live session plays under that name');
        const kicked = await kickSessions(deps.bus, sessions, 'kicked', ctx.kickTimeoutMs);
        ctx.log(request).info({ sessions: kicked.map((k) => ({ app: k.app, edge: k.edge, ok: k.ok })) }, 'live stream kicked');
        return { kicked };
      },
    },
  ];
}
