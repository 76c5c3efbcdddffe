// The live view of one training run, drawn in the browser from the app's live route
// (ui/training/live_feed.py): no Streamlit rerun while the run trains. The page reruns once, through the
// "ended" trigger, when the run stops, completes or fails; "renew" asks for a fresh token.
// All text goes in through textContent (the chart's labels, made by the app's own code, through
// Plotly): nothing here is parsed as HTML from data.

// The curves are the figure a finished run gets (fmnist_core.insight.training_figures.curves_figure,
// in the route's JSON), drawn by Plotly.js: the installed plotly package's bundle, loaded once per
// page from the app's route (data.plotly_url), since Streamlit's own copy is not reachable here.
const PLOTLY_CONFIG = { displayModeBar: false, responsive: true };

function loadPlotly(url) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__fmnistPlotly) {
    window.__fmnistPlotly = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = url;
      s.onload = () => resolve(window.Plotly);
      s.onerror = () => { window.__fmnistPlotly = null; reject(new Error(`could not load ${url}`)); };
      document.head.appendChild(s);
    });
  }
  return window.__fmnistPlotly;
}

// The page's theme, as st.plotly_chart gives it: see-through backgrounds, the page's text colour,
// faint grid lines (Plotly's default grid is near-white, invisible on a light page, glaring on a dark one).
function themed(layout, color) {
  const out = { ...layout, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
                font: { color, family: "inherit" } };
  for (const k of Object.keys(out)) {
    if (/^[xy]axis\d*$/.test(k)) out[k] = { ...out[k], gridcolor: "rgba(128,128,128,0.2)", zerolinecolor: "rgba(128,128,128,0.4)" };
  }
  return out;
}

// Plotly redraws the whole figure whatever changed, at several times the cost of the hand-drawn
// SVG it replaced (BENCHMARKS.md, "One chart"): new batch points are drawn at most every `minMs`;
// the first points and each new epoch point at once.
function drawChart(el, figure, minMs) {
  const json = JSON.stringify(figure);
  if (!window.Plotly || el.__fmnistFigure === json) return;   // unchanged since the last draw
  const shape = figure.data.map((t) => (t.legendgroup === "batch" ? "b" : t.x.length)).join();
  if (shape === el.__fmnistShape && Date.now() - el.__fmnistAt < minMs) return;   // the next poll draws it
  Object.assign(el, { __fmnistFigure: json, __fmnistShape: shape, __fmnistAt: Date.now() });
  window.Plotly.react(el, figure.data, themed(figure.layout, getComputedStyle(el).color), PLOTLY_CONFIG);
}

const HTML = `
<div class="lv">
  <span class="badge"></span><span class="note"></span>
  <div class="prog"><div class="bar"><div class="fill"></div></div><div class="ptext"></div></div>
  <div class="metrics"></div>
  <div class="chart"></div>
  <div class="caption"></div>
  <div class="hints"></div>
</div>`;

function render(root, snap) {
  const q = (sel) => root.querySelector(sel);
  root.__fmnistLast = snap;
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
  if (snap.figure) drawChart(q(".chart"), snap.figure, root.__fmnistChartMs || 0);
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
  root.__fmnistChartMs = data.chart_ms;
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
  if (st.run !== data.run) {   // another run in the same place: its first figure is drawn at once
    st.run = data.run; st.ended = false; st.havePoints = false;
    root.querySelector(".chart").__fmnistShape = null;
  }
  if (data.first) render(root, data.first);   // what the page read while rendering: no blank wait
  loadPlotly(data.plotly_url).then(() => {
    const last = root.__fmnistLast;
    if (alive() && last && last.figure) drawChart(root.querySelector(".chart"), last.figure, 0);
  }, () => note("The charts could not be loaded; the numbers above still update."));
  tick();
  return () => {
    if (!alive()) return;   // an older render's cleanup: the newest one owns the timer
    st.gen++;
    clearTimeout(st.timer);
    document.removeEventListener("visibilitychange", onVisible);
    if (st.onVisible === onVisible) st.onVisible = null;
    const chart = root.querySelector(".chart");
    if (window.Plotly && !chart.isConnected) window.Plotly.purge(chart);   // gone from the page: drop its listeners
  };
}
