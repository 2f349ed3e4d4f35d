import { BusError, controlSubject, encodeJson, streamIdForName, type Bus, type LiveStreamRecord, type StreamIndex } from '@firstmile/bus';

export interface KickedSession {
  app: string;
  /** The edge that held the session: its own answer, else the index record's. */
  edge: string;
  /** The edge confirmed it ended the session. */
  ok: boolean;
  error?: string;
}

/**
 * The index records of live sessions playing as `name`. The index keys streams by a hash of app and
 * play name, and a stream id may be published under any app, so the hash is computed per app
 * present. `matchBusId` also accepts the bus stream id itself (what `GET /v1/live` shows when no
 * play name is known).
 */
export async function findLiveSessions(index: StreamIndex, name: string, matchBusId = false): Promise<LiveStreamRecord[]> {
  const records = await index.list();
  const ids = new Map<string, string>();
  const idFor = (app: string) => {
    let id = ids.get(app);
    if (id === undefined) ids.set(app, (id = streamIdForName(app, name)));
    return id;
  };
  return records.filter((r) => r.stream === name || r.streamId === idFor(r.app) || (matchBusId && r.streamId === name));
}

/**
 * Asks the owning edge of each session to end it (`{op:'kick', reason}` on fm.ctl). Requests run
 * in parallel and each waits at most `timeoutMs`, so the whole call returns within about that.
 */
export async function kickSessions(
  bus: Bus,
  sessions: readonly LiveStreamRecord[],
  reason: 'kicked' | 'revoked',
  timeoutMs: number,
): Promise<KickedSession[]> {
  return Promise.all(
    sessions.map(async (r): Promise<KickedSession> => {
      try {
        const reply = await bus.request(controlSubject(r.app, r.streamId), encodeJson({ op: 'kick', reason }), { timeoutMs });
        const answer = parseReply(reply.data);
        return answer?.ok === true
          ? { app: r.app, edge: answer.edge ?? r.edge, ok: true }
          : { app: r.app, edge: answer?.edge ?? r.edge, ok: false, error: 'the edge did not confirm' };
      } catch (error) {
        const code = error instanceof BusError ? error.code : undefined;
        const why =
          code === 'BUS_ERR_NO_RESPONDERS'
            ? 'no edge holds the session any more (its index record expires on its own)'
            : code === 'BUS_ERR_TIMEOUT'
              ? `no answer from the edge within ${timeoutMs} ms`
              : `request failed: ${(error as Error).message}`;
        return { app: r.app, edge: r.edge, ok: false, error: why };
      }
    }),
  );
}

function parseReply(data: Uint8Array): { ok?: unknown; edge?: string } | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(data).toString('utf8'));
    if (typeof v !== 'object' || v === null) return undefined;
    const edge = (v as { edge?: unknown }).edge;
    return { ok: (v as { ok?: unknown }).ok, ...(typeof edge === 'string' && edge.length <= 256 ? { edge } : {}) };
  } catch {
    return undefined;
  }
}
