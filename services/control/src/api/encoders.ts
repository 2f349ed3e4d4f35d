import { hashStreamKey } from '@firstmile/auth';
import type { FastifyRequest } from 'fastify';
import type { IngestEndpoint } from '../routing/types.ts';
import type { ApiContext, ApiRoute } from './context.ts';
import { ControlApiError } from './errors.ts';
import { isExpired } from './sweeper.ts';
import { ingestUrls, serverUrl } from './urls.ts';

export interface LadderRung {
  height: number;
  fps: number;
  maxBitrateKbps: number;
}

/**
 * The top of a typical live ladder for H.264 at CBR (the rungs Twitch and YouTube recommend for
 * these resolutions); an encoder picks the highest rung its source and uplink sustain.
 */
export const LADDER: readonly Readonly<LadderRung>[] = Object.freeze([
  { height: 1080, fps: 60, maxBitrateKbps: 6000 },
  { height: 1080, fps: 30, maxBitrateKbps: 4500 },
  { height: 720, fps: 60, maxBitrateKbps: 4500 },
  { height: 720, fps: 30, maxBitrateKbps: 3000 },
  { height: 480, fps: 30, maxBitrateKbps: 1500 },
]);

/** Codecs an edge takes (H.264 classic RTMP; HEVC and AV1 over Enhanced RTMP), preferred first. */
const CODECS = ['h264', 'hevc', 'av1'] as const;
const CODEC_ALIASES: Readonly<Record<string, (typeof CODECS)[number]>> = {
  h264: 'h264',
  avc: 'h264',
  avc1: 'h264',
  hevc: 'hevc',
  h265: 'hevc',
  hvc1: 'hevc',
  av1: 'av1',
  av01: 'av1',
};

export interface EncoderSettings {
  /** 2 s: players join at keyframes, and segmenters downstream cut at them. */
  keyframeIntervalSeconds: 2;
  /** Constant bitrate: an ingest path budgets for the peak, and VBR spikes become loss. */
  rateControl: 'CBR';
  videoCodec: (typeof CODECS)[number];
  /** No B-frames: lower latency, and some downstream players still mishandle composition offsets. */
  bframes: 0;
  audio: { codec: 'aac'; bitrateKbps: 128; sampleRate: 48000 };
  ladder: LadderRung[];
}

interface EncoderConfigBody {
  streamKey: string;
  region?: string;
  app?: string;
  capabilities?: { maxBitrateKbps?: number; codecs?: string[] };
}

interface IngestChoice {
  id: string;
  region: string | null;
  url: string;
  secureUrl: string | null;
}

/** The encoder settings for the given capabilities; undefined when none of the codecs is one an edge takes. */
export function encoderSettings(capabilities: EncoderConfigBody['capabilities'] = {}): EncoderSettings | undefined {
  let videoCodec: (typeof CODECS)[number] | undefined = 'h264';
  if (capabilities.codecs !== undefined) {
    const offered = new Set(capabilities.codecs.map((c) => CODEC_ALIASES[c.toLowerCase()]));
    videoCodec = CODECS.find((c) => offered.has(c));
  }
  if (!videoCodec) return undefined;
  const cap = capabilities.maxBitrateKbps;
  let ladder = LADDER.filter((r) => cap === undefined || r.maxBitrateKbps <= cap).map((r) => ({ ...r }));
  // Below the lowest rung: that rung at whatever the encoder can do, rather than no advice.
  if (ladder.length === 0) ladder = [{ ...LADDER.at(-1)!, maxBitrateKbps: cap! }];
  return {
    keyframeIntervalSeconds: 2,
    rateControl: 'CBR',
    videoCodec,
    bframes: 0,
    audio: { codec: 'aac', bitrateKbps: 128, sampleRate: 48000 },
    ladder,
  };
}

export function encoderRoutes(ctx: ApiContext): ApiRoute[] {
  const { deps } = ctx;

  /** Ranked ingests from routing; the configured public URL when routing has none or fails. */
  const ingests = async (request: FastifyRequest, region: string | undefined, app: string): Promise<IngestEndpoint[]> => {
    try {
      const found = await deps.ingestRouter.ingests({ ip: request.ip, region }, app);
      if (found.length > 0) return found;
    } catch (error) {
      ctx.log(request).warn({ err: (error as Error).message }, 'ingest routing failed; answering with the configured public URL');
    }
    const urls = ingestUrls(deps.publicUrls, app);
    return [{ id: 'default', region: undefined, urlTemplate: urls.rtmp, urlTemplateSecure: urls.rtmps, load: 0, edges: 0 }];
  };

  return [
    {
      method: 'get',
      path: '/v1/ingests',
      auth: 'public',
      async handler(request) {
        const query = request.query as { region?: string; app?: string };
        const found = await ingests(request, query.region, query.app ?? deps.defaultApp);
        return {
          data: found.map((e) => ({
            id: e.id,
            region: e.region ?? null,
            urlTemplate: e.urlTemplate,
            urlTemplateSecure: e.urlTemplateSecure ?? null,
            load: e.load,
            edges: e.edges,
            ...(e.distanceKm !== undefined ? { distanceKm: e.distanceKm } : {}),
          })),
        };
      },
    },
    {
      method: 'post',
      path: '/v1/encoder-config',
      auth: 'public',
      async handler(request) {
        const body = request.body as EncoderConfigBody;
        if (deps.isLockedOut?.(request.ip)) {
          throw new ControlApiError(429, 'TOO_MANY_REQUESTS', 'too many failed attempts from this address; try again later');
        }
        const hash = hashStreamKey(deps.keyHashSecret, body.streamKey);
        const record = await deps.store.findByKeyHash(hash);
        const entry = record?.keys.find((k) => k.hash === hash);
        if (!record || !entry || record.revokedAt !== undefined || isExpired(entry, ctx.now())) {
          // One answer for unknown, expired and revoked keys: the endpoint must not be an oracle.
          deps.onAuthFailure?.(request.ip);
          ctx.log(request).info({ ip: request.ip }, 'encoder-config refused: bad stream key');
          throw new ControlApiError(401, 'UNAUTHORIZED', 'unknown, expired or revoked stream key');
        }
        const encoder = encoderSettings(body.capabilities);
        if (!encoder) {
          throw new ControlApiError(400, 'BAD_REQUEST', 'none of the codecs is one the ingest takes (h264, hevc, av1)', {
            details: [{ field: 'body/capabilities/codecs', message: 'must include h264, hevc or av1' }],
          });
        }
        const choices: IngestChoice[] = (await ingests(request, body.region, body.app ?? deps.defaultApp)).map((e) => ({
          id: e.id,
          region: e.region ?? null,
          url: serverUrl(e.urlTemplate),
          secureUrl: e.urlTemplateSecure !== undefined ? serverUrl(e.urlTemplateSecure) : null,
        }));
        ctx.log(request).info({ stream: record.id, ingest: choices[0]!.id }, 'encoder-config answered');
        return { ingest: choices[0]!, alternatives: choices.slice(1), encoder };
      },
    },
  ];
}
