/**
 * Types of djws.js, the reconnecting WebSocket client of djws.
 *
 * djws.js is a script (a global `djws`) and a CommonJS module; documented in
 * docs/reference/javascript.rst. Keep the two in step with djws.js.
 */

export = djws;
export as namespace djws;

declare namespace djws {
  /** The version of djws.js. */
  const VERSION: string;

  /** What send() takes: text, or binary data. */
  type Data = string | ArrayBufferLike | ArrayBufferView | Blob;

  /** Where a Socket is: connecting, open, waiting to reconnect, or closed for good. */
  type State = "connecting" | "open" | "waiting" | "closed";

  interface SocketOptions {
    /** Subprotocols offered to the server, as for `new WebSocket(url, protocols)`. */
    protocols?: string | string[];
    /** How binary messages arrive. Default "arraybuffer". */
    binaryType?: BinaryType;
    /** Reconnect when the connection drops. Default true. */
    reconnect?: boolean;
    /** Milliseconds before the first reconnection attempt. Default 500. */
    minDelay?: number;
    /** The longest delay between attempts, in milliseconds. Default 30000. */
    maxDelay?: number;
    /** What each failed attempt multiplies the delay by. Default 2. */
    factor?: number;
    /** The fraction of each delay drawn at random (0 to 1). Default 0.5. */
    jitter?: number;
    /** Milliseconds open after which the delay starts again from minDelay. Default 5000. */
    stableAfter?: number;
    /** Messages kept while not connected; send() throws past it. Default 1000. */
    maxQueue?: number;
    /**
     * The largest message the server accepts, in bytes (UTF-8 for text), as
     * WEBSOCKET_MAX_MESSAGE_SIZE; send() throws a SendError above it. Default null: no check.
     */
    maxMessageSize?: number | null;
    /**
     * After a close the page did not ask for: reconnect? Default: unless the code is 1000.
     * Never asked after 3000 (the session ended): djws.js stops and fires "unauthorized".
     */
    shouldReconnect?: (event: CloseEvent | { code: number; reason?: string }) => boolean;
    /** Connect at once; with false, call open(). Default true. */
    autoOpen?: boolean;
    /** Ask for positions (?djws=1) and resume from them after a reconnection. Default true. */
    resume?: boolean;
  }

  /** The options' defaults; changing them changes every Socket made afterwards. */
  const DEFAULTS: Required<Omit<SocketOptions, "protocols">> & {
    protocols: string | string[] | undefined;
  };

  /** Close codes in a few plain words, by code (1000 to 1015). */
  const CLOSE_CODES: Readonly<Record<number, string>>;

  /** How the last connection ended. */
  interface CloseInfo {
    readonly code: number;
    readonly reason: string;
    readonly wasClean: boolean;
    /** The code in words, with the reason: "a message was too big for the server (1009: ...)". */
    readonly description: string;
  }

  /** What went wrong; `kind` says where. */
  interface ErrorInfo {
    /**
     * "connect": new WebSocket() threw (a malformed URL; no retry);
     * "socket": the browser's error event (no detail; a close follows);
     * "close": the connection closed with a code that reports a fault
     * (1002, 1003, 1007 to 1011, 1014, 1015).
     */
    readonly kind: "connect" | "socket" | "close";
    /** In words. */
    readonly message: string;
    /** The close code and reason, for kind "close"; null otherwise. */
    readonly code: number | null;
    readonly reason: string | null;
    /** What new WebSocket() threw, for kind "connect"; null otherwise. */
    readonly error: unknown;
  }

  interface ConnectingEvent extends Event {
    /** Reconnection attempts so far: 0 for the first connection. */
    readonly attempt: number;
  }

  interface OpenEvent extends Event {
    /** True when this is a reconnection. Queued messages have been sent when it fires. */
    readonly reconnected: boolean;
  }

  interface SocketCloseEvent extends Event, CloseInfo {
    /** Bytes given to send() that the browser had not sent yet: lost. */
    readonly bufferedAmount: number;
    readonly willReconnect: boolean;
    /** Milliseconds before the next attempt, or null. */
    readonly delay: number | null;
  }

  interface ReconnectingEvent extends Event {
    /** 1 for the first reconnection attempt. */
    readonly attempt: number;
    /** Milliseconds until it starts. */
    readonly delay: number;
    /** When it starts, in milliseconds since the epoch (as Date.now()). */
    readonly at: number;
  }

  interface QueuedEvent extends Event {
    readonly data: Data;
    /** Messages waiting, this one included. */
    readonly length: number;
  }

  interface SentEvent extends Event {
    /** What was given to the WebSocket's send(). */
    readonly data: Data;
    /** True if it had waited in the queue. */
    readonly queued: boolean;
  }

  interface DroppedEvent extends Event {
    /** Messages taken out of the queue, never to be sent. */
    readonly messages: Data[];
    /** "cancel" (cancel()) or "close" (close() drops the whole queue). */
    readonly reason: "cancel" | "close";
  }

  interface SocketErrorEvent extends Event, ErrorInfo {}

