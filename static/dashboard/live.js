/* Live events from the server over the dashboard WebSocket (/ws/dashboard/).
 *
 * The server pushes {"type": "station"|"connector"|"transaction"|"meter", ...} whenever the data
 * changes; pages register handlers with CSMSLive.on(type, fn). No polling: after a lost connection
 * the socket reconnects and the page asks for nothing but the new events.
 */
(function () {
  "use strict";
  var handlers = {};
  var labels = {station: {}, connector: {}, t: {}};
  var labelsNode = document.getElementById("csms-labels");
  if (labelsNode) {
    try { labels = JSON.parse(labelsNode.textContent); } catch (e) { /* keep defaults */ }
  }
  var lang = document.documentElement.lang || "en";
  // Times are shown in the operator's time zone (the server's choice), not the browser's.
  function tz() { return (document.body && document.body.dataset.tz) || undefined; }
  var socket = null;
  var retry = 500;
  var options = {};

  function indicator(ok) {
    var el = document.getElementById("live-indicator");
    if (!el) return;
    el.hidden = false;
    el.textContent = ok ? labels.t.live : labels.t.disconnected;
    el.className = "live-indicator " + (ok ? "live-on" : "live-off");
    document.body.dataset.live = ok ? "on" : "off";
  }

  function dispatch(event) {
    (handlers[event.type] || []).forEach(function (fn) {
      try { fn(event); } catch (e) { console.error(e); }
    });
    (handlers["*"] || []).forEach(function (fn) { fn(event); });
  }

  function connect(opts) {
    options = opts || options;
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/dashboard/";
    if (options.station) url += "?station=" + encodeURIComponent(options.station);
    socket = new WebSocket(url);
    socket.onopen = function () { retry = 500; indicator(true); };
    socket.onmessage = function (msg) {
      var data;
      try { data = JSON.parse(msg.data); } catch (e) { return; }
      dispatch(data);
    };
    socket.onclose = function () {
      indicator(false);
      setTimeout(function () { connect(); }, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  function number(value, digits) {
    if (value === null || value === undefined || value === "") return "–";
    return new Intl.NumberFormat(lang, {minimumFractionDigits: digits, maximumFractionDigits: digits})
      .format(Number(value));
  }

  function duration(seconds) {
    if (seconds < 0) seconds = 0;
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
    return h + ":" + (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  // Charging durations advance on the client from the session's start; no request is made.
  function tickDurations() {
    var now = Date.now();
    document.querySelectorAll("[data-started]").forEach(function (el) {
      var started = Date.parse(el.dataset.started);
      el.textContent = isNaN(started) ? "–" : duration((now - started) / 1000);
    });
  }
  setInterval(tickDurations, 1000);
  document.addEventListener("DOMContentLoaded", tickDurations);

  function setText(root, field, text) {
    if (!root) return;
    root.querySelectorAll('[data-field="' + field + '"]').forEach(function (el) { el.textContent = text; });
  }

  window.CSMSLive = {
    connect: connect,
    on: function (type, fn) { (handlers[type] = handlers[type] || []).push(fn); },
    dispatch: dispatch,
    t: labels.t,
    stationLabel: function (s) { return labels.station[s] || s; },
    connectorLabel: function (s) { return labels.connector[s] || s; },
    number: number,
    kwh: function (wh) { return wh === null || wh === undefined ? "–" : number(wh / 1000, 3); },
    kw: function (w) { return w === null || w === undefined ? "–" : number(w / 1000, 1); },
    duration: duration,
    setText: setText,
    lang: lang,
    time: function (ms) {
      var opts = {hour: "2-digit", minute: "2-digit", second: "2-digit"};
      try { return new Date(ms).toLocaleTimeString(lang, Object.assign({timeZone: tz()}, opts)); }
      catch (e) { return new Date(ms).toLocaleTimeString(lang, opts); }
    },
    dateTime: function (ms) {
      try { return new Date(ms).toLocaleString(lang, {timeZone: tz()}); }
      catch (e) { return new Date(ms).toLocaleString(lang); }
    }
  };
})();
