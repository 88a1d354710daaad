// backchannel console: live updates over Server-Sent Events, the link's own state, and the age of every datum.
// No framework, no CDN: this file is served by the service (ADR-0046).
(() => {
  "use strict";
  const main = document.getElementById("view");
  const link = document.getElementById("link");
  if (!main || !link) return;
  const view = document.body.dataset.view;
  let offset = Date.parse(main.dataset.now) - Date.now(); // server clock minus ours, ms
  let lastUpdate = Date.now();
  let state = "connecting";
  let retryAt = 0;
  let delay = 1000;
  let source = null;
  let detail = "";

  const span = (seconds) => {
    const s = Math.floor(Math.abs(seconds));
    if (s < 120) return s + " s";
    if (s < 7200) return Math.floor(s / 60) + " min";
    if (s < 172800) return Math.floor(s / 3600) + " h";
    return Math.floor(s / 86400) + " d";
  };

  const tick = () => {
    const now = Date.now() + offset;
    for (const t of document.querySelectorAll("time.age")) {
      t.textContent = span((now - Date.parse(t.dataset.at)) / 1000) + " ago";
    }
    for (const t of document.querySelectorAll("time.countdown")) {
      const d = (Date.parse(t.dataset.at) - now) / 1000;
      t.textContent = d >= 0 ? "in " + span(d) : "passed " + span(d) + " ago";
    }
    const since = Math.round((Date.now() - lastUpdate) / 1000);
    let text;
    if (state === "live") {
      text = "live; last update " + since + " s ago";
    } else if (state === "reconnecting") {
      const wait = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      text = "reconnecting; last update " + since + " s ago; " + (wait > 0 ? "retrying in " + wait + " s" : "retrying now");
    } else if (state === "signedout") {
      text = "signed out: " + detail + " (reload to sign in again)";
    } else {
      text = "connecting to live updates; showing the page as served " + since + " s ago";
    }
    link.textContent = text;
    link.className = "link " + state;
    document.body.dataset.link = state;
  };

  const retry = () => {
    if (source) source.close();
    source = null;
    state = "reconnecting";
    retryAt = Date.now() + delay;
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 4000);
    tick();
  };

  const connect = () => {
    source = new EventSource("/console/stream?view=" + encodeURIComponent(view));
    source.addEventListener("view", (e) => {
      const data = JSON.parse(e.data);
      main.innerHTML = data.html;
      main.dataset.now = data.now;
      offset = Date.parse(data.now) - Date.now();
      lastUpdate = Date.now();
      state = "live";
      delay = 1000;
      tick();
    });
    source.addEventListener("fresh", (e) => {
      const data = JSON.parse(e.data);
      offset = Date.parse(data.now) - Date.now();
      lastUpdate = Date.now();
      state = "live";
      delay = 1000;
      tick();
    });
    source.addEventListener("signedout", (e) => {
      detail = JSON.parse(e.data).detail;
      state = "signedout";
      source.close();
      tick();
    });
    source.onerror = retry;
  };

  connect();
  setInterval(tick, 1000);
  tick();
})();
