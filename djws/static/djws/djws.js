/*!
 * djws.js -- a reconnecting WebSocket client for djws, with no dependencies.
 *
 *   <script src="{% static 'djws/djws.js' %}"></script>
 *   <script>
 *     const socket = new djws.Socket("{% websocket_url 'djws:chat' %}");
 *     socket.on("json", (event) => console.log(event.detail));
 *     socket.sendJSON({name: "Ada", color: "#1f77b4", text: "Hello"});
 *   </script>
 *
 * What it adds to the browser's WebSocket:
 * - it reconnects when the connection drops, after exponentially growing delays
 *   with random jitter, so that a restarted server is not hit by every client
 *   at the same instant; it stops when the page calls close(), by default
 *   when the server closes with 1000 (the view returned: it is done with us),
 *   and always after 3000 (the session ended: logged out, expired, password
 *   changed), which it reports with an "unauthorized" event;
 * - send() works at any time: messages sent while (re)connecting are queued
 *   and go out, in order, once the connection is open; the queue is visible
 *   (`queue`, the "queued", "sent" and "dropped" events) and cancel() takes a
 *   message out of it;
 * - messages over the server's size limit (option maxMessageSize) are refused
 *   by send() instead of making the server close the connection;
 * - JSON helpers: sendJSON(obj), and a "json" event for text messages that are JSON;
 * - it resumes: it asks the server for positions (?djws=1), remembers the
 *   position of every group it receives messages of (`positions`), and
 *   reconnects with them (djws-since), so the server replays exactly what was
 *   missed; group messages arrive as ordinary "message" / "json" events, with
 *   `group` and `position` set on the event; a "joined" event says where each
 *   group stands, and a "reset" event that what was missed could not be
 *   replayed (reload the state that depends on the group);
 * - its state for a status line: `state`, `retryAt`, `lastClose`, `lastError`,
 *   and closes described in words (describeClose);
 * - events "connecting", "open", "message", "json", "joined", "reset", "close",
 *   "unauthorized", "reconnecting", "queued", "sent", "dropped" and "error",
 *   through addEventListener() or
 *   on(type, listener), which returns a function that removes the listener.
 *
 * Documented in docs/reference/javascript.rst; types in djws.d.ts.
 */
