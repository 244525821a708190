/* Overview: map markers, station table and connector tiles, updated by pushed events. */
(function () {
  "use strict";
  var COLOURS = {available: "#1a7f37", reserved: "#e67e00", occupied: "#c62828"};
  function colour(status) { return COLOURS[status] || "#111"; }

  var markers = {};
  var mapEl = document.getElementById("map");
  var data = JSON.parse(document.getElementById("markers").textContent);
  if (mapEl && window.L) {
    var map = L.map(mapEl, {attributionControl: true});
    var tileUrl = mapEl.dataset.tileUrl;
    if (tileUrl) {
      L.tileLayer(tileUrl, {maxZoom: 19, attribution: "&copy; OpenStreetMap contributors"}).addTo(map);
    } else {
      mapEl.classList.add("no-tiles");  // no tile server configured: markers on a plain background
    }
    // The view first: Leaflet renders vector markers only once the map has one.
    var bounds = data.map(function (m) { return [m.lat, m.lng]; });
    if (bounds.length) map.fitBounds(bounds, {padding: [30, 30], maxZoom: 14});
    else map.setView([45.0, 9.0], 5);
    data.forEach(function (m) {
      var marker = L.circleMarker([m.lat, m.lng], {
        radius: 10, color: "#fff", weight: 2, fillColor: colour(m.status), fillOpacity: 0.95
      }).addTo(map);
      marker.bindTooltip(m.name + " · " + CSMSLive.stationLabel(m.status));
      marker.on("click", function () { window.location.href = m.url; });
      marker.csms = m;
      var el = marker.getElement();
      if (el) {
        el.setAttribute("data-marker", m.charge_point_id);
        el.setAttribute("data-status", m.status);
      }
      markers[m.charge_point_id] = marker;
    });
  }

  CSMSLive.on("station", function (ev) {
    var marker = markers[ev.charge_point_id];
    if (marker) {
      marker.setStyle({fillColor: colour(ev.status)});
      marker.setTooltipContent(marker.csms.name + " · " + CSMSLive.stationLabel(ev.status));
      if (marker.getElement()) marker.getElement().setAttribute("data-status", ev.status);
    }
    var row = document.querySelector('tr[data-station="' + CSS.escape(ev.charge_point_id) + '"]');
    if (!row) document.getElementById("new-stations").hidden = false;
    if (row) {
      var badge = row.querySelector('[data-field="status"]');
      badge.textContent = CSMSLive.stationLabel(ev.status);
      badge.className = "badge status-" + ev.status;
      badge.dataset.status = ev.status;
      CSMSLive.setText(row, "connected", ev.connected ? CSMSLive.t.yes : CSMSLive.t.no);
    }
  });

  function tileFor(cp, connectorId) {
    return document.querySelector('[data-connector="' + CSS.escape(cp + "/" + connectorId) + '"]');
  }

  CSMSLive.on("connector", function (ev) {
    var tile = tileFor(ev.charge_point_id, ev.connector_id);
    if (!tile) return;
    CSMSLive.setText(tile, "status", CSMSLive.connectorLabel(ev.status));
    CSMSLive.setText(tile, "error_code", ev.error_code && ev.error_code !== "NoError" ? ev.error_code : "");
    tile.className = "tile status-c-" + ev.status;
  });

  CSMSLive.on("transaction", function (ev) {
    var tile = tileFor(ev.charge_point_id, ev.connector_id);
    if (!tile) return;
    var duration = tile.querySelector('[data-field="duration"]');
    if (ev.active) {
      if (tile.dataset.transaction !== String(ev.id)) {
        tile.dataset.transaction = String(ev.id);
        duration.dataset.started = ev.started_at || new Date().toISOString();
      }
      CSMSLive.setText(tile, "power", CSMSLive.kw(ev.power_w));
      CSMSLive.setText(tile, "soc", ev.soc === null || ev.soc === undefined ? "–" : CSMSLive.number(ev.soc, 0));
      CSMSLive.setText(tile, "energy", CSMSLive.kwh(ev.energy_wh));
    } else if (tile.dataset.transaction === String(ev.id)) {
      delete tile.dataset.transaction;
      delete duration.dataset.started;
      duration.textContent = "–";
      ["power", "soc", "energy"].forEach(function (f) { CSMSLive.setText(tile, f, "–"); });
    }
  });

  CSMSLive.connect({});
})();
