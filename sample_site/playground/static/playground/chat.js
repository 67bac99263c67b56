/* The chat page: name and colour, history on join, messages from everyone in the room. */
(function () {
  "use strict";

  var nameInput = document.getElementById("name");
  var colorInput = document.getElementById("color");
  var messageInput = document.getElementById("message");
  var errorsEl = document.getElementById("errors");
  var seen = new Set(); // message ids shown, so a history after a reconnect adds only news

  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"];
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

  function formatTime(iso) {
    if (!iso) return "";
    var date = new Date(iso);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function show(message) {
    if (message.id !== null && message.id !== undefined) {
      if (seen.has(message.id)) return;
      seen.add(message.id);
    }
    var name = playground.span("name", message.name);
    name.style.color = message.color;
    var time = document.createElement("time");
    time.dateTime = message.time || "";
    time.textContent = formatTime(message.time);
    var item = playground.log("message", [time, name, playground.span("text", message.text)]);
    if (message.id !== null && message.id !== undefined) item.dataset.id = message.id;
  }

  function showErrors(errors) {
    var lines = [];
    Object.keys(errors).forEach(function (field) {
      var label = field === "__all__" ? "" : field + ": ";
      errors[field].forEach(function (text) {
        lines.push(label + text);
      });
    });
    errorsEl.textContent = lines.join(" ");
    errorsEl.hidden = false;
  }

  var socket = playground.connect();
  socket.on("json", function (event) {
    var data = event.detail;
    if (data.type === "history") {
      data.messages.forEach(show);
    } else if (data.type === "message") {
      errorsEl.hidden = true;
      show(data);
    } else if (data.type === "error") {
      showErrors(data.errors);
    }
  });

  document.getElementById("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = messageInput.value.trim();
    if (!text) return;
    socket.sendJSON({ name: nameInput.value, color: colorInput.value, text: text });
    messageInput.value = "";
    messageInput.focus();
  });
})();
