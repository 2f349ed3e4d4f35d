import { Socket } from 'node:net';

/**
 * Reads of accepted TCP sockets into one reused buffer.
 *
 * By default Node allocates a 64 KiB buffer for every read, shrinks it to what arrived and wraps
 * it in a new ArrayBuffer. At a few hundred publishers that is tens of MB per second of
 * short-lived external memory: V8 runs a full mark-compact for every 64 MB of it, and glibc keeps
 * the shrunk blocks fragmented. Node's `onread` option (a documented option of `new net.Socket`)
 * reads into a caller's buffer instead and calls back synchronously, so one buffer can serve every
 * socket of the process: a callback consumes the bytes before the next read of any socket starts.
 *
 * Node offers `onread` only to sockets it creates itself, not to those a net.Server accepts. The
 * accepted socket carries the same (null) fields, so this sets them the way `new net.Socket({
 * onread })` does and switches its handle to the buffer, before any read has happened. Those
 * fields are internal: this is checked once per process, and when they are missing (another Node
 * version) sockets keep their 'data' events.
 */
export interface ReadIntoBuffer {
  /** Whether this Node supports it; when false, attach() always returns false. */
  readonly supported: boolean;
  /**
   * Makes the socket read into `buffer` and call `onRead` with a view of what arrived (valid only
   * until it returns). Must be called before the socket's first read completes (in the server's
   * 'connection' listener). Returns false when it could not; the socket then emits 'data'.
   */
  attach(socket: Socket, buffer: Buffer, onRead: (data: Buffer) => void): boolean;
}

/** One buffer shared by a server's plain TCP sockets, and the way to attach them to it. */
export interface SharedReadBuffer {
  readonly reader: ReadIntoBuffer;
  readonly buffer: Buffer;
}

interface OnReadSymbols {
  buffer: symbol;
  callback: symbol;
}

function findSymbols(): OnReadSymbols | undefined {
  const probe = new Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } });
  const byName = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
  const buffer = byName.get('kBuffer');
  const callback = byName.get('kBufferCb');
  const fields = probe as unknown as Record<symbol, unknown>;
  if (buffer === undefined || callback === undefined) return undefined;
  if (!Buffer.isBuffer(fields[buffer]) || typeof fields[callback] !== 'function') return undefined;
  return { buffer, callback };
}

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

function handleOf(socket: Socket): UserBufferHandle | undefined {
  const handle = (socket as unknown as { _handle?: unknown })._handle;
  if (handle === null || typeof handle !== 'object') return undefined;
  return typeof (handle as Partial<UserBufferHandle>).useUserBuffer === 'function' ? (handle as UserBufferHandle) : undefined;
}

export function createReadIntoBuffer(): ReadIntoBuffer {
  const symbols = findSymbols();
  return {
    supported: symbols !== undefined,
    attach(socket, buffer, onRead) {
      if (symbols === undefined) return false;
      const handle = handleOf(socket);
      const fields = socket as unknown as Record<symbol, unknown>;
      // Only a socket that has not been given a buffer yet (the fields exist, set to null).
      if (handle === undefined || fields[symbols.buffer] !== null) return false;
      fields[symbols.buffer] = buffer;
      fields[symbols.callback] = (nread: number, b: Buffer): boolean => {
        onRead(b.subarray(0, nread));
        // Pausing goes through socket.pause(), which Node honours for onread sockets too.
        return true;
      };
      handle.useUserBuffer(buffer);
      return true;
    },
  };
}
