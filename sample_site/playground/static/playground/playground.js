/* Helpers shared by the playground pages: the connection status, the log, errors, drafts.
 *
 * The pages show what happens to what you send, honestly: a message waiting for
 * the connection is in the log as such, the text stays in its box until the
 * server has it, and when something fails the page says what, in words, until
 * it is fixed or dismissed.
 */
(function () {
  "use strict";

  var statusEl = document.getElementById("status");
  var reconnectButton = document.getElementById("reconnect");
  var announceEl = document.getElementById("announce");
  var noticeEl = document.getElementById("notice");
  var noticeText = document.getElementById("notice-text");
  var logEl = document.getElementById("log");

  /** Bytes in words: 1048576 gives "1 MiB". */
  function formatBytes(bytes) {
    var units = ["bytes", "KiB", "MiB", "GiB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    var digits = unit === 0 || value >= 10 || value === Math.floor(value) ? 0 : 1;
    return value.toLocaleString("en", { maximumFractionDigits: digits }) + " " + units[unit];
  }

  /** The server's limit on one message, in bytes, from the page (null: none). */
  function maxMessageSize() {
    var value = document.body.dataset.maxMessageSize;
    return value ? Number(value) : null;
  }

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  /** Say something to screen readers, once (not the countdown's every second). */
  function announce(text) {
    announceEl.textContent = text;
  }

  /** Show why the connection closed; `lasting` notices stay after a reconnection. */
  function showNotice(text, lasting) {
    noticeEl.hidden = false;
    noticeEl.dataset.lasting = lasting ? "true" : "false";
    noticeText.textContent = text;
  }

  function hideNotice() {
    noticeEl.hidden = true;
    noticeText.textContent = "";
  }

  document.getElementById("notice-dismiss").addEventListener("click", hideNotice);

  /**
   * Open a djws.Socket to the page's data-ws-url and show its state in the
   * header: connected, or "reconnecting in 3 s…" counting down, with a button
   * to try at once; closes the server gave a reason for go in the notice.
   */
  function connect(options) {
    var limit = maxMessageSize();
    var socket = new djws.Socket(
      document.body.dataset.wsUrl,
      Object.assign({ maxMessageSize: limit }, options || {})
    );
    var countdown = null;
    var lost = false;
    var fault = null; // the "error" event of a close that reports a fault

    function stopCountdown() {
      if (countdown !== null) clearInterval(countdown);
      countdown = null;
    }

    function tick() {
      if (socket.state !== "waiting" || socket.retryAt === null) return;
      var seconds = Math.max(0, Math.ceil((socket.retryAt - Date.now()) / 1000));
      setStatus("reconnecting", "reconnecting in " + seconds + " s…");
    }

    socket.on("connecting", function (event) {
      stopCountdown();
      if (event.attempt > 0) setStatus("reconnecting", "reconnecting…");
    });
    socket.on("open", function () {
      stopCountdown();
      setStatus("open", "connected");
      reconnectButton.hidden = true;
      if (lost) announce("Connected again.");
      lost = false;
      if (noticeEl.dataset.lasting !== "true") hideNotice();
    });
    socket.on("reconnecting", function () {
      stopCountdown();
      tick();
      countdown = setInterval(tick, 1000);
      reconnectButton.hidden = false;
    });
    socket.on("error", function (event) {
      if (event.kind === "close") fault = event;
    });
    socket.on("close", function (event) {
      if (!lost) announce("Connection lost: " + event.description + ".");
      lost = true;
      var then = event.willReconnect ? " Reconnecting…" : "";
      var isFault = fault !== null;
      fault = null;
      if (isFault) {
        // A fault: stays until dismissed, even once connected again.
        showNotice("The server closed the connection: " + event.description + "." + then, true);
      } else if (event.code !== 1006 || !event.willReconnect) {
        showNotice("Connection closed: " + event.description + "." + then, false);
      }
      if (!event.willReconnect) {
        stopCountdown();
        setStatus("closed", "disconnected (" + event.code + ")");
        reconnectButton.hidden = false;
      }
    });
    reconnectButton.addEventListener("click", function () {
      socket.open();
    });
    window.playgroundSocket = socket; // for the console, and for tests
    return socket;
  }

  /**
   * Append a line to the log, above the lines still pending (which stay last),
   * and keep it scrolled to the bottom.
   */
  function log(className, parts) {
    var item = document.createElement("li");
    item.className = className;
    parts.forEach(function (part) {
      if (typeof part === "string") part = document.createTextNode(part);
      item.appendChild(part);
    });
    var firstPending = logEl.querySelector("li.pending");
    logEl.insertBefore(item, firstPending);
    logEl.scrollTop = logEl.scrollHeight;
    return item;
  }

  /** Text in its own direction, isolated from its neighbours (names, messages). */
  function bdi(className, text) {
    var el = document.createElement("bdi");
    el.className = className;
    el.textContent = text;
    return el;
  }

  function span(className, text) {
    var el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  }

  var STATES = {
    waiting: "waiting for the connection: sent once it is back",
    sending: "sending…",
    failed: "not sent",
  };

  /**
   * Append a pending line (what was sent, and its `state` in words) below the
   * rest of the log. `onCancel`, while waiting, gets a "Cancel" button.
   */
  function pending(className, parts, state, onCancel) {
    var item = document.createElement("li");
    item.className = className + " pending";
    parts.forEach(function (part) {
      if (typeof part === "string") part = document.createTextNode(part);
      item.appendChild(part);
    });
    item.appendChild(span("state", ""));
    if (onCancel) {
      var cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "cancel";
      cancel.textContent = "Cancel";
      cancel.addEventListener("click", onCancel);
      item.appendChild(cancel);
    }
    logEl.appendChild(item);
    setPending(item, state);
    logEl.scrollTop = logEl.scrollHeight;
    return item;
  }

  function setPending(item, state, words) {
    item.dataset.state = state;
    item.querySelector(".state").textContent = words || STATES[state];
    var cancel = item.querySelector(".cancel");
    if (cancel) cancel.hidden = state !== "waiting";
  }

  /** A pending line whose message arrived: an ordinary line of the log now. */
  function settle(item) {
    item.classList.remove("pending");
    delete item.dataset.state;
    Array.prototype.forEach.call(item.querySelectorAll(".state, .cancel"), function (el) {
      el.remove();
    });
  }

  /**
   * The errors of a form, in the box above its inputs: each line names the
   * field by its label; it stays until that field is fixed or it is dismissed.
   */
  function errorBox(form) {
    var box = form.querySelector(".errors");
    var text = box.querySelector("[role=alert]");
    var shown = {}; // key (a field's id, or "") -> line

    function render() {
      var lines = Object.keys(shown).map(function (key) {
        return shown[key];
      });
      text.textContent = lines.join(" ");
      box.hidden = lines.length === 0;
    }

    function labelOf(input) {
      var label = input.labels && input.labels[0];
      return label ? label.textContent.trim() : "";
    }

    var errors = {
      /** Show `message` about `input` (or about nothing in particular). */
      show: function (message, input) {
        var key = input ? input.id : "";
        if (input) {
          input.setAttribute("aria-invalid", "true");
          message = labelOf(input) + ": " + message;
        }
        shown[key] = message;
        render();
      },
      /** Forget what was said about `input` (everything without one). */
      clear: function (input) {
        if (input) {
          input.removeAttribute("aria-invalid");
          delete shown[input.id];
        } else {
          Object.keys(shown).forEach(function (key) {
            var field = key && document.getElementById(key);
            if (field) field.removeAttribute("aria-invalid");
          });
          shown = {};
        }
        render();
      },
    };
    box.querySelector(".dismiss").addEventListener("click", function () {
      errors.clear();
    });
    // The browser's own checks (required, maxlength, setCustomValidity) block
    // sending and say so in a bubble that vanishes: say it in the box too.
    // form.elements: the inputs of the form, and those outside it that name it.
    Array.prototype.forEach.call(form.elements, function (input) {
      input.addEventListener("invalid", function () {
        errors.show(input.validationMessage, input);
      });
      input.addEventListener("input", function () {
        // After the page's own listeners have set the input's validity.
        setTimeout(function () {
          if (input.id in shown && input.validity.valid) errors.clear(input);
        }, 0);
      });
    });
    return errors;
  }

  /**
   * Check a text box's value before it is sent: not only spaces, at most
   * `maxLength` characters (Python's count: code points), and at most the
   * server's message size once wrapped by `wrap`. Sets the box's custom
   * validity, so the browser blocks sending and says why.
   */
  function checkText(input, maxLength, wrap) {
    var value = input.value;
    var message = "";
    if (value && !value.trim()) {
      message = "Only spaces: type something to send (spaces alone are not sent).";
    } else if (maxLength) {
      var length = Array.from(value).length;
      if (length > maxLength) {
        message =
          "Too long: " + length.toLocaleString("en") + " characters, and at most " +
          maxLength.toLocaleString("en") + " are accepted (remove " +
          (length - maxLength).toLocaleString("en") + ").";
      }
    }
    var limit = maxMessageSize();
    if (!message && limit !== null && value) {
      var size = djws.byteLength(wrap ? wrap(value) : value);
      if (size > limit) {
        message =
          "Too big to send: " + size.toLocaleString("en") + " bytes, and the server accepts " +
          "at most " + limit.toLocaleString("en") + " (" + formatBytes(limit) + ") in one message.";
      }
    }
    input.setCustomValidity(message);
    return message === "";
  }

  /** Make the composer say "Sending…" (its text box read-only) or be ready again. */
  function setBusy(input, buttons, busy) {
    input.readOnly = busy;
    if (busy) input.setAttribute("aria-busy", "true");
    else input.removeAttribute("aria-busy");
    buttons.forEach(function (button) {
      if (busy) {
        button.dataset.label = button.dataset.label || button.textContent;
        button.textContent = "Sending…";
      } else if (button.dataset.label) {
        button.textContent = button.dataset.label;
      }
      button.disabled = busy;
    });
  }

  window.playground = {
    bdi: bdi,
    checkText: checkText,
    connect: connect,
    errorBox: errorBox,
    formatBytes: formatBytes,
    log: log,
    pending: pending,
    setBusy: setBusy,
    setPending: setPending,
    settle: settle,
    showNotice: showNotice,
    span: span,
  };
})();
