// Store · Corrupt · Recall view. The server stores, corrupts and runs the memory's
// own recall one update per request; this file keeps the grids and draws them.
"use strict";

const Recall = {
  side: 16,
  patterns: [],
  labels: [],
  drawn: [],
  query: null,
  energies: [],
  rejectionMarks: [],
  rejectedTotal: null,
  running: false,
  started: false,
  roundTrips: [],
  serverTimes: [],
};

function blankGrid(side) { return new Array(side * side).fill(-1); }

function setQuery(values) {
  Recall.query = values.slice();
  drawGrid($("query-grid"), Recall.query, Recall.side);
  Recall.started = false;
}

function renderStored() {
  const box = $("stored");
  box.innerHTML = "";
  Recall.patterns.forEach((pattern, k) => {
    const figure = document.createElement("figure");
    figure.dataset.index = String(k);
    const canvas = document.createElement("canvas");
    canvas.width = 48; canvas.height = 48;
    drawGrid(canvas, pattern, Recall.side);
    const caption = document.createElement("figcaption");
    caption.textContent = Recall.labels[k];
    figure.append(canvas, caption);
    figure.addEventListener("click", () => {
      box.querySelectorAll("figure").forEach((f) => f.classList.remove("selected"));
      figure.classList.add("selected");
      setQuery(pattern);
      setStatus(`query = stored pattern ${Recall.labels[k]}: corrupt it, then recall`);
    });
    box.appendChild(figure);
  });
}

async function storePatterns() {
  const kind = $("pattern-set").value;
  const body = { set: kind, side: Number($("pattern-side").value) };
  if (kind === "drawn") {
    if (Recall.drawn.length === 0) { setStatus("draw a pattern and add it first", true); return; }
    body.patterns = Recall.drawn;
    body.side = Recall.side;
  } else {
    body.count = Number($("pattern-count").value);
  }
  try {
    const data = await apiSession("/api/store", body);
    Recall.side = data.side;
    Recall.patterns = data.patterns;
    Recall.labels = data.labels;
    Recall.drawn = [];
    $("drawn-count").textContent = "0 drawn";
    renderStored();
    setQuery(blankGrid(Recall.side));
    resetRecallDisplay();
    setStatus(`stored ${data.patterns.length} ${kind} patterns (${data.side}×${data.side})`);
  } catch (error) { reportError(error); }
}

// The seed field makes a corruption repeatable; left empty, each click draws a new seed,
// and the status line names it so the same corruption can be entered again.
function corruptionSeed() {
  const text = $("corruption-seed").value.trim();
  return text === "" ? Math.floor(Math.random() * 1e6) : Number(text);
}

async function corruptQuery() {
  try {
    const seed = corruptionSeed();
    const data = await apiSession("/api/corrupt", {
      query: Recall.query,
      kind: $("corruption").value,
      level: Number($("corruption-level").value),
      seed,
    });
    setQuery(data.query);
    document.body.dataset.corruptionSeed = String(seed);
    setStatus(`applied ${$("corruption").value} at ${$("corruption-level").value} (seed ${seed})`);
  } catch (error) { reportError(error); }
}

function brushValue() {
  return Number(document.querySelector("input[name=brush]:checked").value);
}

function paintAt(event) {
  const canvas = $("query-grid");
  const rect = canvas.getBoundingClientRect();
  const j = Math.floor((event.clientX - rect.left) / rect.width * Recall.side);
  const i = Math.floor((event.clientY - rect.top) / rect.height * Recall.side);
  if (i < 0 || j < 0 || i >= Recall.side || j >= Recall.side) return;
  Recall.query[i * Recall.side + j] = brushValue();
  drawGrid(canvas, Recall.query, Recall.side);
  Recall.started = false;
}