(function (root, factory) {
  "use strict";
  var api = factory();
  if (typeof module === "object" && module.exports) {
    module.exports = api;
  } else {
    root.djws = api;
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var VERSION = "0.2.0";

  var DEFAULTS = {
    // Subprotocols offered to the server (string or array), as for WebSocket.
    protocols: undefined,
    // "blob" or "arraybuffer": how binary messages arrive.
    binaryType: "arraybuffer",
    // Reconnect after the connection drops.
    reconnect: true,
    // Delay before the first reconnection attempt, in ms; then multiplied by
    // `factor` after every failed attempt, up to `maxDelay`.
    minDelay: 500,
    maxDelay: 30000,
    factor: 2,
    // Fraction of each delay drawn at random: a delay d becomes a value
    // between d * (1 - jitter) and d. 0 disables jitter.
    jitter: 0.5,
    // A connection that stays open this long (ms) resets the delay to minDelay;
    // one that closes sooner keeps backing off (a server that accepts and then
    // closes at once is not hammered).
    stableAfter: 5000,
    // Messages kept while not connected; send() throws past this.
    maxQueue: 1000,
    // The largest message the server accepts, in bytes (UTF-8 for text), as
    // WEBSOCKET_MAX_MESSAGE_SIZE: send() throws for a larger one instead of
    // sending it and being closed with 1009. null: no check.
    maxMessageSize: null,
    // Decide from a close event whether to reconnect (after a server close,
    // never after close() from the page, nor after 3000). Default: everything but 1000.
    shouldReconnect: function (event) {
      return event.code !== 1000;
    },
    // Start connecting at once; otherwise call open().
    autoOpen: true,
    // Ask for positions and resume from them after a reconnection (see
    // docs/topics/broadcast.rst, "Resuming").
    resume: true,
  };

  // The beginning of a JSON envelope around a group message (the server
  // writes it in exactly this form).
  var ENVELOPE = '{"djws":';
  var JSON_DATA = ',"kind":"json","data":';

  /** Close codes (RFC 6455, 7.4.1, and IANA's registry) in a few plain words. */
  var CLOSE_CODES = {
    1000: "the conversation is over",
    1001: "the server is going away: restarting or shutting down",
    1002: "a protocol error",
    1003: "the server cannot accept this kind of data",
    1005: "no reason given",
    1006: "the connection was lost",
    1007: "the data was not valid: text that is not UTF-8, say",
    1008: "the server refused what was sent: a policy violation",
    1009: "a message was too big for the server",
    1010: "a required extension was not agreed on",
    1011: "the server had an internal error",
    1012: "the server is restarting",
    1013: "the server is overloaded: try again later",
    1014: "a gateway got a bad answer from the server",
    1015: "the TLS handshake failed",
    3000: "not authorized any more: the session or ticket ended",
  };

  // The session the connection was opened with ended (djws closes with it at
  // logout, expiry, a password change): reconnecting would not bring it back.
  var UNAUTHORIZED = 3000;

  // Closes that report a fault (the server's, the client's or the network's),
  // as opposed to a normal end, a restart or a lost connection.
  var ERROR_CODES = [1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014, 1015];

  /**
   * A close code in plain words, with the server's reason when it gave one:
   * describeClose(1009, "message of 2000000 bytes or more over the limit") gives
   * 'a message was too big for the server (1009: message of 2000000 bytes or more over the limit)'.
   */
  function describeClose(code, reason) {
    var words = CLOSE_CODES[code];
    if (!words) {
      words = code >= 4000 && code < 5000 ? "closed by the application" : "closed";
    }
    return words + " (" + code + (reason ? ": " + reason : "") + ")";
  }

  /**
   * The size of a message on the wire, in bytes: UTF-8 for a string (as the
   * browser sends it: a lone surrogate becomes U+FFFD), byteLength or size otherwise.
   */
  function byteLength(data) {
    if (typeof data === "string") {
      var bytes = 0;
      for (var i = 0; i < data.length; i++) {
        var unit = data.charCodeAt(i);
        if (unit < 0x80) {
          bytes += 1;
        } else if (unit < 0x800) {
          bytes += 2;
        } else if (
          unit >= 0xd800 &&
          unit <= 0xdbff &&
          i + 1 < data.length &&
          (data.charCodeAt(i + 1) & 0xfc00) === 0xdc00
        ) {
          bytes += 4;
          i += 1;
        } else {
          bytes += 3;
        }
      }
      return bytes;
    }
    if (typeof Blob !== "undefined" && data instanceof Blob) return data.size;
    return data.byteLength;
  }

  /**
   * Turn a path into a ws:// or wss:// URL of the page's own host:
   * djws.url("/ws/echo/") on https://example.com/ gives "wss://example.com/ws/echo/".
   */
  function url(path) {
    var resolved = new URL(path, window.location.href);
    if (resolved.protocol === "http:") resolved.protocol = "ws:";
    if (resolved.protocol === "https:") resolved.protocol = "wss:";
    return resolved.href;
  }

  /**
   * The delay (ms) before reconnection attempt number `attempt` (0 for the
   * first): min(maxDelay, minDelay * factor ** attempt), less a random part.
   * `random` is a function returning a number in [0, 1), Math.random by default.
   */
  function backoff(attempt, options, random) {
    var o = Object.assign({}, DEFAULTS, options || {});
    var base = Math.min(o.maxDelay, o.minDelay * Math.pow(o.factor, attempt));
    var r = (random || Math.random)();
    return Math.round(base * (1 - o.jitter * r));
  }

  /**
   * What send() throws: `reason` is "closed" (after close()), "queue-full"
   * (maxQueue messages wait already) or "too-big" (over maxMessageSize; `size`
   * and `limit` are in bytes).
   */
  /** A base64 string as an ArrayBuffer, or a Blob with binaryType "blob". */
  function decodeBase64(text, binaryType) {
    var raw = atob(text);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return binaryType === "blob" ? new Blob([bytes]) : bytes.buffer;
  }

  class SendError extends Error {
    constructor(message, reason, size, limit) {
      super(message);
      this.name = "SendError";
      this.reason = reason;
      this.size = size === undefined ? null : size;
      this.limit = limit === undefined ? null : limit;
    }
  }

  function makeEvent(type, init) {
    var event = new Event(type);
    Object.keys(init || {}).forEach(function (key) {
      Object.defineProperty(event, key, { value: init[key], enumerable: true });
    });
    return event;
  }

  /**
   * A WebSocket that reconnects. `address` is a ws:// or wss:// URL, or a path
   * on the page's host. See DEFAULTS for the options.
   */
  class Socket extends EventTarget {
    constructor(address, options) {
      super();
      this.options = Object.assign({}, DEFAULTS, options || {});
      this.url = /^wss?:/.test(address) ? address : url(address);
      /** Messages waiting for a connection, oldest first. Read it; change it with cancel(). */
      this.queue = [];
      this.attempts = 0;
      this.ws = null;
      /** "connecting", "open", "waiting" (to reconnect) or "closed". */
      this.state = "closed";
      /** When the next reconnection attempt starts (ms since the epoch), while waiting. */
      this.retryAt = null;
      /** The last close: {code, reason, wasClean, description}; null before any. */
      this.lastClose = null;
      /** The last "error" event's {kind, message, code, reason, error}; null before any. */
      this.lastError = null;
      /** The position ("epoch:offset") of the last message received, by group. */
      this.positions = {};
      this._timer = null;
      this._openedAt = 0;
      this._everOpened = false;
      this._closedByPage = false;
      this._onOnline = this._reconnectNow.bind(this);
      if (typeof window !== "undefined") {
        // Back on the network: no need to wait out the backoff.
        window.addEventListener("online", this._onOnline);
      }
      if (this.options.autoOpen) this.open();
    }

    /** WebSocket.CONNECTING, OPEN, CLOSING or CLOSED; CLOSED while waiting to reconnect. */
    get readyState() {
      return this.ws ? this.ws.readyState : WebSocket.CLOSED;
    }

    /** True while connected. */
    get connected() {
      return this.readyState === WebSocket.OPEN;
    }

    /** Listen to an event; return a function that stops listening. */
    on(type, listener) {
      this.addEventListener(type, listener);
      var self = this;
      return function () {
        self.removeEventListener(type, listener);
      };
    }

    /**
     * Connect now (if not connected or connecting already); while waiting to
     * reconnect, skip the rest of the delay.
     */
    open() {
      if (this._closedByPage && typeof window !== "undefined") {
        window.addEventListener("online", this._onOnline);
      }
      this._closedByPage = false;
      this._clearTimer();
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
      var ws;
      try {
        ws = new WebSocket(this._address(), this.options.protocols);
      } catch (error) {
        // A malformed URL will never work: report it, do not retry.
        this.state = "closed";
        this._error({ kind: "connect", message: String(error.message || error), error: error });
        throw error;
      }
      ws.binaryType = this.options.binaryType;
      ws.onopen = this._handleOpen.bind(this, ws);
      ws.onmessage = this._handleMessage.bind(this, ws);
      ws.onclose = this._handleClose.bind(this, ws);
      ws.onerror = this._handleError.bind(this, ws);
      this.ws = ws;
      this.state = "connecting";
      this.dispatchEvent(makeEvent("connecting", { attempt: this.attempts }));
    }

    /**
     * Send a string, ArrayBuffer, typed array or Blob. Return true if it was
     * sent now, false if it was queued until the connection opens. Throw a
     * SendError after close(), when the queue is full, or when the message is
     * over maxMessageSize.
     */
    send(data) {
      if (this._closedByPage) {
        throw new SendError("djws: send() after close(); call open() to reconnect", "closed");
      }
      var limit = this.options.maxMessageSize;
      if (limit !== null && limit !== undefined) {
        var size = byteLength(data);
        if (size > limit) {
          throw new SendError(
            "djws: message of " + size + " bytes over the server's limit of " + limit + " bytes",
            "too-big",
            size,
            limit
          );
        }
      }
      if (this.connected && this.queue.length === 0) {
        this.ws.send(data);
        this.dispatchEvent(makeEvent("sent", { data: data, queued: false }));
        return true;
      }
      if (this.queue.length >= this.options.maxQueue) {
        throw new SendError(
          "djws: send queue full (" + this.queue.length + " messages)",
          "queue-full"
        );
      }
      this.queue.push(data);
      this.dispatchEvent(makeEvent("queued", { data: data, length: this.queue.length }));
      return false;
    }

    /** Send `value` as JSON text. */
    sendJSON(value) {
      return this.send(JSON.stringify(value));
    }

    /**
     * Take a message out of the queue before it is sent (the first one that is
     * `data`, compared with ===). Return true if it was waiting there.
     */
    cancel(data) {
      var index = this.queue.indexOf(data);
      if (index === -1) return false;
      this.queue.splice(index, 1);
      this.dispatchEvent(makeEvent("dropped", { messages: [data], reason: "cancel" }));
      return true;
    }

    /** Close for good (no reconnection). Queued messages are dropped. */
    close(code, reason) {
      this._closedByPage = true;
      this._clearTimer();
      this.state = "closed";
      var dropped = this.queue;
      this.queue = [];
      if (dropped.length) {
        this.dispatchEvent(makeEvent("dropped", { messages: dropped, reason: "close" }));
      }
      if (typeof window !== "undefined") {
        window.removeEventListener("online", this._onOnline);
      }
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
        this.ws.close(code === undefined ? 1000 : code, reason || "");
      }
    }

    /** The URL to connect to now: with djws=1 and, once known, the positions to resume from. */
    _address() {
      if (!this.options.resume) return this.url;
      var address = this.url + (this.url.indexOf("?") === -1 ? "?" : "&") + "djws=1";
      if (Object.keys(this.positions).length) {
        address += "&djws-since=" + encodeURIComponent(JSON.stringify(this.positions));
      }
      return address;
    }

    /**
     * Every message received goes through here, and only here, before the
     * page's listeners see it: the place where a protocol carried in the
     * messages themselves is handled -- the envelopes of group messages, with
     * their positions.
     */
    _dispatch(data) {
      if (this.options.resume && typeof data === "string" && data.startsWith(ENVELOPE)) {
        if (this._envelope(data)) return;
      }
      this._deliver(data, null, null);
    }

    /** Handle a djws envelope; return false if it was not one after all. */
    _envelope(text) {
      var envelope;
      try {
        envelope = JSON.parse(text);
      } catch (error) {
        return false;
      }
      var group = envelope.group;
      if (typeof group !== "string" || typeof envelope.position !== "string") return false;
      this.positions[group] = envelope.position;
      if (envelope.djws === "message") {
        var data = envelope.data;
        if (envelope.kind === "json") {
          data = text.slice(text.indexOf(JSON_DATA) + JSON_DATA.length, -1); // as published
        } else if (envelope.kind === "binary") {
          data = decodeBase64(envelope.data, this.options.binaryType);
        }
        this._deliver(data, group, envelope.position);
      } else if (envelope.djws === "joined") {
        this.dispatchEvent(
          makeEvent("joined", {
            group: group,
            position: envelope.position,
            recovered: envelope.recovered,
          })
        );
        if (envelope.recovered === false) this._reset(group, envelope.position);
      } else if (envelope.djws === "reset") {
        this._reset(group, envelope.position);
      } else {
        return false;
      }
      return true;
    }

    _reset(group, position) {
      this.dispatchEvent(makeEvent("reset", { group: group, position: position }));
    }

    _deliver(data, group, position) {
      var event = new MessageEvent("message", { data: data });
      event.group = group;
      event.position = position;
      this.dispatchEvent(event);
      if (typeof data === "string") {
        var value;
        try {
          value = JSON.parse(data);
        } catch (error) {
          return; // not JSON: "message" listeners have it
        }
        var json = new CustomEvent("json", { detail: value });
        json.group = group;
        json.position = position;
        this.dispatchEvent(json);
      }
    }

    _error(report) {
      var init = {
        kind: report.kind,
        message: report.message,
        code: report.code === undefined ? null : report.code,
        reason: report.reason === undefined ? null : report.reason,
        error: report.error === undefined ? null : report.error,
      };
      this.lastError = init;
      this.dispatchEvent(makeEvent("error", init));
    }

    _handleOpen(ws) {
      if (ws !== this.ws) return;
      var reconnected = this._everOpened || this.attempts > 0;
      this._everOpened = true;
      this._openedAt = Date.now();
      this.state = "open";
      this.retryAt = null;
      // Flush in order; stop if the connection drops meanwhile.
      while (this.queue.length && ws.readyState === WebSocket.OPEN) {
        var data = this.queue.shift();
        ws.send(data);
        this.dispatchEvent(makeEvent("sent", { data: data, queued: true }));
      }
      this.dispatchEvent(makeEvent("open", { reconnected: reconnected }));
    }

    _handleMessage(ws, message) {
      if (ws !== this.ws) return;
      this._dispatch(message.data);
    }

    _handleError(ws) {
      if (ws !== this.ws) return;
      // Browsers give no detail here; the close event that follows has the code.
      this._error({
        kind: "socket",
        message: "the connection failed or was lost (the close event that follows has the code)",
      });
    }

    _handleClose(ws, event) {
      if (ws !== this.ws) return;
      this._clearTimer();
      if (this._openedAt && Date.now() - this._openedAt >= this.options.stableAfter) {
        this.attempts = 0;
      }
      // Measured from this connection's open only: a later attempt that fails
      // without opening must keep backing off.
      this._openedAt = 0;
      var unauthorized = !this._closedByPage && event.code === UNAUTHORIZED;
      var retry =
        !this._closedByPage &&
        !unauthorized &&
        this.options.reconnect &&
        this.options.shouldReconnect(event);
      var delay = retry ? backoff(this.attempts, this.options) : null;
      var description = describeClose(event.code, event.reason);
      this.lastClose = {
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
        description: description,
      };
      this.state = retry ? "waiting" : "closed";
      this.retryAt = retry ? Date.now() + delay : null;
      if (!this._closedByPage && ERROR_CODES.indexOf(event.code) !== -1) {
        this._error({
          kind: "close",
          message: description,
          code: event.code,
          reason: event.reason,
        });
      }
      this.dispatchEvent(
        makeEvent("close", {
          code: event.code,
          reason: event.reason,
          wasClean: event.wasClean,
          description: description,
          // Bytes given to send() that the browser had not sent yet: lost.
          bufferedAmount: ws.bufferedAmount,
          willReconnect: retry,
          delay: delay,
        })
      );
      if (unauthorized) {
        this.dispatchEvent(
          makeEvent("unauthorized", {
            code: event.code,
            reason: event.reason,
            description: description,
          })
        );
      }
      if (!retry) return;
      this.attempts += 1;
      this.dispatchEvent(
        makeEvent("reconnecting", { attempt: this.attempts, delay: delay, at: this.retryAt })
      );
      this._timer = setTimeout(this._reconnect.bind(this), delay);
    }

    _reconnect() {
      this._timer = null;
      if (!this._closedByPage) this.open();
    }

    _reconnectNow() {
      if (this._timer !== null) {
        this._clearTimer();
        this._reconnect();
      }
    }

    _clearTimer() {
      if (this._timer !== null) {
        clearTimeout(this._timer);
        this._timer = null;
      }
      this.retryAt = null;
    }
  }

  return {
    VERSION: VERSION,
    DEFAULTS: DEFAULTS,
    CLOSE_CODES: CLOSE_CODES,
    Socket: Socket,
    SendError: SendError,
    backoff: backoff,
    byteLength: byteLength,
    describeClose: describeClose,
    url: url,
  };
});
