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
 *   at the same instant; it stops when the page calls close(), and by default
 *   when the server closes with 1000 (the view returned: it is done with us);
 * - send() works at any time: messages sent while (re)connecting are queued
 *   and go out, in order, once the connection is open;
 * - JSON helpers: sendJSON(obj), and a "json" event for text messages that are JSON;
 * - events "open", "message", "json", "close", "reconnecting" and "error",
 *   through addEventListener() or on(type, listener), which returns a function
 *   that removes the listener.
 *
 * Documented in docs/topics/javascript.rst.
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

  var VERSION = "0.1.0";

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
    // Decide from a close event whether to reconnect (after a server close,
    // never after close() from the page). Default: everything but 1000.
    shouldReconnect: function (event) {
      return event.code !== 1000;
    },
    // Start connecting at once; otherwise call open().
    autoOpen: true,
  };

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
      this.queue = [];
      this.attempts = 0;
      this.ws = null;
      this._timer = null;
      this._openedAt = 0;
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

    /** Connect now (if not connected or connecting already). */
    open() {
      this._closedByPage = false;
      this._clearTimer();
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
      var ws;
      try {
        ws = new WebSocket(this.url, this.options.protocols);
      } catch (error) {
        // A malformed URL will never work: report it, do not retry.
        this.dispatchEvent(makeEvent("error", { error: error }));
        throw error;
      }
      ws.binaryType = this.options.binaryType;
      ws.onopen = this._handleOpen.bind(this, ws);
      ws.onmessage = this._handleMessage.bind(this, ws);
      ws.onclose = this._handleClose.bind(this, ws);
      ws.onerror = this._handleError.bind(this, ws);
      this.ws = ws;
    }

    /**
     * Send a string, ArrayBuffer, typed array or Blob. Return true if it was
     * sent now, false if it was queued until the connection opens. Throw when
     * the queue is full, or after close().
     */
    send(data) {
      if (this._closedByPage) {
        throw new Error("djws: send() after close(); call open() to reconnect");
      }
      if (this.connected && this.queue.length === 0) {
        this.ws.send(data);
        return true;
      }
      if (this.queue.length >= this.options.maxQueue) {
        throw new Error("djws: send queue full (" + this.queue.length + " messages)");
      }
      this.queue.push(data);
      return false;
    }

    /** Send `value` as JSON text. */
    sendJSON(value) {
      return this.send(JSON.stringify(value));
    }

    /** Close for good (no reconnection). Queued messages are dropped. */
    close(code, reason) {
      this._closedByPage = true;
      this._clearTimer();
      this.queue = [];
      if (typeof window !== "undefined") {
        window.removeEventListener("online", this._onOnline);
      }
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
        this.ws.close(code === undefined ? 1000 : code, reason || "");
      }
    }

    _handleOpen(ws) {
      if (ws !== this.ws) return;
      var reconnected = this._openedAt !== 0 || this.attempts > 0;
      this._openedAt = Date.now();
      // Flush in order; stop if the connection drops meanwhile.
      while (this.queue.length && ws.readyState === WebSocket.OPEN) {
        ws.send(this.queue.shift());
      }
      this.dispatchEvent(makeEvent("open", { reconnected: reconnected }));
    }

    _handleMessage(ws, message) {
      if (ws !== this.ws) return;
      this.dispatchEvent(new MessageEvent("message", { data: message.data }));
      if (typeof message.data === "string") {
        var value;
        try {
          value = JSON.parse(message.data);
        } catch (error) {
          return; // not JSON: "message" listeners have it
        }
        this.dispatchEvent(new CustomEvent("json", { detail: value }));
      }
    }

    _handleError(ws) {
      if (ws !== this.ws) return;
      // Browsers give no detail here; the close event that follows has the code.
      this.dispatchEvent(makeEvent("error", { error: null }));
    }

    _handleClose(ws, event) {
      if (ws !== this.ws) return;
      if (this._openedAt && Date.now() - this._openedAt >= this.options.stableAfter) {
        this.attempts = 0;
      }
      var retry =
        !this._closedByPage && this.options.reconnect && this.options.shouldReconnect(event);
      var delay = retry ? backoff(this.attempts, this.options) : null;
      this.dispatchEvent(
        makeEvent("close", {
          code: event.code,
          reason: event.reason,
          wasClean: event.wasClean,
          willReconnect: retry,
          delay: delay,
        })
      );
      if (!retry) return;
      this.attempts += 1;
      this.dispatchEvent(
        makeEvent("reconnecting", { attempt: this.attempts, delay: delay })
      );
      this._clearTimer();
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
    }
  }

  return {
    VERSION: VERSION,
    DEFAULTS: DEFAULTS,
    Socket: Socket,
    backoff: backoff,
    url: url,
  };
});