function setupDrawing() {
  const canvas = $("query-grid");
  let down = false;
  canvas.addEventListener("pointerdown", (e) => {
    down = true; canvas.setPointerCapture(e.pointerId); paintAt(e);
  });
  canvas.addEventListener("pointermove", (e) => { if (down) paintAt(e); });
  canvas.addEventListener("pointerup", () => { down = false; });
  canvas.addEventListener("pointercancel", () => { down = false; });
}

function resetRecallDisplay() {
  Recall.energies = [];
  Recall.rejectionMarks = [];
  Recall.rejectedTotal = null;
  Recall.roundTrips = [];
  Recall.serverTimes = [];
  Recall.started = false;
  drawCurve($("energy-curve"), [], {});
  ["step-count", "energy-value", "nearest-label", "overlap-value", "converged",
    "rejections", "timing"].forEach((id) => { $(id).textContent = "–"; });
}

function selectedModel() {
  return Explorer.options.models.find((m) => m.name === $("model").value);
}

function updateModelNote() {
  const model = selectedModel();
  if (!model) return;
  $("beta").disabled = !model.has_beta;
  $("beta").placeholder = model.has_beta
    ? (model.default_beta === null ? "auto" : String(model.default_beta)) : "n/a";
  $("step-size").disabled = !model.has_step_size;
  $("step-size").placeholder = model.has_step_size ? "default" : "n/a";
  $("model-note").textContent = `${model.energy} — ${model.paper}` +
    (model.binary ? " (±1 states: the query is binarised)" : "");
  Recall.started = false;
}

function showRecall(data) {
  drawGrid($("state-grid"), data.state, Recall.side);
  $("state-grid").dataset.state = JSON.stringify(data.state);
  drawGrid($("nearest-grid"), Recall.patterns[data.nearest.index], Recall.side);
  Recall.energies = data.energies;
  if (data.rejections) {
    Recall.rejectedTotal = (Recall.rejectedTotal || 0) + data.rejections.reduce((a, b) => a + b, 0);
    data.rejections.forEach((r, k) => {
      if (r > 0) Recall.rejectionMarks.push(data.step - data.rejections.length + k + 1);
    });
  }
  const curve = $("energy-curve");
  curve.dataset.energies = JSON.stringify(data.energies);
  drawCurve(curve, data.energies, { marks: Recall.rejectionMarks });
  $("step-count").textContent = String(data.step);
  $("energy-value").textContent = formatNumber(data.energies[data.energies.length - 1]);
  $("nearest-label").textContent = data.nearest.label;
  $("overlap-value").textContent = data.nearest.overlap.toFixed(3);
  $("converged").textContent = data.converged ? "converged (fixed point)" : "running";
  $("rejections").textContent = Recall.rejectedTotal === null
    ? "not reported by this memory" : String(Recall.rejectedTotal);
}

function showTiming() {
  const n = Recall.roundTrips.length;
  if (n === 0) return;
  const sorted = Recall.roundTrips.slice().sort((a, b) => a - b);
  const median = sorted[Math.floor(n / 2)];
  const server = Recall.serverTimes.slice().sort((a, b) => a - b)[Math.floor(n / 2)];
  const timing = $("timing");
  timing.textContent = `${median.toFixed(1)} ms round trip (server ${server.toFixed(1)} ms), median of ${n}`;
  timing.dataset.roundTrips = JSON.stringify(Recall.roundTrips);
  timing.dataset.serverTimes = JSON.stringify(Recall.serverTimes);
}

async function startRecall() {
  const model = selectedModel();
  const body = { model: model.name, query: Recall.query };
  if ($("beta").value !== "") body.beta = Number($("beta").value);
  if ($("step-size").value !== "") body.step_size = Number($("step-size").value);
  resetRecallDisplay();
  const data = await apiSession("/api/recall/start", body);
  Recall.started = true;
  showRecall(data);
  setStatus(`recall with ${model.name}` + (data.beta ? `, β = ${data.beta}` : ""));
  return data;
}

