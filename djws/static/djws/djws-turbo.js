/*!
 * djws-turbo.js -- <djws-stream-source>: Turbo Streams from djws, resumed after a reconnection.
 *
 *   <script src="@hotwired/turbo/dist/turbo.es2017-umd.js"></script>
 *   <script src="{% static 'djws/djws.js' %}"></script>
 *   <script src="{% static 'djws/djws-turbo.js' %}"></script>
 *   {% load djws_live %}{% turbo_stream_from post %}
 *
 * The element connects Turbo to the stream at its `src`, as Turbo's own
 * <turbo-stream-source> does, and keeps it connected:
 * - a ws:// or wss:// src goes through djws.js's Socket, which reconnects with
 *   backoff and resumes from its positions: what was published meanwhile
 *   arrives once and in order, before anything new;
 * - an http:// or https:// src is an EventSource (Server-Sent Events), which
 *   the browser reconnects and resumes (Last-Event-ID) by itself;
 * - when what was missed could not be replayed, it fires a cancelable
 *   "djws:reset" event (detail: group, position); unless a listener cancels
 *   it, the page reloads;
 * - its `data-state` attribute says how it is: "connecting", "open",
 *   "waiting" (to reconnect) or "closed".
 *
 * Documented in docs/howto/turbo.rst.
 */
(function () {
  "use strict";

  var VERSION = "0.1.0";

  if (!window.Turbo || !window.djws) {
    throw new Error("djws-turbo.js: load Turbo and djws.js first");
  }

  class StreamSource extends HTMLElement {
    connectedCallback() {
      var self = this;
      var src = this.getAttribute("src") || "";
      this.state("connecting");
      if (/^wss?:/.test(src)) {
        var socket = new window.djws.Socket(src);
        socket.on("open", function () {
          self.state("open");
        });
        socket.on("close", function (event) {
          self.state(event.willReconnect ? "waiting" : "closed");
        });
        socket.on("reset", function (event) {
          self.reset(event.group, event.position);
        });
        this.source = socket;
      } else {
        var events = new EventSource(src, { withCredentials: true });
        events.onopen = function () {
          self.state("open");
        };
        events.onerror = function () {
          self.state(events.readyState === EventSource.CLOSED ? "closed" : "connecting");
        };
        events.addEventListener("reset", function (event) {
          self.reset(event.data, null);
        });
        this.source = events;
      }
      window.Turbo.connectStreamSource(this.source);
    }

    disconnectedCallback() {
      if (!this.source) return;
      window.Turbo.disconnectStreamSource(this.source);
      this.source.close();
      this.source = null;
    }

    state(value) {
      this.setAttribute("data-state", value);
    }

    reset(group, position) {
      var event = new CustomEvent("djws:reset", {
        bubbles: true,
        cancelable: true,
        detail: { group: group, position: position },
      });
      if (this.dispatchEvent(event)) window.location.reload();
    }
  }

  if (!customElements.get("djws-stream-source")) {
    customElements.define("djws-stream-source", StreamSource);
  }
  window.djwsTurbo = { VERSION: VERSION, StreamSource: StreamSource };
})();
