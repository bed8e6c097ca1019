// Landscape view: the server evaluates the chosen energy on a grid, finds its minima
// and runs descents; this file draws filled contours, memories and paths.
"use strict";

const Landscape = {
  memories: [[-1.2, -0.4], [1.2, -0.4], [0.0, 1.1]],
  grid: null,
  paths: [],
  dragging: -1,
  moved: false,
  pending: null,
  requestId: 0,
};

const PALETTE = [
  [33, 49, 140], [35, 91, 170], [40, 130, 185], [62, 165, 190], [105, 192, 185],
  [158, 213, 176], [206, 232, 170], [245, 240, 180], [250, 210, 140], [244, 165, 100],
];
const LEVELS = PALETTE.length;

function landscapeBeta() { return Math.pow(10, Number($("landscape-beta").value)); }

function extent() { return Explorer.options.landscape.extent; }

function toCanvas(point, canvas) {
  const e = extent();
  return [(point[0] + e) / (2 * e) * canvas.width, (e - point[1]) / (2 * e) * canvas.height];
}

function toPlane(x, y, canvas) {
  const e = extent();
  return [x / canvas.width * 2 * e - e, e - y / canvas.height * 2 * e];
}

// Levels at quantiles of the finite energies, so every band holds a similar area.
function levelsOf(energy) {
  const values = energy.flat().filter((v) => v !== null).sort((a, b) => a - b);
  const levels = [];
  for (let k = 0; k <= LEVELS; k++) {
    levels.push(values[Math.min(values.length - 1, Math.floor(values.length * k / LEVELS))]);
  }
  return levels;
}

// Position of a value among the levels, in [0, 1] (linear between neighbouring levels).
function rankOf(value, levels) {
  if (value <= levels[0]) return 0;
  for (let k = 1; k < levels.length; k++) {
    if (value <= levels[k]) {
      const span = levels[k] - levels[k - 1];
      return (k - 1 + (span > 0 ? (value - levels[k - 1]) / span : 0)) / (levels.length - 1);
    }
  }
  return 1;
}

function colourOf(rank) {
  const t = rank * (PALETTE.length - 1);
  const k = Math.min(Math.floor(t), PALETTE.length - 2);
  const f = t - k;
  return PALETTE[k].map((c, i) => Math.round(c + f * (PALETTE[k + 1][i] - c)));
}

// The grid as an image (one pixel per grid point, +∞ dark gray), scaled up smoothly.
function drawField(ctx, canvas, energy, levels) {
  const n = energy.length;
  const image = new ImageData(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const value = energy[i][j];
      const rgb = value === null ? [58, 63, 75] : colourOf(rankOf(value, levels));
      const at = 4 * ((n - 1 - i) * n + j);
      image.data.set([rgb[0], rgb[1], rgb[2], 255], at);
    }
  }
  const field = document.createElement("canvas");
  field.width = n; field.height = n;
  field.getContext("2d").putImageData(image, 0, 0);
  const half = canvas.width / (n - 1) / 2;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(field, -half, -half, canvas.width + 2 * half, canvas.height + 2 * half);
}

// Marching squares: the segments of the isoline E = level inside each grid cell.
function drawIsolines(ctx, canvas, energy, levels) {
  const n = energy.length;
  const cell = canvas.width / (n - 1);
  const px = (j) => j * cell;
  const py = (i) => canvas.height - i * cell;
  ctx.strokeStyle = "rgba(20,25,40,0.45)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (const level of levels.slice(1, -1)) {
    for (let i = 0; i + 1 < n; i++) {
      for (let j = 0; j + 1 < n; j++) {
        const corners = [[i, j], [i, j + 1], [i + 1, j + 1], [i + 1, j]];
        const values = corners.map(([a, b]) => energy[a][b]);
        if (values.some((v) => v === null)) continue;
        const points = [];
        for (let e = 0; e < 4; e++) {
          const v0 = values[e], v1 = values[(e + 1) % 4];
          if ((v0 < level) === (v1 < level)) continue;
          const t = (level - v0) / (v1 - v0);
          const [a0, b0] = corners[e], [a1, b1] = corners[(e + 1) % 4];
          points.push([px(b0 + t * (b1 - b0)), py(a0 + t * (a1 - a0))]);
        }
        for (let k = 0; k + 1 < points.length; k += 2) {
          ctx.moveTo(points[k][0], points[k][1]);
          ctx.lineTo(points[k + 1][0], points[k + 1][1]);
        }
      }
    }
  }
  ctx.stroke();
}

