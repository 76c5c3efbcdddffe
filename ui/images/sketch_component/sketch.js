// Fashion-MNIST Lab's drawing canvas (an st.components.v2 component, no iframe).
//
// Why not streamlit-drawable-canvas: it waits 200 ms after each stroke before sending it (a fixed
// debounce in its bundle), two thirds of the 300 ms a stroke may take to reach a prediction. This
// canvas sends the drawing the moment the pen lifts: the strokes (to restore it after a reload)
// and the rendered PNG (what the model sees).
//
// data: {size, brush, initial: [{w, p: [x0, y0, x1, y1, ...]}], initialKey (the widget key: a new one, a fresh canvas)}
// state "drawing": {strokes: [...], png: "data:image/png;base64,..."}
const STATES = new WeakMap();
const MAX_POINTS = 20000;   // all strokes together: bounds what a stroke storm can send

function draw(ctx, size, strokes) {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, size, size);
  for (const s of strokes) drawStroke(ctx, s, 0);
}

function drawStroke(ctx, s, from) {
  const p = s.p;
  ctx.strokeStyle = "#fff";
  ctx.fillStyle = "#fff";
  ctx.lineWidth = s.w;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  if (p.length === 2) {   // a dot
    ctx.beginPath();
    ctx.arc(p[0], p[1], s.w / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.beginPath();
  const start = Math.max(0, from - 2);
  ctx.moveTo(p[start], p[start + 1]);
  for (let i = start + 2; i < p.length; i += 2) ctx.lineTo(p[i], p[i + 1]);
  ctx.stroke();
}

function mount(root, st) {
  const canvas = root.querySelector("canvas");
  const ctx = canvas.getContext("2d");
  const undo = root.querySelector("[data-act=undo]");
  const redo = root.querySelector("[data-act=redo]");
  let current = null;

  const points = () => st.strokes.reduce((n, s) => n + s.p.length / 2, 0);
  const buttons = () => {
    undo.disabled = st.strokes.length === 0;
    redo.disabled = st.redo.length === 0;
  };
  const send = () => {
    buttons();
    st.setStateValue("drawing", {strokes: st.strokes, png: canvas.toDataURL("image/png")});
  };
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    const k = canvas.width / r.width;
    return [Math.round((e.clientX - r.left) * k * 10) / 10, Math.round((e.clientY - r.top) * k * 10) / 10];
  };
  canvas.addEventListener("pointerdown", (e) => {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    if (points() >= MAX_POINTS) return;
    canvas.setPointerCapture(e.pointerId);
    current = {w: st.brush, p: at(e)};
    drawStroke(ctx, current, 0);
    e.preventDefault();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!current || points() + current.p.length / 2 >= MAX_POINTS) return;
    const n = current.p.length;
    current.p.push(...at(e));
    drawStroke(ctx, current, n);
  });
  const finish = () => {
    if (!current) return;
    st.strokes.push(current);
    st.redo = [];
    current = null;
    draw(ctx, canvas.width, st.strokes);   // one clean pass: no seams between the segments
    send();
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  undo.addEventListener("click", () => {
    if (!st.strokes.length) return;
    st.redo.push(st.strokes.pop());
    draw(ctx, canvas.width, st.strokes);
    send();
  });
  redo.addEventListener("click", () => {
    if (!st.redo.length) return;
    st.strokes.push(st.redo.pop());
    draw(ctx, canvas.width, st.strokes);
    send();
  });
  return buttons;
}

export default function (component) {
  const {data, parentElement, setStateValue} = component;
  const root = parentElement.querySelector(".fmnist-sketch");
  let st = STATES.get(parentElement);
  if (!st) {
    st = {strokes: [], redo: [], brush: data.brush, setStateValue, initialKey: null};
    STATES.set(parentElement, st);
    st.buttons = mount(root, st);
  }
  st.brush = data.brush;
  st.setStateValue = setStateValue;
  const canvas = root.querySelector("canvas");
  if (canvas.width !== data.size) {
    canvas.width = canvas.height = data.size;
    canvas.style.width = canvas.style.height = data.size + "px";
    st.initialKey = null;
  }
  if (st.initialKey !== data.initialKey) {   // a restored drawing, or a cleared canvas
    st.initialKey = data.initialKey;
    st.strokes = (data.initial || []).map((s) => ({w: s.w, p: s.p.slice()}));
    st.redo = [];
    draw(canvas.getContext("2d"), data.size, st.strokes);
  }
  st.buttons();
}
