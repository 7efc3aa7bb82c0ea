// The Edict playground page. Talks only to the `edict playground` process
// that served it (POST /api/check|test|explain|diff). Page state can be put
// in the URL fragment, base64url-encoded UTF-8:
//   #policy=...&event=...&new=...&log=...&run=explain|test|diff
"use strict";

const DEFAULT_POLICY = `import "common/events.edict"
import "common/outcomes.edict.md"
import "common/country_groups.edict.md"
import "common/examples.edict.md"

policy "My draft rule"
  version "draft"
  source "illustrative"
  status proposed

rule large_d5_cluster on rental
  effective 2025-03-01
  cite "15 CFR 744.23(a)(3) (illustrative)"
  license_required "{event.chip_count} chips for a customer in {event.customer_hq}"
  when event.chip_count >= 1000 and event.customer_hq in D5_2026

test "a large cluster for a D:5 customer needs a license" {
  given us_rental with { time: 2025-06-03T12:00:00Z, customer_hq: "CN", parent_hq: "CN", chip_count: 2048 }
  expect license_required by large_d5_cluster
  given us_rental
  expect no_license_required
}
`;

const DEFAULT_EVENT = `{"kind": "rental", "id": "r-1", "time": "2025-06-01T09:00:00Z", "provider": "ExampleCloud",
 "provider_hq": "US", "provider_parent_hq": "US", "datacenter": "MY", "region": "my-1",
 "customer_id": "c-1", "customer_name": "Example Labs", "customer_hq": "CN", "parent_hq": "CN",
 "chip": "H100-SXM5-80GB", "chip_count": 2048, "hours": 720, "purpose": "training",
 "training_ops": 1e24, "training_data": "general", "end_user_type": "commercial", "end_use": "civil",
 "entity_listed": false, "listed_ownership": 0}`;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function decode64(s) {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(b, (c) => c.charCodeAt(0)));
}

