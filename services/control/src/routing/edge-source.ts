/** One edge as the platform sees it (Kubernetes endpoints, or heartbeats outside Kubernetes). */
export interface EdgeInfo {
  /**
   * The pod name in Kubernetes (the endpoint's targetRef.name), which the chart also sets as the
   * edge's FIRSTMILE_EDGE_ID; the edge id outside Kubernetes. Heartbeats join on it.
   */
  id: string;
  /** Admitted by the platform to take new connections (EndpointSlice `conditions.ready`). */
  ready: boolean;
  /** Shutting down (EndpointSlice `conditions.terminating`, or the heartbeat's flag). */
  draining: boolean;
  region?: string | undefined;
  zone?: string | undefined;
  node?: string | undefined;
  address?: string | undefined;
}

/** A current view of the edges plus change notifications; Kubernetes is kept behind it. */
export interface EdgeSource {
  /** A snapshot; the array is not mutated afterwards. */
  edges(): readonly EdgeInfo[];
  /** Called after the view changed; returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
  /** Resolves once the first complete view is in (or at once for sources that start empty). */
  start(): Promise<void>;
  stop(): Promise<void>;
}
