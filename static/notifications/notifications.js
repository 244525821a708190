/* Live in-app notifications for the operator's pages.
 *
 * Include with  <script src="{% static 'notifications/notifications.js' %}" defer></script>
 * Optional elements: [data-notifications-badge] shows the unread count; [data-notifications-list]
 * gets one <li> per new notification (newest first); clicking one marks it read.
 * The page's session cookie authenticates the socket (/ws/notifications/); it reconnects on loss.
 */
(function () {
  "use strict";
  var badge = document.querySelector("[data-notifications-badge]");
  var list = document.querySelector("[data-notifications-list]");
  var socket = null;
  var delay = 1000;

  function setUnread(n) {
    if (!badge) return;
    badge.textContent = n > 0 ? String(n) : "";
    badge.hidden = !(n > 0);
  }

  function add(notification) {
    if (!list) return;
    var item = document.createElement("li");
    item.dataset.id = notification.id;
    var title = document.createElement("strong");
    title.textContent = notification.title;
    var body = document.createElement("span");
    body.textContent = " " + notification.body;
    item.appendChild(title);
    item.appendChild(body);
    item.addEventListener("click", function () {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "read", id: notification.id }));
      }
      item.classList.add("read");
    });
    list.insertBefore(item, list.firstChild);
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws/notifications/");
    socket.onopen = function () { delay = 1000; };
    socket.onmessage = function (message) {
      var event = JSON.parse(message.data);
      if (event.type === "notification") add(event.notification);
      if (typeof event.unread === "number") setUnread(event.unread);
      document.dispatchEvent(new CustomEvent("csms:notification", { detail: event }));
    };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403) return; // not logged in: do not insist
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  connect();
})();