  /** Set on "message" and "json" events: the group of a group message, and its position. */
  interface GroupFields {
    /** The group the message was published to; null for the view's own messages. */
    readonly group: string | null;
    /** Its position, "epoch:offset"; null for the view's own messages. */
    readonly position: string | null;
  }

  interface JoinedEvent extends Event {
    readonly group: string;
    /** Where the connection stands in the group, "epoch:offset". */
    readonly position: string;
    /** null: nothing to resume; true: every missed message was replayed; false: not (a reset follows). */
    readonly recovered: boolean | null;
  }

  interface ResetEvent extends Event {
    /** Messages of this group were missed and cannot be replayed: reload its state. */
    readonly group: string;
    /** Where delivery continues. */
    readonly position: string;
  }

  interface UnauthorizedEvent extends Event {
    /** 3000: the session the connection was opened with ended. */
    readonly code: number;
    /** "logged out", "session ended", "session expired" or "password changed". */
    readonly reason: string;
    readonly description: string;
  }

  interface SocketEventMap {
    connecting: ConnectingEvent;
    open: OpenEvent;
    message: MessageEvent & GroupFields;
    json: CustomEvent<unknown> & GroupFields;
    joined: JoinedEvent;
    reset: ResetEvent;
    close: SocketCloseEvent;
    unauthorized: UnauthorizedEvent;
    reconnecting: ReconnectingEvent;
    queued: QueuedEvent;
    sent: SentEvent;
    dropped: DroppedEvent;
    error: SocketErrorEvent;
  }

  /** What send() throws. */
  class SendError extends Error {
    readonly name: "SendError";
    /** "closed": after close(); "queue-full": maxQueue reached; "too-big": over maxMessageSize. */
    readonly reason: "closed" | "queue-full" | "too-big";
    /** The message's size and the limit, in bytes, for "too-big"; null otherwise. */
    readonly size: number | null;
    readonly limit: number | null;
  }

  /** A WebSocket that reconnects, queues while disconnected and says what happens. */
  class Socket extends EventTarget {
    /** `address`: a ws:// or wss:// URL, or a path on the page's own host. */
    constructor(address: string, options?: SocketOptions);

    readonly options: Required<Omit<SocketOptions, "protocols">> & {
      protocols: string | string[] | undefined;
    };
    readonly url: string;
    /** Messages waiting for a connection, oldest first; change it with cancel(). */
    readonly queue: readonly Data[];
    /** Failed attempts since the last stable connection. */
    readonly attempts: number;
    /** The current WebSocket, or null before the first attempt. */
    readonly ws: WebSocket | null;
    readonly state: State;
    /** When the next attempt starts (ms since the epoch), while waiting; null otherwise. */
    readonly retryAt: number | null;
    readonly lastClose: CloseInfo | null;
    readonly lastError: ErrorInfo | null;
    /** The position ("epoch:offset") of the last message received, by group. */
    readonly positions: Readonly<Record<string, string>>;
    /** The current WebSocket's readyState; CLOSED while waiting to reconnect. */
    readonly readyState: number;
    readonly connected: boolean;

    /** Listen to an event; return a function that stops listening. */
    on<K extends keyof SocketEventMap>(
      type: K,
      listener: (this: Socket, event: SocketEventMap[K]) => void
    ): () => void;
    on(type: string, listener: EventListenerOrEventListenerObject): () => void;

    addEventListener<K extends keyof SocketEventMap>(
      type: K,
      listener: (this: Socket, event: SocketEventMap[K]) => void,
      options?: boolean | AddEventListenerOptions
    ): void;
    addEventListener(
      type: string,
      listener: EventListenerOrEventListenerObject | null,
      options?: boolean | AddEventListenerOptions
    ): void;
    removeEventListener<K extends keyof SocketEventMap>(
      type: K,
      listener: (this: Socket, event: SocketEventMap[K]) => void,
      options?: boolean | EventListenerOptions
    ): void;
    removeEventListener(
      type: string,
      listener: EventListenerOrEventListenerObject | null,
      options?: boolean | EventListenerOptions
    ): void;

    /** Connect now; while waiting to reconnect, skip the rest of the delay. */
    open(): void;
    /** True if sent now, false if queued. Throws a SendError. */
    send(data: Data): boolean;
    /** send(JSON.stringify(value)). */
    sendJSON(value: unknown): boolean;
    /** Take a message out of the queue (compared with ===); true if it was there. */
    cancel(data: Data): boolean;
    /** Close for good: no reconnection; queued messages are dropped. */
    close(code?: number, reason?: string): void;
  }

  /** Milliseconds before reconnection attempt `attempt` (0 for the first). */
  function backoff(attempt: number, options?: SocketOptions, random?: () => number): number;
  /** A message's size on the wire, in bytes. */
  function byteLength(data: Data): number;
  /** A close code in words, with the reason if any. */
  function describeClose(code: number, reason?: string): string;
  /** A path made a ws:// or wss:// URL of the page's host. */
  function url(path: string): string;
}
