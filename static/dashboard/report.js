/* Report: energy and revenue per month. When a session finishes the server pushes it, and the
 * page reloads the figures of the year from the report's JSON (one request per pushed change). */
(function () {
  "use strict";
  var table = document.getElementById("report");
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var months = JSON.parse(document.getElementById("month-names").textContent);
  var charts = {};

  function make(id, label, colour, key) {
    if (!window.Chart) return null;
    return new Chart(document.getElementById(id), {
      type: "bar",
      data: {labels: months, datasets: [{label: label, data: data.months.map(function (m) { return Number(m[key]); }),
                                          backgroundColor: colour}]},
      options: {animation: false, maintainAspectRatio: false, scales: {y: {beginAtZero: true}}}
    });
  }
  charts.energy = make("energy-chart", CSMSLive.t.energy, "#1565c0", "energy_kwh");
  charts.revenue = make("revenue-chart", CSMSLive.t.revenue + " (" + data.currency + ")", "#1a7f37", "revenue");

  function render(d) {
    data = d;
    d.months.forEach(function (m) {
      var row = table.querySelector('tr[data-month="' + m.month + '"]');
      CSMSLive.setText(row, "sessions", String(m.sessions));
      CSMSLive.setText(row, "energy", CSMSLive.number(m.energy_kwh, 3));
      CSMSLive.setText(row, "revenue", CSMSLive.number(m.revenue, 2));
    });
    var total = table.querySelector('tr[data-month="total"]');
    CSMSLive.setText(total, "sessions", String(d.total.sessions));
    CSMSLive.setText(total, "energy", CSMSLive.number(d.total.energy_kwh, 3));
    CSMSLive.setText(total, "revenue", CSMSLive.number(d.total.revenue, 2));
    if (charts.energy) { charts.energy.data.datasets[0].data = d.months.map(function (m) { return m.energy_kwh; }); charts.energy.update(); }
    if (charts.revenue) { charts.revenue.data.datasets[0].data = d.months.map(function (m) { return Number(m.revenue); }); charts.revenue.update(); }
  }
  render(data);

  CSMSLive.on("transaction", function (ev) {
    if (ev.active) return;  // the report counts finished sessions
    fetch(table.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); }).then(render);
  });
  CSMSLive.connect({});
})();
