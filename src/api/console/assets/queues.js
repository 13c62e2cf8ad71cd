// holdline queue list: keeps the waiting / longest wait / agents columns current, redrawn from
// /wallboard-data/status whenever the live event feed reports something (and every few seconds
// for changes that log no event). Without JavaScript the page shows the counts as loaded.
(function () {
  "use strict";
  var pending = false;
  function refresh() {
    if (pending) return;
    pending = true;
    fetch("/wallboard-data/status", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok || r.redirected) throw 0; return r.json(); })
      .then(function (list) {
        list.forEach(function (st) {
          var row = document.getElementById("row-" + st.queue);
          if (!row) return;
          var agents = st.agents || [];
          var available = agents.filter(function (a) { return a.state === "available"; }).length;
          row.querySelector(".waiting").textContent = String(st.calls_waiting);
          row.querySelector(".longest").textContent = st.longest_wait_secs + " s";
          row.querySelector(".available").textContent = available + " / " + agents.length;
        });
      })
      .catch(function () {})
      .then(function () { pending = false; });
  }
  var feed = new EventSource("/wallboard-data/feed");
  ["message", "offered", "answered", "abandoned", "overflowed", "timed-out", "forwarded",
    "agent-ringing", "agent-missed", "agent-ring-withdrawn", "caller-answered", "no-agents",
    "rejected", "disconnected", "agent-dnd-on", "agent-dnd-off", "agent-opted-out",
    "agent-opted-in"].forEach(function (k) { feed.addEventListener(k, refresh); });
  setInterval(refresh, 5000);
})();
