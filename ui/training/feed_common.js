// Shared by the browser-side views that poll the app's routes (live_feed.js, progress_feed.js);
// ui/training/live_feed.py puts this file in front of each of them.

// The view's root element, made once from `html`: appended, not set as innerHTML, because the
// component's own <style> sits in the same (shadow) root.
function mountOnce(parentElement, selector, html) {
  let root = parentElement.querySelector(selector);
  if (!root) {
    const holder = document.createElement("div");
    holder.innerHTML = html;
    root = holder.firstElementChild;
    parentElement.appendChild(root);
  }
  return root;
}

// The polling state kept on the element across renders, and this render's generation: only the
// newest render polls, and a late cleanup of an older one (whatever order the frontend runs them
// in) cannot stop the newest. Returns [state, alive()].
function newGeneration(parentElement, slot) {
  const st = parentElement[slot] || (parentElement[slot] = { gen: 0 });
  clearTimeout(st.timer);
  const gen = ++st.gen;
  return [st, () => st.gen === gen];
}
