import {
  ListWatch,
  Watch,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';

/** One LIST page as the typed client returns it. */
export interface ListPage {
  items: readonly unknown[];
  metadata?: { resourceVersion?: string | undefined; _continue?: string | undefined } | undefined;
}

export interface ProjectedInformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** Collection path, e.g. /api/v1/nodes. */
  path: string;
  labelSelector?: string | undefined;
  /** Reduces an API object to what the caller reads; undefined drops it. */
  project: (raw: unknown) => T | undefined;
  /** Fetches one LIST page (`limit` and `continue` set by the caller's typed API call). */
  listPage: (continueToken: string | undefined) => Promise<ListPage>;
  /** Most objects kept; the LIST stops there (a bound, not a feature). */
  maxItems: number;
  /** Called after each complete LIST (initial, after a 410, after a restart). */
  onListed?: ((items: number, truncated: boolean) => void) | undefined;
}

/**
 * Passes every watched object through a projection before the informer caches it. Node objects
 * carry status.images and conditions (tens of KiB each); the cache keeps a few labels instead.
 * ERROR and BOOKMARK events pass unchanged: the informer reads `code` (410) and resourceVersion.
 */
class ProjectingWatch<T extends KubernetesObject> extends Watch {
  readonly #project: (raw: unknown) => T | undefined;

  constructor(kc: KubeConfig, project: (raw: unknown) => T | undefined) {
    super(kc);
    this.#project = project;
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      queryParams,
      (phase: string, apiObj: unknown, watchObj?: unknown) => {
        if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') {
          const p = this.#project(apiObj);
          if (p) callback(phase, p, watchObj);
          return;
        }
        callback(phase, apiObj, watchObj);
      },
      done,
    );
  }
}

/**
 * client-node's informer (ListWatch: LIST, then WATCH from the list's resourceVersion; a watch
 * that ends is resumed from the last resourceVersion seen; a 410 Gone, as an HTTP status or as an
 * ERROR event, makes it LIST again and emit deletes for what vanished) over projected objects, with
 * a paginated LIST so a large cluster never arrives as one response.
 */
export function projectedInformer<T extends KubernetesObject>(o: ProjectedInformerOptions<T>): Informer<T> & ObjectCache<T> {
  const list = async (): Promise<KubernetesListObject<T>> => {
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let token: string | undefined;
    let truncated = false;
    do {
      const page = await o.listPage(token);
      // Every page of one paginated LIST is the same snapshot; its resourceVersion is the watch's start.
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      for (const raw of page.items) {
        if (items.length >= o.maxItems) {
          truncated = true;
          break;
        }
        const p = o.project(raw);
        if (p) items.push(p);
      }
      token = page.metadata?._continue || undefined;
    } while (token !== undefined && !truncated);
    o.onListed?.(items.length, truncated);
    return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion }, items };
  };
  return new ListWatch<T>(o.path, new ProjectingWatch<T>(o.kubeConfig, o.project), list, false, o.labelSelector);
}
