/* Station page: connectors, the live charging curve of the current session, recent transactions. */
(function () {
  "use strict";
  var root = document.getElementById("station");
  var cp = root.dataset.station;
  var session = document.getElementById("session");
  var points = JSON.parse(document.getElementById("curve-data").textContent);
  var seen = {};

  function timeLabel(ms) { return CSMSLive.time(ms); }

  var chart = null;
  if (window.Chart) {
    chart = new Chart(document.getElementById("curve"), {
      type: "line",
      data: {datasets: [
        {label: CSMSLive.t.power, data: [], yAxisID: "power", borderColor: "#c62828", backgroundColor: "#c62828",
         pointRadius: 2, tension: 0.2, spanGaps: true},
        {label: CSMSLive.t.energy, data: [], yAxisID: "energy", borderColor: "#1565c0", backgroundColor: "#1565c0",
         pointRadius: 2, tension: 0.2, spanGaps: true}
      ]},
      options: {
        animation: false, maintainAspectRatio: false, parsing: false,
        interaction: {mode: "nearest", intersect: false},
        scales: {
          x: {type: "linear", ticks: {callback: function (v) { return timeLabel(v); }, maxTicksLimit: 8}},
          power: {type: "linear", position: "left", beginAtZero: true, title: {display: true, text: CSMSLive.t.power}},
          energy: {type: "linear", position: "right", beginAtZero: true, grid: {drawOnChartArea: false},
                   title: {display: true, text: CSMSLive.t.energy}}
        },
        plugins: {tooltip: {callbacks: {title: function (items) { return items.length ? timeLabel(items[0].parsed.x) : ""; }}}}
      }
    });
  }

  function addPoint(p) {
    var t = Date.parse(p.t || p.timestamp);
    if (isNaN(t) || seen[t]) return;  // an event may reach us through two groups
    seen[t] = true;
    if (!chart) return;
    if (p.power_w !== null && p.power_w !== undefined) chart.data.datasets[0].data.push({x: t, y: p.power_w / 1000});
    if (p.energy_wh !== null && p.energy_wh !== undefined) chart.data.datasets[1].data.push({x: t, y: p.energy_wh / 1000});
    chart.data.datasets.forEach(function (d) { d.data.sort(function (a, b) { return a.x - b.x; }); });
  }
  points.forEach(addPoint);
  if (chart) chart.update();

  function resetSession(id) {
    session.dataset.transaction = id ? String(id) : "";
    seen = {};
    if (chart) { chart.data.datasets.forEach(function (d) { d.data = []; }); chart.update(); }
    document.getElementById("no-session").hidden = !!id;
  }

  CSMSLive.on("station", function (ev) {
    if (ev.charge_point_id !== cp) return;
    var badge = root.querySelector('[data-field="status"]');
    badge.textContent = CSMSLive.stationLabel(ev.status);
    badge.className = "badge status-" + ev.status;
    CSMSLive.setText(root, "connected", ev.connected ? CSMSLive.t.yes : CSMSLive.t.no);
  });

  CSMSLive.on("connector", function (ev) {
    if (ev.charge_point_id !== cp) return;
    var row = document.querySelector('#connectors tr[data-connector="' + CSS.escape(cp + "/" + ev.connector_id) + '"]');
    if (!row) {
      var tbody = document.querySelector("#connectors tbody");
      if (tbody.querySelector("td[colspan]")) tbody.innerHTML = "";
      row = document.createElement("tr");
      row.dataset.connector = cp + "/" + ev.connector_id;
      row.innerHTML = "<td></td><td data-field='status'></td><td data-field='error_code'></td><td></td><td></td>";
      row.firstChild.textContent = ev.connector_id;
      tbody.appendChild(row);
    }
    CSMSLive.setText(row, "status", CSMSLive.connectorLabel(ev.status));
    CSMSLive.setText(row, "error_code", ev.error_code && ev.error_code !== "NoError" ? ev.error_code : "");
  });

  CSMSLive.on("transaction", function (ev) {
    if (ev.charge_point_id !== cp) return;
    var current = session.dataset.transaction;
    if (ev.active && current !== String(ev.id)) {
      resetSession(ev.id);
      var d = session.querySelector('[data-field="duration"]');
      d.dataset.started = ev.started_at || new Date().toISOString();
    }
    if (String(ev.id) === session.dataset.transaction) {
      CSMSLive.setText(session, "id", "#" + ev.id);
      CSMSLive.setText(session, "power", CSMSLive.kw(ev.power_w));
      CSMSLive.setText(session, "energy", CSMSLive.kwh(ev.energy_wh));
      CSMSLive.setText(session, "soc", ev.soc === null || ev.soc === undefined ? "–" : CSMSLive.number(ev.soc, 0));
      CSMSLive.setText(session, "cost", ev.cost === null || ev.cost === undefined ? "–" : CSMSLive.number(ev.cost, 2));
      if (!ev.active) {
        var dur = session.querySelector('[data-field="duration"]');
        delete dur.dataset.started;
        dur.textContent = "–";
        session.dataset.transaction = "";
        document.getElementById("no-session").hidden = false;
      }
    }
    var row = document.querySelector('#recent tr[data-transaction="' + ev.id + '"]');
    if (!row) {
      var tbody = document.querySelector("#recent tbody");
      if (tbody.querySelector("td[colspan]")) tbody.innerHTML = "";
      row = document.createElement("tr");
      row.dataset.transaction = ev.id;
      row.innerHTML = "<td></td><td></td><td></td><td data-field='stopped'></td><td data-field='energy'></td><td><span data-field='cost'></span></td>";
      row.children[0].textContent = ev.id;
      row.children[1].textContent = ev.connector_id;
      row.children[2].textContent = CSMSLive.dateTime(Date.now());
      tbody.insertBefore(row, tbody.firstChild);
    }
    CSMSLive.setText(row, "energy", CSMSLive.kwh(ev.energy_wh));
    CSMSLive.setText(row, "cost", ev.cost === null || ev.cost === undefined ? "–" : CSMSLive.number(ev.cost, 2));
    CSMSLive.setText(row, "stopped", ev.active ? CSMSLive.t.active : CSMSLive.t.finished);
  });

  CSMSLive.on("meter", function (ev) {
    if (String(ev.transaction_id) !== session.dataset.transaction) return;
    addPoint(ev);
    if (chart) chart.update();
    if (ev.power_w !== null && ev.power_w !== undefined) CSMSLive.setText(session, "power", CSMSLive.kw(ev.power_w));
    if (ev.energy_wh !== null && ev.energy_wh !== undefined) CSMSLive.setText(session, "energy", CSMSLive.kwh(ev.energy_wh));
    if (ev.soc !== null && ev.soc !== undefined) CSMSLive.setText(session, "soc", CSMSLive.number(ev.soc, 0));
  });

  CSMSLive.connect({station: cp});
})();
