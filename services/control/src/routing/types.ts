/** One ingest endpoint as `GET /v1/ingests` returns it (best first). */
export interface IngestEndpoint {
  /** Stable id: the region's ingest hostname in Kubernetes, the edge id outside it. */
  id: string;
  region: string | undefined;
  /** URL templates, `{stream_key}` standing for the key: rtmp://host/app/{stream_key}. */
  urlTemplate: string;
  urlTemplateSecure: string | undefined;
  /**
   * 0..1: per edge the busier of connections/maxConnections and CPU/threshold; over the usable
   * edges behind the endpoint, their mean weighted by maxConnections.
   */
  load: number;
  /** Ready, not draining, not full edges behind this endpoint. */
  edges: number;
  /** Distance rank input, km from the caller when known. */
  distanceKm?: number | undefined;
}

export interface Caller {
  ip?: string | undefined;
  /** Explicit `?region=` hint: wins over the IP's location. */
  region?: string | undefined;
}

/** What the HTTP API needs from routing; the implementation ranks by distance, then spare capacity. */
export interface IngestRouter {
  ingests(caller: Caller, app: string): Promise<IngestEndpoint[]>;
}
