/*!
 * djws-htmx.js -- htmx pages that resume after a reconnection, as djws.js pages do.
 *
 *   htmx 2:  <script src="htmx.js"></script>
 *            <script src="htmx-ext-ws/dist/ws.js"></script>
 *            <script src="{% static 'djws/djws-htmx.js' %}"></script>
 *            <div hx-ext="ws" ws-connect="{% live_stream_url post %}">...</div>
 *
 *   htmx 4:  <script src="htmx.js"></script>
 *            <script src="htmx.org/dist/ext/hx-ws.js"></script>
 *            <script src="{% static 'djws/djws-htmx.js' %}"></script>
 *            <div hx-ws:connect="{% live_stream_url post %}">...</div>
 *
 * Every htmx WebSocket of the page then
 * - asks the server for positions (?djws=1) and says that it swaps in HTML
 *   (djws-html=1: it gets the HTML version of messages published with one);
 * - remembers the position of every group it gets messages of, and reconnects
 *   with them (djws-since), so that the server replays exactly what was
 *   missed, once and in order, before anything new;
 * - hands htmx the messages themselves, the envelopes around them stay here;
 * - when what was missed could not be replayed (the history no longer holds
 *   it), fires a cancelable "djws:reset" event on the page (detail: group,
 *   position); unless a listener cancels it, the page reloads;
 * - with htmx 2, reconnects after a server restart (close code 1001, "going
 *   away"), as it does after 1006, 1011, 1012 and 1013.
 *
 * Documented in docs/howto/htmx.rst; the protocol in docs/topics/broadcast.rst.
 */
(function () {
  "use strict";

  var VERSION = "0.1.0";
  // The beginning of a djws envelope (the server writes it in exactly this form).
  var ENVELOPE = '{"djws":';

  /** `url` with the djws query parameters: positions, HTML, where to resume from. */
  function address(url, positions) {
    var result = url + (url.indexOf("?") === -1 ? "?" : "&") + "djws=1&djws-html=1";
    if (Object.keys(positions).length) {
      result += "&djws-since=" + encodeURIComponent(JSON.stringify(positions));
    }
    return result;
  }

  /**
   * What a message is for htmx: {data} to swap, {reset} when the page must
   * reload, {} for nothing (where a group stands after joining). Positions are
   * noted in `positions`.
   */
  function read(text, positions) {
    if (typeof text !== "string" || text.indexOf(ENVELOPE) !== 0) return { data: text };
    var envelope;
    try {
      envelope = JSON.parse(text);
    } catch (error) {
      return { data: text };
    }
    if (typeof envelope.group !== "string" || typeof envelope.position !== "string") {
      return { data: text };
    }
    positions[envelope.group] = envelope.position;
    if (envelope.djws === "message") {
      if (envelope.kind === "binary") return {}; // htmx swaps no bytes
      return { data: envelope.kind === "json" ? JSON.stringify(envelope.data) : envelope.data };
    }
    if (envelope.djws === "joined") return envelope.recovered === false ? { reset: envelope } : {};
    if (envelope.djws === "reset") return { reset: envelope };
    return { data: text };
  }

  /** Tell the page that messages were lost; reload it unless a listener cancels. */
  function reset(element, envelope) {
    var event = new CustomEvent("djws:reset", {
      bubbles: true,
      cancelable: true,
      detail: { group: envelope.group, position: envelope.position },
    });
    var target = element && element.isConnected ? element : document.body;
    if (target.dispatchEvent(event)) window.location.reload();
  }

  // htmx 2: htmx-ext-ws makes its sockets with htmx.createWebSocket(url), one for
  // every attempt; this one speaks djws's protocol, with the positions of its URL.
  var positionsByUrl = {};

  class PageSocket extends EventTarget {
    constructor(url) {
      super();
      var positions = positionsByUrl[url] || (positionsByUrl[url] = {});
      var self = this;
      this.url = url;
      this.socket = new WebSocket(address(url, positions));
      this.socket.binaryType = window.htmx.config.wsBinaryType || "blob";
      this.socket.onopen = function () {
        self._emit(new Event("open"));
      };
      this.socket.onmessage = function (message) {
        var found = read(message.data, positions);
        if (found.reset) reset(null, found.reset);
        if ("data" in found) self._emit(new MessageEvent("message", { data: found.data }));
      };
      this.socket.onclose = function (event) {
        // A server that stops says "going away" (1001): htmx 2 would not come back.
        var code = event.code === 1001 ? 1012 : event.code;
        self._emit(
          new CloseEvent("close", { code: code, reason: event.reason, wasClean: event.wasClean })
        );
      };
      this.socket.onerror = function () {
        self._emit(new Event("error"));
      };
    }

    get readyState() {
      return this.socket.readyState;
    }

    get bufferedAmount() {
      return this.socket.bufferedAmount;
    }

    send(data) {
      this.socket.send(data);
    }

    close(code, reason) {
      this.socket.close(code, reason);
    }

    _emit(event) {
      var handler = this["on" + event.type];
      if (typeof handler === "function") handler.call(this, event);
      this.dispatchEvent(event);
    }
  }
  PageSocket.prototype.CONNECTING = 0;
  PageSocket.prototype.OPEN = 1;
  PageSocket.prototype.CLOSING = 2;
  PageSocket.prototype.CLOSED = 3;

  function createWebSocket(url) {
    return new PageSocket(url);
  }

  // htmx 4: hx-ws makes its sockets itself; it asks before each attempt (the URL
  // may change) and before it swaps a message (the data may change).
  function beforeConnection(event) {
    var connection = event.detail && event.detail.connection;
    if (!connection) return;
    if (!connection.djws) connection.djws = { url: connection.url, positions: {} };
    connection.url = address(connection.djws.url, connection.djws.positions);
  }

  function beforeMessage(event) {
    var detail = event.detail;
    var connection = detail && detail.connection;
    if (!connection || !connection.djws) return;
    var found = read(detail.message.data, connection.djws.positions);
    if (found.reset) reset(event.target, found.reset);
    if ("data" in found) {
      detail.message.data = found.data;
    } else {
      detail.cancelled = true;
    }
  }

  var htmx = window.htmx;
  if (!htmx) {
    throw new Error("djws-htmx.js: load htmx first (and its WebSocket extension)");
  }
  if (/^2\./.test(htmx.version)) {
    htmx.createWebSocket = createWebSocket;
  } else {
    document.addEventListener("htmx:ws:before:connection", beforeConnection);
    document.addEventListener("htmx:ws:before:message:incoming", beforeMessage);
  }

  window.djwsHtmx = { VERSION: VERSION, address: address, read: read, PageSocket: PageSocket };
})();