function encode64(s) {
  let b = "";
  for (const byte of new TextEncoder().encode(s)) b += String.fromCharCode(byte);
  return btoa(b).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function api(endpoint, body) {
  const r = await fetch("/api/" + endpoint, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const reply = await r.json();
  if (!r.ok) throw new Error(reply.error || "HTTP " + r.status);
  return reply;
}

// ---- the editor: line numbers and diagnostics marked at their place ------

let diagnostics = [];
// The file the server compiled the editor's text as: `playground.edict`, or
// `playground.edict.md` for literate markdown (a fenced ```edict block).
let ownFile = "playground.edict";

// Byte-free: the checker's columns count code points, as JavaScript's
// Array.from(string) does.
function offsetOf(lines, line, column) {
  let at = 0;
  for (let i = 0; i < line - 1 && i < lines.length; ++i) at += lines[i].length + 1;
  const text = Array.from(lines[line - 1] || "");
  return at + text.slice(0, Math.max(0, column - 1)).join("").length;
}

function renderEditor() {
  const text = $("policy").value;
  const lines = text.split("\n");
  const own = diagnostics.filter((d) => d.file === ownFile);
  const worst = {};
  for (const d of own) if (worst[d.line] !== "error") worst[d.line] = d.severity;
  const gutter = $("policy-gutter");
  gutter.replaceChildren(...lines.map((_, i) => {
    const n = i + 1;
    const span = el("span", { id: "line-" + n, class: worst[n] || "" }, String(n));
    return el("span", {}, span, "\n");
  }));
  // The backdrop: the same text, with each diagnostic's range in a <mark>.
  const marks = own.map((d) => {
    const begin = offsetOf(lines, d.line, d.column);
    let end = offsetOf(lines, d.end_line || d.line, d.end_column || d.column + 1);
    if (end <= begin) end = Math.min(text.length, begin + 1);
    return { begin, end, d };
  }).sort((a, b) => a.begin - b.begin);
  const parts = [];
  let at = 0;
  for (const m of marks) {
    if (m.begin < at) continue;
    parts.push(text.slice(at, m.begin));
    parts.push(el("mark", {
      class: "diag-mark " + m.d.severity, "data-line": m.d.line, "data-column": m.d.column,
      title: m.d.message,
    }, text.slice(m.begin, m.end) || " "));
    at = m.end;
  }
  parts.push(text.slice(at) + "\n");
  $("policy-backdrop").replaceChildren(...parts);
  const area = $("policy");
  area.style.height = "0px";
  area.style.height = Math.max(area.scrollHeight, area.parentElement.clientHeight) + "px";
  area.style.width = "0px";
  area.style.width = Math.max(area.scrollWidth, area.parentElement.clientWidth) + "px";
}

function renderDiagnostics(list) {
  diagnostics = list || [];
  const ul = $("diagnostics");
  ul.replaceChildren(...diagnostics.map((d) => {
    const where = `${d.file}:${d.line}:${d.column}`;
    const li = el("li", {
      class: "diag " + d.severity, "data-file": d.file, "data-line": d.line, "data-column": d.column,
      "data-code": d.code,
    }, `${where}: ${d.severity}[${d.code}]: ${d.message}` + (d.help ? `\nhelp: ${d.help}` : ""));
    li.addEventListener("click", () => {
      if (d.file !== ownFile) return;
      const lines = $("policy").value.split("\n");
      const at = offsetOf(lines, d.line, d.column);
      $("policy").focus();
      $("policy").setSelectionRange(at, at);
    });
    return li;
  }));
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.filter((d) => d.severity === "warning").length;
  const status = $("check-status");
  status.textContent = errors + warnings === 0 ? "no problems" : `${errors} error(s), ${warnings} warning(s)`;
  status.className = "status " + (errors ? "bad" : "ok");
  renderEditor();
}

let checkTimer = null;
let checkSerial = 0;
async function check() {
  const serial = ++checkSerial;
  document.body.dataset.checking = String(serial); // with data-checked: a test sees the latest check done
  try {
    const reply = await api("check", { policy: $("policy").value });
    if (serial === checkSerial) {
      ownFile = reply.file || "playground.edict";
      renderDiagnostics(reply.diagnostics);
    }
  } catch (e) {
    $("check-status").textContent = e.message;
  }
  document.body.dataset.checked = String(Math.max(serial, Number(document.body.dataset.checked || 0)));
}

function scheduleCheck() {
  renderEditor();
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, 300);
}

// ---- results ----------------------------------------------------------------

function showError(target, message) {
  target.replaceChildren(el("div", { class: "error-text" }, message));
}

function diagnosticsBlock(reply) {
  const errs = (reply.diagnostics || []).filter((d) => d.severity === "error");
  const lines = errs.map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`);
  if (reply.schema_differences) lines.push(...reply.schema_differences);
  return el("div", { class: "error-text" }, "The policy does not compile:\n" + lines.join("\n"));
}

function explanationBlock(item) {
  const x = item.explanation;
  const rows = (x.rules || []).map((r) => el("tr", { class: r.status },
    el("td", {}, r.name), el("td", {}, r.effect), el("td", {}, r.status.replace(/_/g, " ")),
    el("td", { class: "cite" }, r.cite || ""), el("td", {}, r.message || r.error || "")));
  return el("div", { class: "explanation", "data-decision": x.decision },
    el("div", { class: "decision" }, `line ${x.line}${x.id ? " (" + x.id + ")" : ""}: `, el("code", {}, x.decision)),
    x.error ? el("div", { class: "error-text" }, x.error) : "",
    el("table", { class: "rules" },
      el("tr", {}, el("th", {}, "rule"), el("th", {}, "effect"), el("th", {}, "status"), el("th", {}, "citation"),
        el("th", {}, "message")), ...rows),
    el("pre", { class: "tree" }, item.text));
}

async function runExplain() {
  const out = $("explain-result");
  try {
    const reply = await api("explain", { policy: $("policy").value, events: $("event").value });
    if (!reply.ok) return out.replaceChildren(diagnosticsBlock(reply));
    out.replaceChildren(...reply.events.map(explanationBlock));
  } catch (e) {
    showError(out, e.message);
  } finally {
    document.body.dataset.explained = "1";
  }
}

async function runTests() {
  const out = $("test-result");
  try {
    const reply = await api("test", { policy: $("policy").value });
    if (!reply.ok) return out.replaceChildren(diagnosticsBlock(reply));
    const passed = reply.steps.length - reply.failed;
    out.replaceChildren(
      el("div", { class: reply.failed ? "failed" : "passed", id: "test-summary" },
        `${passed} of ${reply.steps.length} steps passed`),
      el("table", { class: "rules" },
        el("tr", {}, el("th", {}, "test"), el("th", {}, "step"), el("th", {}, "expected"), el("th", {}, "actual"),
          el("th", {}, "fired")),
        ...reply.steps.map((s) => el("tr", { class: s.passed ? "passed" : "failed" },
          el("td", {}, s.test), el("td", {}, `${s.step} (line ${s.line})`), el("td", {}, s.expected),
          el("td", {}, s.actual + (s.error ? ": " + s.error : "")), el("td", {}, s.fired.join("; "))))));
  } catch (e) {
    showError(out, e.message);
  } finally {
    document.body.dataset.tested = "1";
  }
}

async function runDiff() {
  const out = $("diff-result");
  try {
    const reply = await api("diff", { old: $("policy").value, new: $("new-policy").value, events: $("log").value });
    if (!reply.ok) return out.replaceChildren(diagnosticsBlock(reply));
    out.replaceChildren(
      el("div", { class: "decision", id: "diff-summary" }, `${reply.changed} of ${reply.events} events change`),
      el("pre", { class: "tree" }, reply.summary),
      el("pre", { class: "tree" }, reply.records.map((r) => JSON.stringify(r)).join("\n")));
  } catch (e) {
    showError(out, e.message);
  } finally {
    document.body.dataset.diffed = "1";
  }
}

function selectTab(name) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("hidden", t.id !== "tab-" + name);
}

async function loadLibrary() {
  try {
    const r = await fetch("/api/library");
    const { library } = await r.json();
    $("library").append(...library.map((f) => el("option", { value: f }, f)));
  } catch (e) { /* the list is a convenience */ }
  $("library").addEventListener("change", () => {
    const f = $("library").value;
    if (!f) return;
    $("policy").value = `import "${f}"\n` + $("policy").value;
    $("library").value = "";
    scheduleCheck();
  });
}

async function start() {
  const state = new URLSearchParams(location.hash.slice(1));
  const get = (k, d) => (state.has(k) ? decode64(state.get(k)) : d);
  $("policy").value = get("policy", DEFAULT_POLICY);
  $("event").value = get("event", DEFAULT_EVENT);
  $("new-policy").value = get("new", get("policy", DEFAULT_POLICY).replace(">= 1000", ">= 500"));
  $("log").value = get("log", DEFAULT_EVENT.replace(/\n/g, "") + "\n" +
    DEFAULT_EVENT.replace(/\n/g, "").replace('"chip_count": 2048', '"chip_count": 600').replace("r-1", "r-2"));
  $("policy").addEventListener("input", scheduleCheck);
  $("policy").addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    e.preventDefault();
    $("policy").setRangeText("  ", $("policy").selectionStart, $("policy").selectionEnd, "end");
    scheduleCheck();
  });
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  $("run-explain").addEventListener("click", runExplain);
  $("run-test").addEventListener("click", runTests);
  $("run-diff").addEventListener("click", runDiff);
  loadLibrary();
  renderEditor();
  await check();
  const run = state.get("run");
  if (run === "explain") await runExplain();
  if (run === "test") { selectTab("test"); await runTests(); }
  if (run === "diff") { selectTab("diff"); await runDiff(); }
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", start);
