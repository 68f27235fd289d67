// scaler_gui live updates. The server renders every page; this script only keeps it current:
// it listens to /events (Server-Sent Events) for the view in the address bar and swaps the
// HTML of each data-region element the server sends. Sorting, paging, the chart window and
// the worker filter change the address (history API) and reopen the channel for the new view,
// whose first message carries every region.
(function () {
  "use strict";

  var page = document.body.getAttribute("data-page");
  var source = null;
  var retryDelay = 500;
  var retryTimer = null;
  var liveMark = document.getElementById("live");
  // The server rendered the page from this snapshot version; "" once the view changed and
  // the regions no longer match the address.
  var shownVersion = document.body.getAttribute("data-version") || "";

  // Exposed for people poking in the console and for the browser tests.
  var stats = (window.scalerGUI = { open: false, updates: 0, version: 0, lastApplyMs: 0, connectedAt: 0, firstUpdateAt: 0 });

  function setLive(on) {
    if (!liveMark) return;
    liveMark.classList.toggle("off", !on);
    liveMark.textContent = on ? "live" : "offline, retrying";
  }

  function apply(msg) {
    var t0 = performance.now();
    var regions = msg.r || {};
    for (var name in regions) {
      if (!Object.prototype.hasOwnProperty.call(regions, name)) continue;
      var el = document.querySelector('[data-region="' + name + '"]');
      if (el) el.innerHTML = regions[name];
    }
    stats.version = msg.v;
    shownVersion = String(msg.v);
    stats.updates++;
    stats.lastApplyMs = performance.now() - t0;
    if (!stats.firstUpdateAt) stats.firstUpdateAt = performance.now();
    document.body.setAttribute("data-version", String(msg.v));
  }

  function connect() {
    if (source) source.close();
    stats.open = false;
    if (retryTimer) {
      clearTimeout(retryTimer);
      retryTimer = null;
    }
    var q = new URLSearchParams(location.search);
    q.set("page", page);
    // The snapshot version the page shows for this view, if known: the server then skips a
    // first message that would only repeat it.
    if (shownVersion !== "") q.set("v", shownVersion);
    stats.firstUpdateAt = 0;
    stats.connectedAt = performance.now();
    var es = new EventSource("/events?" + q.toString());
    source = es;
    es.onopen = function () {
      stats.open = true;
      stats.openedAt = performance.now();
      retryDelay = 500;
      setLive(true);
    };
    es.onmessage = function (e) {
      try {
        apply(JSON.parse(e.data));
      } catch (err) {
        console.error("scaler_gui: bad live update", err);
      }
    };
    es.onerror = function () {
      stats.open = false;
      setLive(false);
      // The browser retries by itself unless the server refused the stream; then back off
      // (0.5 s doubling to 10 s) and open a new one.
      if (es.readyState === EventSource.CLOSED && source === es) {
        retryTimer = setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 10000);
      }
    };
  }

  // Show another view of this page without reloading it.
  function go(url, push) {
    shownVersion = "";
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
    syncFilter();
    connect();
  }

  document.addEventListener("click", function (e) {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    var a = e.target.closest("a[data-live]");
    if (a) {
      e.preventDefault();
      go(a.getAttribute("href"), true);
      return;
    }
    var tid = e.target.closest("td.tid");
    if (tid && navigator.clipboard) {
      navigator.clipboard.writeText(tid.getAttribute("data-id")).then(function () {
        tid.classList.add("copied");
        setTimeout(function () { tid.classList.remove("copied"); }, 600);
      }, function () {});
    }
  });

  window.addEventListener("popstate", function () {
    shownVersion = "";
    syncFilter();
    connect();
  });

  // The worker filter: typing narrows the table after a short pause, from the first page.
  var filter = document.getElementById("filter");
  var filterTimer = null;

  function syncFilter() {
    if (!filter) return;
    var q = new URLSearchParams(location.search).get("q") || "";
    if (document.activeElement !== filter) filter.value = q;
  }

  function applyFilter() {
    var q = new URLSearchParams(location.search);
    var v = filter.value.trim();
    if (v) q.set("q", v);
    else q.delete("q");
    q.delete("p");
    var s = q.toString();
    go(location.pathname + (s ? "?" + s : ""), false);
  }

  if (filter) {
    filter.addEventListener("input", function () {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(applyFilter, 200);
    });
    filter.form.addEventListener("submit", function (e) {
      e.preventDefault();
      clearTimeout(filterTimer);
      applyFilter();
    });
  }

  // Open the live channel once the page has loaded: the server rendered everything already,
  // and a request still in flight would hold up the load event.
  if (document.readyState === "complete") connect();
  else window.addEventListener("load", connect);
})();