async function stepRecall() {
  if (!Recall.started) await startRecall();
  const t0 = performance.now();
  const data = await apiSession("/api/recall/step", { steps: 1 });
  Recall.roundTrips.push(performance.now() - t0);
  Recall.serverTimes.push(data.elapsed_ms);
  showRecall(data);
  showTiming();
  return data;
}

function setRunning(running) {
  Recall.running = running;
  $("run").disabled = running;
  $("step").disabled = running;
  $("pause").disabled = !running;
  document.body.dataset.running = running ? "1" : "0";
}

async function runRecall() {
  if (Recall.patterns.length === 0) { setStatus("store patterns first", true); return; }
  setRunning(true);
  try {
    let data = null;
    while (Recall.running) {
      data = await stepRecall();
      if (data.converged) break;
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
    if (data && data.converged) {
      setStatus(`converged after ${data.step} steps: nearest ${data.nearest.label}`);
    }
  } catch (error) { reportError(error); }
  setRunning(false);
  document.body.dataset.recallDone = "1";
}

async function pauseRecall() {
  Recall.running = false;
  try { await apiSession("/api/recall/cancel", {}); } catch (error) { reportError(error); }
  setStatus("paused");
}

function setupRecallView() {
  const options = Explorer.options;
  fillSelect($("pattern-set"), options.pattern_sets);
  fillSelect($("corruption"), options.corruptions);
  fillSelect($("model"), options.models.map((m) => m.name));
  const preferred = options.models.find((m) => m.name === "modern-dot");
  if (preferred) $("model").value = preferred.name;
  $("pattern-side").max = options.limits.max_side;
  $("pattern-side").min = options.limits.min_side;
  $("pattern-count").max = options.limits.max_patterns;
  $("pattern-set").addEventListener("change", () => {
    $("drawn-row").hidden = $("pattern-set").value !== "drawn";
    $("pattern-side").disabled = $("pattern-set").value === "digits";  // always 8×8
    $("pattern-count").disabled = $("pattern-set").value === "drawn";
    if ($("pattern-set").value === "drawn") {
      Recall.side = Number($("pattern-side").value);
      setQuery(blankGrid(Recall.side));
    }
  });
  $("pattern-side").addEventListener("change", () => {
    const side = Number($("pattern-side").value);
    if ($("pattern-set").value !== "drawn" || side === Recall.side) return;
    Recall.side = side;
    Recall.drawn = [];
    $("drawn-count").textContent = "0 drawn";
    setQuery(blankGrid(Recall.side));
  });
  $("add-drawn").addEventListener("click", () => {
    Recall.drawn.push(Recall.query.map((v) => (v >= 0 ? 1 : -1)));
    $("drawn-count").textContent = `${Recall.drawn.length} drawn`;
    setQuery(blankGrid(Recall.side));
  });
  $("corruption-level").addEventListener("input", () => {
    $("corruption-level-value").textContent = Number($("corruption-level").value).toFixed(2);
  });
  $("corruption").addEventListener("change", () => {
    $("corruption-level").max = $("corruption").value === "noise" ? "3" : "1";
  });
  $("store-button").addEventListener("click", storePatterns);
  $("corrupt-button").addEventListener("click", corruptQuery);
  $("clear-query").addEventListener("click", () => setQuery(blankGrid(Recall.side)));
  $("model").addEventListener("change", updateModelNote);
  $("beta").addEventListener("change", () => { Recall.started = false; });
  $("step-size").addEventListener("change", () => { Recall.started = false; });
  $("run").addEventListener("click", runRecall);
  $("pause").addEventListener("click", pauseRecall);
  $("step").addEventListener("click", async () => {
    try { await stepRecall(); } catch (error) { reportError(error); }
  });
  setupDrawing();
  setRunning(false);
  setQuery(blankGrid(Recall.side));
  drawGrid($("state-grid"), blankGrid(Recall.side), Recall.side);
  drawGrid($("nearest-grid"), blankGrid(Recall.side), Recall.side);
  drawCurve($("energy-curve"), [], {});
  updateModelNote();
}

document.addEventListener("explorerready", setupRecallView);
