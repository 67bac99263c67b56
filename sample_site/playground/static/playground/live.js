/* The live pages: the connection's state in the header, and the keyboard focus kept
 * when the server sends the comment form back.
 *
 * htmx says how its WebSocket is with events (htmx:wsConnecting, wsOpen,
 * wsClose); djws-turbo.js's <djws-stream-source> with its data-state attribute.
 * The form is replaced whole after each post: the field that had the focus, or
 * the first one in error, gets it again.
 */
(function () {
  "use strict";

  var statusEl = document.getElementById("status");
  var announceEl = document.getElementById("announce");
  var WORDS = { open: "connected", connecting: "connecting…", waiting: "reconnecting…", closed: "disconnected" };
  var lost = false;

  function setState(state) {
    if (statusEl.dataset.state === state) return;
    statusEl.dataset.state = state;
    statusEl.textContent = WORDS[state];
    if (state === "open" && lost) announceEl.textContent = "Connected again.";
    if (state !== "open" && state !== "connecting") {
      if (!lost) announceEl.textContent = "Connection lost. Reconnecting…";
      lost = true;
    }
    if (state === "open") lost = false;
  }

  // htmx 2 and its ws extension.
  document.body.addEventListener("htmx:wsConnecting", function () {
    if (statusEl.dataset.state !== "open") setState(lost ? "waiting" : "connecting");
  });
  document.body.addEventListener("htmx:wsOpen", function () {
    setState("open");
  });
  document.body.addEventListener("htmx:wsClose", function () {
    setState("waiting");
  });

  // Turbo, through djws-turbo.js.
  var source = document.querySelector("djws-stream-source");
  if (source) {
    new MutationObserver(function () {
      setState(source.dataset.state || "connecting");
    }).observe(source, { attributes: true, attributeFilter: ["data-state"] });
    if (source.dataset.state) setState(source.dataset.state);
  }

  // The focus, across the form's replacement.
  var focused = null;
  document.addEventListener("submit", function (event) {
    if (event.target.id !== "comment-form") return;
    focused = document.activeElement && document.activeElement.id;
  }, true);
  new MutationObserver(function () {
    var form = document.getElementById("comment-form");
    if (!form || form.contains(document.activeElement) || focused === null) return;
    var target = form.querySelector("[aria-invalid='true']") || document.getElementById(focused || "id_text");
    if (target) target.focus();
    focused = null;
  }).observe(document.querySelector(".live"), { childList: true, subtree: true });
})();
