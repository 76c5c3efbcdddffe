// The live view of one training run, drawn in the browser from the app's live route
// (ui/live_feed.py): no Streamlit rerun while the run trains. The page reruns once, through the
// "ended" trigger, when the run stops, completes or fails; "renew" asks for a fresh token.
// All text goes in through textContent or escaped SVG: nothing here is parsed as HTML from data.

const W = 560, H = 250, M = { l: 50, r: 12, t: 30, b: 34 };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

function niceTicks(lo, hi, n) {
  const span = hi - lo || 1, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(+v.toPrecision(12));
  return out;
}

function chartSvg(chart, epochs) {
  const all = chart.series.flatMap((s) => s.xy);
  if (!all.length) return `<svg viewBox="0 0 ${W} ${H}" role="img"><text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="muted">${esc(chart.title)}: waiting for the first points…</text></svg>`;
  const xmax = Math.max(epochs || 1, ...all.map((p) => p[0]));
  let ylo = Math.min(...all.map((p) => p[1])), yhi = Math.max(...all.map((p) => p[1]));
  const pad = (yhi - ylo) * 0.06 || Math.abs(yhi) * 0.05 || 1;
  ylo -= pad; yhi += pad;
  const X = (x) => M.l + (x / xmax) * (W - M.l - M.r), Y = (y) => H - M.b - ((y - ylo) / (yhi - ylo)) * (H - M.t - M.b);
  let g = "";
  for (const t of niceTicks(ylo, yhi, 5)) {
    g += `<line x1="${M.l}" x2="${W - M.r}" y1="${Y(t)}" y2="${Y(t)}" class="grid"/><text x="${M.l - 6}" y="${Y(t) + 4}" text-anchor="end">${esc(+t.toPrecision(4))}</text>`;
  }
  for (const t of niceTicks(0, xmax, Math.min(8, Math.max(2, Math.ceil(xmax))))) {
    g += `<line x1="${X(t)}" x2="${X(t)}" y1="${H - M.b}" y2="${H - M.b + 4}" class="axis"/><text x="${X(t)}" y="${H - M.b + 16}" text-anchor="middle">${esc(t)}</text>`;
  }
  g += `<line x1="${M.l}" x2="${W - M.r}" y1="${H - M.b}" y2="${H - M.b}" class="axis"/>`;
  g += `<text x="${(M.l + W - M.r) / 2}" y="${H - 4}" text-anchor="middle" class="muted">epoch</text>`;
  g += `<text x="12" y="${(M.t + H - M.b) / 2}" text-anchor="middle" class="muted" transform="rotate(-90 12 ${(M.t + H - M.b) / 2})">${esc(chart.title)}</text>`;
  let lx = M.l;
  for (const s of chart.series) {
    g += `<line x1="${lx}" x2="${lx + 18}" y1="12" y2="12" stroke="${esc(s.color)}" stroke-width="2"/><text x="${lx + 22}" y="16">${esc(s.name)}</text>`;
    lx += 34 + 6.5 * s.name.length;
    if (!s.xy.length) continue;
    const pts = s.xy.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
    g += `<polyline points="${pts}" fill="none" stroke="${esc(s.color)}" stroke-width="${s.markers ? 2 : 1.2}"/>`;
    if (s.markers) for (const p of s.xy) g += `<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="3.5" fill="${esc(s.color)}"/>`;
  }
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(chart.title)} while training">${g}</svg>`;
}

const HTML = `
<div class="lv">
  <span class="badge"></span><span class="note"></span>
  <div class="prog"><div class="bar"><div class="fill"></div></div><div class="ptext"></div></div>
  <div class="metrics"></div>
  <div class="charts"><div class="chart"></div><div class="chart"></div></div>
  <div class="caption"></div>
  <div class="hints"></div>
</div>`;

