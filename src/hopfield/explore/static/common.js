// Shared helpers of the explorer page: the JSON API, status line, grids, plots.
// Every number shown is computed by the server (the hopfield library); this file
// only sends requests and draws what comes back.
"use strict";

const Explorer = {
  session: null,
  options: null,
};

function $(id) { return document.getElementById(id); }

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, init);
  const data = await response.json();
  if (!response.ok) {
    const error = new Error(data.error || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

async function apiSession(path, body) {
  try {
    return await api(path, Object.assign({ session: Explorer.session }, body));
  } catch (error) {
    if (error.status === 404 && /session/.test(error.message)) {
      await newSession();
      setStatus("session expired: started a new one (store the patterns again)", true);
    }
    throw error;
  }
}

async function newSession() {
  const data = await api("/api/session", {});
  Explorer.session = data.session;
}

function reportError(error) {
  setStatus(error.message, true);
}

// A ±1 / real-valued grid drawn in grayscale: +1 black ink, −1 white, 0 mid gray.
function drawGrid(canvas, values, side) {
  const ctx = canvas.getContext("2d");
  const cell = canvas.width / side;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < side; i++) {
    for (let j = 0; j < side; j++) {
      const v = Math.max(-1, Math.min(1, values[i * side + j]));
      const shade = Math.round(255 * (1 - v) / 2);
      ctx.fillStyle = `rgb(${shade},${shade},${shade})`;
      ctx.fillRect(j * cell, i * cell, Math.ceil(cell), Math.ceil(cell));
    }
  }
  if (cell >= 6) {
    ctx.strokeStyle = "rgba(120,130,150,0.18)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let k = 1; k < side; k++) {
      ctx.moveTo(k * cell + 0.5, 0); ctx.lineTo(k * cell + 0.5, canvas.height);
      ctx.moveTo(0, k * cell + 0.5); ctx.lineTo(canvas.width, k * cell + 0.5);
    }
    ctx.stroke();
  }
}

function formatNumber(value) {
  if (value === null || value === undefined) return "+∞";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e5 || magnitude < 1e-3)) return value.toExponential(3);
  return String(Number(value.toPrecision(5)));
}

// Line plot of a series (nulls = +∞ are skipped) with min/max labels and step ticks.
function drawCurve(canvas, values, options) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  const left = 64, right = 12, top = 14, bottom = 28;
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#5d6678";
  ctx.strokeStyle = "#d9dde5";
  ctx.strokeRect(left + 0.5, top + 0.5, w - left - right, h - top - bottom);
  const finite = values.filter((v) => v !== null);
  if (finite.length === 0) return;
  let lo = Math.min(...finite), hi = Math.max(...finite);
  if (hi - lo < 1e-9 * Math.max(1, Math.abs(hi))) { lo -= 1; hi += 1; }
  const n = Math.max(values.length - 1, 1);
  const x = (k) => left + (w - left - right) * k / n;
  const y = (v) => top + (h - top - bottom) * (hi - v) / (hi - lo);
  ctx.textAlign = "right";
  ctx.fillText(formatNumber(hi), left - 6, top + 8);
  ctx.fillText(formatNumber(lo), left - 6, h - bottom);
  ctx.textAlign = "center";
  ctx.fillText("0", left, h - 10);
  ctx.fillText(String(values.length - 1), w - right, h - 10);
  ctx.fillText(options.xLabel || "step", (left + w - right) / 2, h - 10);
  ctx.strokeStyle = options.color || "#2f6fdb";
  ctx.lineWidth = 2;
  ctx.beginPath();
  let started = false;
  values.forEach((v, k) => {
    if (v === null) { started = false; return; }
    if (started) ctx.lineTo(x(k), y(v)); else ctx.moveTo(x(k), y(v));
    started = true;
  });
  ctx.stroke();
  ctx.fillStyle = options.color || "#2f6fdb";
  values.forEach((v, k) => {
    if (v === null) return;
    ctx.beginPath(); ctx.arc(x(k), y(v), values.length > 60 ? 1.5 : 3, 0, 2 * Math.PI); ctx.fill();
  });
  (options.marks || []).forEach((k) => {
    if (values[k] === null || values[k] === undefined) return;
    ctx.strokeStyle = "#c62f2f"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(x(k), y(values[k]), 6, 0, 2 * Math.PI); ctx.stroke();
  });
}

function showView(id) {
  document.querySelectorAll(".view").forEach((view) => { view.hidden = view.id !== id; });
  document.querySelectorAll(".tab").forEach((tab) => {
    tab.classList.toggle("active", tab.dataset.view === id);
  });
  document.dispatchEvent(new CustomEvent("viewchange", { detail: id }));
}

function fillSelect(select, values, labels) {
  select.innerHTML = "";
  values.forEach((value, k) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = labels ? labels[k] : value;
    select.appendChild(option);
  });
}

async function startExplorer() {
  try {
    Explorer.options = await api("/api/options");
    await newSession();
    document.querySelectorAll(".tab").forEach((tab) => {
      tab.addEventListener("click", () => showView(tab.dataset.view));
    });
    document.dispatchEvent(new CustomEvent("explorerready"));
    setStatus("ready: store a pattern set to begin");
    document.body.dataset.ready = "1";
  } catch (error) {
    reportError(error);
  }
}

window.addEventListener("DOMContentLoaded", startExplorer);