function drawLandscape() {
  const canvas = $("landscape");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!Landscape.grid) return;
  const levels = levelsOf(Landscape.grid.energy);
  drawField(ctx, canvas, Landscape.grid.energy, levels);
  drawIsolines(ctx, canvas, Landscape.grid.energy, levels);
  drawMarkers(ctx, canvas);
  drawColorbar();
}

function drawMarkers(ctx, canvas) {
  Landscape.paths.forEach((path) => {
    ctx.strokeStyle = "#111"; ctx.lineWidth = 2;
    ctx.beginPath();
    path.points.forEach((p, k) => {
      const [x, y] = toCanvas(p, canvas);
      if (k === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    const [sx, sy] = toCanvas(path.points[0], canvas);
    ctx.fillStyle = "#111"; ctx.beginPath(); ctx.arc(sx, sy, 3.5, 0, 2 * Math.PI); ctx.fill();
    (path.rejections || []).forEach((r, k) => {
      if (r === 0) return;
      const [x, y] = toCanvas(path.points[k], canvas);
      ctx.fillStyle = "#f08a00"; ctx.strokeStyle = "#111"; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.rect(x - 4, y - 4, 8, 8); ctx.fill(); ctx.stroke();
    });
  });
  Landscape.memories.forEach((p) => {
    const [x, y] = toCanvas(p, canvas);
    ctx.fillStyle = "#fff"; ctx.strokeStyle = "#111"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(x, y, 7, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
  });
  Landscape.grid.minima.forEach((p) => {
    const [x, y] = toCanvas(p, canvas);
    ctx.strokeStyle = "#e0302f"; ctx.lineWidth = 2.5;
    ctx.beginPath(); ctx.arc(x, y, 11, 0, 2 * Math.PI); ctx.stroke();
  });
}

function drawColorbar() {
  const bar = $("colorbar");
  const stops = PALETTE.map((c, k) => `rgb(${c.join(",")}) ${100 * k / (PALETTE.length - 1)}%`);
  bar.style.background = `linear-gradient(to right, ${stops.join(",")})`;
  let labels = $("colorbar-labels");
  if (!labels) {
    labels = document.createElement("div");
    labels.id = "colorbar-labels";
    bar.after(labels);
  }
  const range = Landscape.grid.range;
  labels.innerHTML = range
    ? `<span>E ${formatNumber(range[0])}</span><span>energy (isolines at deciles)</span>` +
      `<span>${formatNumber(range[1])}</span>`
    : "";
}

function landscapeBody() {
  return {
    energy: $("energy").value,
    beta: landscapeBeta(),
    memories: Landscape.memories,
  };
}

// Requests in flight while dragging are coalesced: only the latest answer is drawn.
async function refreshLandscape() {
  const id = ++Landscape.requestId;
  const body = landscapeBody();
  try {
    const grid = await api("/api/landscape", body);
    if (id !== Landscape.requestId) return;
    Landscape.grid = grid;
    $("landscape").dataset.beta = String(body.beta);
    $("landscape").dataset.energy = body.energy;
    const word = grid.count === 1 ? "minimum" : "minima";
    $("minima-count").textContent = String(grid.count);
    $("minima-word").textContent = word;
    $("landscape").dataset.minima = String(grid.count);
    drawLandscape();
    setStatus(`${body.energy} at β = ${body.beta.toFixed(2)}: ${grid.count} ${word}`);
  } catch (error) { reportError(error); }
}

async function addPath(point) {
  const body = Object.assign(landscapeBody(), {
    start: point, steps: 200, step_size: Number($("landscape-step").value) || 0.1,
  });
  try {
    const path = await api("/api/landscape/trajectory", body);
    Landscape.paths.push(path);
    drawLandscape();
    const rejected = path.rejections ? path.rejections.reduce((a, b) => a + b, 0) : null;
    $("path-info").textContent = `last path: ${path.points.length - 1} steps` +
      (rejected === null ? ", rejected steps not reported by this energy's descent"
        : `, ${rejected} rejected trial steps`);
  } catch (error) { reportError(error); }
}

function memoryAt(x, y, canvas) {
  return Landscape.memories.findIndex((p) => {
    const [px, py] = toCanvas(p, canvas);
    return Math.hypot(px - x, py - y) <= 10;
  });
}

function setupLandscapeEvents(canvas) {
  const local = (e) => {
    const rect = canvas.getBoundingClientRect();
    return [(e.clientX - rect.left) * canvas.width / rect.width,
      (e.clientY - rect.top) * canvas.height / rect.height];
  };
  canvas.addEventListener("pointerdown", (e) => {
    const [x, y] = local(e);
    Landscape.dragging = memoryAt(x, y, canvas);
    Landscape.moved = false;
    if (Landscape.dragging >= 0) canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (Landscape.dragging < 0) return;
    const [x, y] = local(e);
    const e2 = extent();
    const p = toPlane(x, y, canvas).map((v) => Math.max(-e2, Math.min(e2, v)));
    Landscape.memories[Landscape.dragging] = p;
    Landscape.moved = true;
    Landscape.paths = [];
    refreshLandscape();
  });
  canvas.addEventListener("pointerup", (e) => {
    const [x, y] = local(e);
    if (Landscape.dragging < 0) addPath(toPlane(x, y, canvas));
    Landscape.dragging = -1;
  });
}

function updateEnergyNote() {
  const formulas = {
    lse: "E = −β⁻¹ log Σ exp(−(β/2)‖x − ξ‖²)   (ModernHopfield, Euclidean)",
    lsr: "E = −β⁻¹ log Σ ReLU(1 − (β/2)‖x − ξ‖²)   (LogSumReLUMemory; gray: E = +∞)",
    polynomial: "E = Σ [x·g − L(x)] − Σ (ξ·g)³, g = tanh(βx)   (HAM, guarded descent)",
    "random-features": "E ≈ −β⁻¹ log ⟨Φ(x), Σ Φ(ξ)⟩   (RandomFeatureMemory, 1024 features)",
  };
  const name = $("energy").value;
  $("energy-formula").textContent = formulas[name] || name;
  $("landscape-step-label").hidden =
    !Explorer.options.step_size_energies.includes(name);
}

function setupLandscapeView() {
  fillSelect($("energy"), Explorer.options.energies);
  const canvas = $("landscape");
  setupLandscapeEvents(canvas);
  $("energy").addEventListener("change", () => {
    Landscape.paths = []; updateEnergyNote(); refreshLandscape();
  });
  $("landscape-beta").addEventListener("input", () => {
    $("landscape-beta-value").textContent = landscapeBeta().toFixed(2);
    Landscape.paths = [];
    refreshLandscape();
  });
  $("add-memory").addEventListener("click", () => {
    if (Landscape.memories.length >= Explorer.options.limits.max_landscape_memories) {
      setStatus("at most " + Explorer.options.limits.max_landscape_memories + " memories", true);
      return;
    }
    const e = extent() * 0.8;
    Landscape.memories.push([(Math.random() * 2 - 1) * e, (Math.random() * 2 - 1) * e]);
    refreshLandscape();
  });
  $("clear-paths").addEventListener("click", () => {
    Landscape.paths = []; $("path-info").textContent = ""; drawLandscape();
  });
  updateEnergyNote();
}

document.addEventListener("explorerready", setupLandscapeView);
document.addEventListener("viewchange", (event) => {
  if (event.detail === "landscape-view" && !Landscape.grid) refreshLandscape();
});