function render(root, snap) {
  const q = (sel) => root.querySelector(sel);
  const badge = q(".badge");
  badge.textContent = snap.phase;
  badge.className = "badge " + snap.phase;
  const prog = q(".prog");
  prog.style.display = snap.progress ? "" : "none";
  if (snap.progress) {
    q(".fill").style.width = `${(100 * snap.progress.frac).toFixed(1)}%`;
    q(".ptext").textContent = snap.progress.text;
  }
  const metrics = q(".metrics");
  if (metrics.children.length !== snap.metrics.length) {
    metrics.replaceChildren(...snap.metrics.map(() => {
      const m = document.createElement("div");
      m.className = "metric";
      m.append(document.createElement("div"), document.createElement("div"));
      return m;
    }));
  }
  snap.metrics.forEach(([label, value], i) => {
    const [l, v] = metrics.children[i].children;
    l.textContent = label; l.className = "mlabel";
    v.textContent = value; v.className = "mvalue";
  });
  const charts = root.querySelectorAll(".chart");
  snap.charts.forEach((c, i) => { charts[i].innerHTML = chartSvg(c, snap.epochs); });
  q(".caption").textContent = snap.caption;
  q(".hints").replaceChildren(...snap.hints.map((t) => {
    const d = document.createElement("div");
    d.className = "hint"; d.textContent = t;
    return d;
  }));
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = mountOnce(parentElement, ".lv", HTML);
  const [st, alive] = newGeneration(parentElement, "__fmnistLive");   // feed_common.js
  st.data = data;
  const note = (text) => { root.querySelector(".note").textContent = text || ""; };

  async function tick() {
    if (!alive() || st.ended) return;
    if (document.hidden) {
      note("Paused while this tab is hidden; it catches up when you come back.");
      return;   // the visibilitychange listener starts polling again
    }
    const d = st.data;
    let wait = st.havePoints ? d.poll_ms : d.first_poll_ms;
    try {
      const res = await fetch(`${d.url}/${d.run}`, { headers: { "X-Fmnist-Live": d.token }, cache: "no-store" });
      const body = await res.json().catch(() => ({}));
      if (!alive()) return;   // re-rendered meanwhile: that render polls
      if (res.status === 403) {
        note("Reconnecting…");
        if (!st.renewedAt || Date.now() - st.renewedAt > 30000) {
          st.renewedAt = Date.now();
          setTriggerValue("renew", st.renewedAt);   // the page reruns and hands over a fresh token
        }
        wait = 5000;
      } else if (!res.ok) {
        note(body.error || `The server answered ${res.status}; retrying.`);
        wait = 5000;
        if (res.status === 404) { st.ended = true; setTriggerValue("ended", "deleted"); return; }
      } else {
        note("");
        render(root, body);
        st.havePoints = st.havePoints || body.caption && !body.caption.startsWith("0 ");
        if (body.terminal) { st.ended = true; setTriggerValue("ended", body.status); return; }
      }
    } catch (e) {
      if (!alive()) return;
      note("Lost contact with the server; retrying…");
      wait = 3000;
    }
    if (alive()) st.timer = setTimeout(tick, wait);
  }

  const onVisible = () => {
    clearTimeout(st.timer);
    if (document.hidden) note("Paused while this tab is hidden; it catches up when you come back.");
    else { note(""); tick(); }
  };
  if (st.onVisible) document.removeEventListener("visibilitychange", st.onVisible);
  st.onVisible = onVisible;
  document.addEventListener("visibilitychange", onVisible);
  if (st.run !== data.run) { st.run = data.run; st.ended = false; st.havePoints = false; }
  if (data.first) render(root, data.first);   // what the page read while rendering: no blank wait
  tick();
  return () => {
    if (!alive()) return;   // an older render's cleanup: the newest one owns the timer
    st.gen++;
    clearTimeout(st.timer);
    document.removeEventListener("visibilitychange", onVisible);
    if (st.onVisible === onVisible) st.onVisible = null;
  };
}
