/* The chat page: name and colour, history on join, messages from everyone in the room.
 *
 * What you send stays in the text box until the server acknowledges it (each
 * message carries a client_id the server's answer repeats); meanwhile it is in
 * the log as pending: "waiting for the connection", then "sending…". An error
 * from the server puts it back to you with the reason, in the words of the
 * form's labels.
 */
(function () {
  "use strict";

  var form = document.getElementById("composer");
  var nameInput = document.getElementById("name");
  var colorInput = document.getElementById("color");
  var messageInput = document.getElementById("message");
  var sendButton = document.getElementById("send");
  var counter = document.getElementById("counter");
  var maxLength = Number(form.dataset.textMaxLength) || null;
  var errors = playground.errorBox(form);
  var seen = new Set(); // message ids shown, so a history after a reconnect adds only news
  var newest = null; // the largest id shown
  var FIELDS = { name: nameInput, color: colorInput, text: messageInput };
  // The message being sent: {clientId, data, text, item, state}; one at a time.
  var draft = null;
  var sequence = 0;
  var session = Math.random().toString(36).slice(2, 10);

  var PALETTE = ["#1f77b4", "#c0392b", "#1e7b34", "#7a4fb5", "#b35900", "#0e7c86", "#8c564b"];
  nameInput.value =
    localStorage.getItem("djws-chat-name") || "guest-" + Math.floor(1000 + Math.random() * 9000);
  colorInput.value =
    localStorage.getItem("djws-chat-color") ||
    PALETTE[Math.floor(Math.random() * PALETTE.length)];
  nameInput.addEventListener("change", function () {
    localStorage.setItem("djws-chat-name", nameInput.value);
  });
  colorInput.addEventListener("change", function () {
    localStorage.setItem("djws-chat-color", colorInput.value);
  });

  function checkName() {
    var value = nameInput.value;
    nameInput.setCustomValidity(
      value && !value.trim() ? "Only spaces: a name needs something else too." : ""
    );
  }

  function wrap(text) {
    return JSON.stringify({
      name: nameInput.value,
      color: colorInput.value,
      text: text,
      client_id: "c-" + session + "-" + sequence,
    });
  }

  function checkMessage() {
    playground.checkText(messageInput, maxLength, wrap);
    if (maxLength) {
      // Shown from 90 % of the limit on: the count the server makes (code points).
      var length = Array.from(messageInput.value).length;
      counter.hidden = length < maxLength * 0.9;
      counter.textContent =
        length.toLocaleString("en") + " of " + maxLength.toLocaleString("en") + " characters";
      counter.classList.toggle("over", length > maxLength);
    }
  }

  nameInput.addEventListener("input", checkName);
  messageInput.addEventListener("input", checkMessage);

  /** A message's time: the time of day today, with the date before today. */
  function formatTime(date) {
    var now = new Date();
    var options = { hour: "2-digit", minute: "2-digit" };
    if (date.toDateString() !== now.toDateString()) {
      options.day = "numeric";
      options.month = "short";
      if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
    }
    return date.toLocaleString([], options);
  }

  function timeElement(iso) {
    var time = document.createElement("time");
    if (iso) {
      var date = new Date(iso);
      time.dateTime = iso;
      time.textContent = formatTime(date);
      time.title = date.toLocaleString([], { dateStyle: "full", timeStyle: "long" });
    }
    return time;
  }

  function luminance(rgb) {
    var channels = rgb.map(function (value) {
      var c = value / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2];
  }

  /**
   * A name's colour as chosen, or darkened (same hue) until it can be read on
   * the white of the log: a contrast of 4.5:1 (WCAG AA). Anyone may pick yellow.
   */
  function readable(color) {
    var match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color || "");
    if (!match) return "#1d2330";
    var rgb = match.slice(1).map(function (hex) {
      return parseInt(hex, 16);
    });
    while (1.05 / (luminance(rgb) + 0.05) < 4.6) {
      rgb = rgb.map(function (value) {
        return Math.floor(value * 0.9);
      });
    }
    return "#" + rgb.map(function (value) {
      return value.toString(16).padStart(2, "0");
    }).join("");
  }

  function nameElement(name, color) {
    var el = playground.bdi("name", name);
    el.style.color = readable(color);
    return el;
  }

  function show(message) {
    if (message.id !== null && message.id !== undefined) {
      if (seen.has(message.id)) return;
      seen.add(message.id);
      if (newest === null || message.id > newest) newest = message.id;
    }
    var item = playground.log("message", [
      timeElement(message.time),
      nameElement(message.name, message.color),
      playground.bdi("text", message.text),
    ]);
    if (message.id !== null && message.id !== undefined) item.dataset.id = message.id;
  }

  function finish(keepText) {
    if (draft.item) draft.item.remove();
    if (!keepText && messageInput.value === draft.text) {
      messageInput.value = "";
      checkMessage();
    }
    draft = null;
    playground.setBusy(messageInput, [sendButton], false);
    messageInput.focus();
  }

  function showServerErrors(fieldErrors) {
    var focus = null;
    Object.keys(fieldErrors).forEach(function (field) {
      var input = FIELDS[field] || null;
      errors.show(fieldErrors[field].join(" "), input);
      if (input && !focus) focus = input;
    });
    if (focus) focus.focus();
  }

  var socket = playground.connect();

  socket.on("json", function (event) {
    var data = event.detail;
    var mine = draft !== null && data.client_id === draft.clientId;
    if (data.type === "history") {
      // After a reconnection djws.js resumes: the server replays what was
      // missed. It sends the history instead ("reloaded") only when it could
      // not; if that history does not reach back to what this page showed,
      // messages in between are missing, and the page says so.
      var reaches = newest === null || data.messages.some(function (m) {
        return m.id <= newest;
      });
      data.messages.forEach(show);
      if (data.reloaded && !reaches) {
        playground.showNotice(
          "Some messages sent while you were away could not be recovered: the " +
            "conversation continues from the most recent ones.",
          true
        );
      }
    } else if (data.type === "message") {
      show(data);
    } else if (data.type === "ack" && mine) {
      finish(false);
      show(data.message);
    } else if (data.type === "error") {
      if (mine) finish(true);
      showServerErrors(data.errors);
    }
  });

  socket.on("sent", function (event) {
    if (draft !== null && event.data === draft.data) {
      draft.state = "sending";
      playground.setPending(draft.item, "sending");
    }
  });

  socket.on("close", function (event) {
    if (draft !== null && draft.state === "sending") {
      // Sent, never acknowledged: the server may or may not have it.
      finish(true);
      errors.show(
        "Your last message may not have been posted: the connection closed (" +
          event.description +
          ") before the server confirmed it. It is still in the box: once connected " +
          "again, check the conversation and send it again if it is missing."
      );
    }
  });

  function cancel() {
    if (draft !== null && socket.cancel(draft.data)) finish(true);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (draft !== null) return; // one message at a time: the box holds it
    errors.clear();
    var text = messageInput.value.trim();
    var data = wrap(text);
    var clientId = "c-" + session + "-" + sequence;
    sequence += 1;
    var queued;
    try {
      queued = !socket.send(data);
    } catch (error) {
      errors.show(error.message, messageInput);
      return;
    }
    draft = { clientId: clientId, data: data, text: messageInput.value, state: "sending" };
    draft.state = queued ? "waiting" : "sending";
    draft.item = playground.pending(
      "message",
      [timeElement(null), nameElement(nameInput.value, colorInput.value), playground.bdi("text", text)],
      draft.state,
      cancel
    );
    playground.setBusy(messageInput, [sendButton], true);
  });

  checkName();
  checkMessage();
})();
