/* Helpers shared by the playground pages: the connection status pill and the log. */
(function () {
  "use strict";

  var statusEl = document.getElementById("status");
  var logEl = document.getElementById("log");

  function setStatus(state, text) {
    if (!statusEl) return;
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  /** Open a djws.Socket to the page's data-ws-url and show its state in the header. */
  function connect(options) {
    var socket = new djws.Socket(document.body.dataset.wsUrl, options);
    socket.on("open", function () {
      setStatus("open", "connected");
    });
    socket.on("reconnecting", function (event) {
      var seconds = Math.max(1, Math.round(event.delay / 1000));
      setStatus("reconnecting", "reconnecting in " + seconds + " s…");
    });
    socket.on("close", function (event) {
      if (!event.willReconnect) setStatus("closed", "disconnected (" + event.code + ")");
    });
    window.playgroundSocket = socket; // for the console, and for tests
    return socket;
  }

  /** Append a line to the log and keep it scrolled to the bottom. */
  function log(className, parts) {
    var item = document.createElement("li");
    item.className = className;
    parts.forEach(function (part) {
      if (typeof part === "string") part = document.createTextNode(part);
      item.appendChild(part);
    });
    logEl.appendChild(item);
    logEl.scrollTop = logEl.scrollHeight;
    return item;
  }

  function span(className, text) {
    var el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  }

  window.playground = { connect: connect, log: log, span: span };
})();
