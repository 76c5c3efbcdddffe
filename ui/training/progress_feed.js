// A background job's progress bar, drawn in the browser from an app route (ui/training/live_feed.py):
// no Streamlit rerun while the job runs. When the route says the job is done, the "done"
// trigger reruns the page once, which draws the result. Text goes in through textContent.

const HTML = `<div class="pf"><div class="bar"><div class="fill"></div></div><div class="ptext"></div></div>`;

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = mountOnce(parentElement, ".pf", HTML);
  const [st, alive] = newGeneration(parentElement, "__fmnistProgress");   // feed_common.js
  const show = (frac, text) => {
    root.querySelector(".fill").style.width = `${(100 * Math.min(1, Math.max(0, frac))).toFixed(1)}%`;
    root.querySelector(".ptext").textContent = text;
  };
  if (data.first) show(data.first.frac, data.first.text);

  async function tick() {
    if (!alive() || st.done) return;
    let wait = data.poll_ms;
    try {
      const res = await fetch(data.url, { headers: { "X-Fmnist-Live": data.token }, cache: "no-store" });
      const body = await res.json().catch(() => ({}));
      if (!alive()) return;
      if (res.ok) {
        show(body.frac, body.text);
        if (body.done) { st.done = true; setTriggerValue("done", Date.now()); return; }
      } else if (res.status === 403 || res.status === 404) {
        // An expired token, or a job this server no longer knows: the page reruns and decides.
        st.done = true; setTriggerValue("done", Date.now()); return;
      } else {
        root.querySelector(".ptext").textContent = body.error || `The server answered ${res.status}; retrying.`;
        wait = 3000;
      }
    } catch (e) {
      if (!alive()) return;
      root.querySelector(".ptext").textContent = "Lost contact with the server; retrying…";
      wait = 3000;
    }
    if (alive()) st.timer = setTimeout(tick, wait);
  }
  if (st.url !== data.url || st.token !== data.token) { st.url = data.url; st.token = data.token; st.done = false; }
  tick();
  return () => {
    if (!alive()) return;
    st.gen++;
    clearTimeout(st.timer);
  };
}
