// The curator's mapping editor: CodeMirror 6 with XML highlighting, line numbers, lint markers
// fed by the live preview, and autocompletion of PE/CRM classes and properties.
// Bundled by esbuild into contentcloud/curator/static/editor.js (make editor); no CDN, no framework.
// Every value from the server goes into the page through textContent, never innerHTML.

import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { xml, xmlLanguage } from "@codemirror/lang-xml";
import { linter, lintGutter, setDiagnostics } from "@codemirror/lint";
import { autocompletion } from "@codemirror/autocomplete";

const DEBOUNCE_MS = 300;
const app = document.getElementById("editor-app");
const base = app.dataset.base;
const csrf = app.dataset.csrf;
const $ = (id) => document.getElementById(id);

// --- small DOM helpers ---------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
function replace(target, ...children) {
  target.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}
function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

async function api(method, path, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.headers["X-CSRF-Token"] = csrf;
    options.body = JSON.stringify(body);
  }
  const response = await fetch(base + path, options);
  let data;
  try {
    data = await response.json();
  } catch (error) {
    data = { error: `${response.status} ${response.statusText}` };
  }
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function setStatus(text, css) {
  const status = $("ed-status");
  status.textContent = text;
  status.className = css || "";
}

// --- ontology autocompletion ------------------------------------------------------------------------
let ontology = null;
const ontologyReady = api("GET", "/api/ontology").then((data) => {
  ontology = data;
  ontology.byClass = new Map(data.classes.map((c) => [c.name, c]));
});

/** The element whose text the cursor is in: "type" or "relationship" (X3ML), else null. */
function enclosingTag(state, pos) {
  const before = state.doc.sliceString(Math.max(0, pos - 400), pos);
  const open = before.lastIndexOf("<");
  if (open < 0) return null;
  const found = /^<([A-Za-z_][\w.-]*)[^<>]*>[^<>]*$/.exec(before.slice(open));
  return found ? found[1] : null;
}

/** The classes of the entity the cursor's link starts from: the domain's first <type>s. */
function domainTypes(state, pos) {
  const text = state.doc.sliceString(0, pos);
  const mapping = text.lastIndexOf("<mapping>");
  if (mapping < 0) return [];
  const domain = text.slice(mapping).match(/<domain>[\s\S]*?<\/domain>/);
  if (!domain) return [];
  return [...domain[0].matchAll(/<type>\s*([^<\s]+)\s*<\/type>/g)].map((m) => m[1]);
}

function fits(classes, wanted) {
  if (!wanted.length || !ontology) return false;
  return classes.some((name) => {
    const entry = ontology.byClass.get(name);
    return wanted.some((w) => w === name || (entry && entry.ancestors.includes(w)));
  });
}

function ontologyCompletion(context) {
  const tag = enclosingTag(context.state, context.pos);
  if (tag !== "type" && tag !== "relationship") return null;
  const word = context.matchBefore(/[\w:.-]*/);
  if (!word || (word.from === word.to && !context.explicit)) return null;
  if (!ontology) return ontologyReady.then(() => ontologyCompletion(context));
  let options;
  if (tag === "type") {
    options = ontology.classes.map((c) => ({
      label: c.name,
      detail: c.label,
      type: "class",
      info: c.ancestors.length ? `subclass of ${c.ancestors.slice(0, 6).join(", ")}` : "",
    }));
  } else {
    const here = domainTypes(context.state, context.pos);
    options = ontology.properties.map((p) => {
      const ok = fits(here, p.domain);
      return {
        label: p.name,
        detail: `${p.label}${ok ? " ✓ domain" : ""}`,
        type: "property",
        boost: ok ? 50 : 0,
        info: `domain ${p.domain.join(" | ") || "any"} → range ${p.range.join(" | ") || "any"}`,
      };
    });
  }
  return { from: word.from, options, validFor: /^[\w:.-]*$/ };
}

// --- the editor -------------------------------------------------------------------------------------
let timer = null;
let running = 0;
let diffPage = 1;
let lastResult = null;

const liveLinter = linter(() => (lastResult ? diagnosticsOf(lastResult) : []), { delay: 1e9 });

const view = new EditorView({
  parent: $("ed-editor"),
  state: EditorState.create({
    doc: $("ed-initial").value,
    extensions: [
      basicSetup,
      xml(),
      xmlLanguage.data.of({ autocomplete: ontologyCompletion }),
      autocompletion({ activateOnTyping: true }),
      lintGutter(),
      liveLinter,
      EditorView.updateListener.of((update) => {
        if (update.docChanged) schedule();
      }),
    ],
  }),
});

function schedule() {
  clearTimeout(timer);
  setStatus("editing…", "busy");
  timer = setTimeout(runPreview, DEBOUNCE_MS);
}

function diagnosticsOf(result) {
  const doc = view.state.doc;
  return (result.diagnostics || []).map((d) => {
    const line = doc.line(Math.min(Math.max(d.line || 1, 1), doc.lines));
    const count = d.records > 1 ? ` (${d.records} records)` : "";
    return {
      from: line.from,
      to: line.to,
      severity: d.severity === "error" ? "error" : "warning",
      message: `${d.message}${count}`,
    };
  });
}

function request() {
  const own = [];
  const pasted = $("ed-record").value;
  if (pasted.trim()) own.push({ name: "pasted-record.xml", text: pasted });
  for (const file of uploaded) own.push(file);
  return {
    datasource: $("ed-datasource").value,
    name: $("ed-name").value,
    text: view.state.doc.toString(),
    sample: Number($("ed-sample").value) || 50,
    ids: $("ed-ids").value.split(/[\s,]+/).filter(Boolean),
    records: own,
    policy: $("ed-policy").value,
    terms: $("ed-terms").value,
    diff_page: diffPage,
  };
}

async function runPreview() {
  const ticket = ++running;
  const started = performance.now();
  setStatus("running…", "busy");
  try {
    const result = await api("POST", "/api/preview", request());
    if (ticket !== running) return; // a newer edit is on its way
    lastResult = result;
    view.dispatch(setDiagnostics(view.state, diagnosticsOf(result)));
    render(result);
    const ms = Math.round(performance.now() - started);
    app.dataset.previews = String(Number(app.dataset.previews || 0) + 1);
    app.dataset.lastMs = String(ms);
    if (!result.ok) setStatus(`does not compile (${ms} ms)`, "failed");
    else {
      const s = result.summary;
      const problems = result.diagnostics.length;
      setStatus(
        `${s.records} records: ${s.failed} failed, ${s.triples} triples, ${plural(problems, "problem")} (${ms} ms)`,
        s.failed || result.diagnostics.some((d) => d.severity === "error") ? "failed" : "ok",
      );
    }
  } catch (error) {
    if (ticket === running) setStatus(`error: ${error.message}`, "failed");
  }
}

// --- rendering of one live result -------------------------------------------------------------------
function render(result) {
  renderProblems(result);
  if (!result.ok) {
    replace($("tab-records"), el("div", { class: "error", id: "compile-error" }, result.compile_error));
    for (const id of ["tab-coverage", "tab-diff", "tab-ontology"]) replace($(id));
    return;
  }
  renderRecords(result);
  renderCoverage(result.coverage);
  renderDiff(result.diff);
  renderOntology(result.ontology);
}

function renderProblems(result) {
  const items = (result.diagnostics || []).map((d) =>
    el(
      "li",
      { class: `diag ${d.severity}`, "data-line": d.line || "" },
      el("b", {}, d.severity),
      " ",
      d.line ? el("a", { href: "#", onclick: (ev) => (ev.preventDefault(), goTo(d.line)) }, `line ${d.line}`) : "",
      ": ",
      d.message,
      d.records > 1 ? ` (${d.records} records)` : "",
    ),
  );
  replace(
    $("tab-problems"),
    el("p", { id: "problem-count" }, plural(items.length, "problem")),
    el("ul", { id: "problems" }, items),
  );
  document.querySelector('[data-tab="problems"]').textContent = `Problems (${items.length})`;
}

function goTo(line) {
  const target = view.state.doc.line(Math.min(line, view.state.doc.lines));
  view.dispatch({ selection: { anchor: target.from }, scrollIntoView: true });
  view.focus();
}

function renderRecords(result) {
  const s = result.summary;
  const rows = result.records.map((r, n) =>
    el(
      "tr",
      { class: `record-row ${r.status}`, "data-record-id": r.record_id },
      el("td", {}, el("a", { href: `#rec-${n}`, onclick: (ev) => (ev.preventDefault(), openRecord(n)) }, r.original_id || r.record_id)),
      el("td", { class: "status" }, r.status),
      el("td", {}, r.triples ?? ""),
      el("td", {}, r.warnings.length),
      el("td", {}, r.issues.length),
    ),
  );
  const details = result.records.map((r, n) =>
    el(
      "details",
      { class: "rec", id: `rec-${n}` },
      el("summary", {}, `${r.original_id || r.record_id}: ${r.status}`),
      r.error ? el("div", { class: "error" }, `${r.error.message} ${r.error.location || ""}`) : "",
      r.graph.length ? el("div", { class: "graph" }, r.graph.map(renderEntity)) : "",
      el("details", {}, el("summary", {}, `output (${r.format})`), el("pre", { class: "output" }, r.output)),
      el("details", {}, el("summary", {}, "source"), el("pre", { class: "source" }, r.source)),
    ),
  );
  replace(
    $("tab-records"),
    el(
      "p",
      { id: "records-summary" },
      `${s.records} of ${s.in_version} records of ${result.unit}${result.version ? " @ " + result.version : ""}; ` +
        `${s.failed} failed; ${s.triples} triples${result.policy ? "; policy " + result.policy : ""}`,
    ),
    el(
      "table",
      { id: "records-table" },
      el("thead", {}, el("tr", {}, ["record", "status", "triples", "warnings", "ontology"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows),
    ),
    details,
  );
}

function openRecord(n) {
  const details = $(`rec-${n}`);
  details.open = true;
  const panel = $("ed-results"); // scroll the results only, not the page
  panel.scrollTop = details.getBoundingClientRect().top - panel.getBoundingClientRect().top + panel.scrollTop;
}

function renderEntity(entity) {
  return el(
    "div",
    { class: "entity" },
    el("b", {}, entity.label || entity.name),
    " ",
    el("span", { class: "types" }, entity.types.join(", ")),
    entity.label ? el("div", { class: "iri" }, el("small", {}, entity.name)) : "",
    entity.statements.length
      ? el(
          "table",
          {},
          entity.statements.map((st) =>
            el("tr", {}, el("td", {}, st.property), el("td", {}, st.literal ? `"${st.value}"` : st.value)),
          ),
        )
      : "",
  );
}

function renderCoverage(coverage) {
  const rows = coverage.paths.map((p) =>
    el(
      "tr",
      { class: `path ${p.read === true ? "read" : p.read === false ? "unread" : "unknown"}` },
      el("td", {}, el("code", {}, p.path)),
      el("td", {}, p.records),
      el("td", { class: "reads" }, p.read === true ? "read" : p.read === false ? "missed" : "?"),
      el("td", {}, p.examples.join(" · ")),
    ),
  );
  replace(
    $("tab-coverage"),
    el(
      "p",
      { id: "coverage-summary" },
      `${coverage.records} records: ${coverage.read} paths read, ${coverage.missed} missed (by ${coverage.method})`,
    ),
    el(
      "table",
      { id: "coverage-table" },
      el("thead", {}, el("tr", {}, ["path", "records", "draft", "examples"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows),
    ),
  );
}

function renderDiff(diff) {
  if (!diff.available) {
    replace($("tab-diff"), el("p", { id: "diff-summary" }, diff.note));
    return;
  }
  const counts = Object.entries(diff.counts)
    .filter(([, n]) => n)
    .map(([status, n]) => `${n} ${status.replace("_", " ")}`)
    .join(", ");
  const groups = diff.groups.map((g) =>
    el(
      "details",
      { class: "diff-group", "data-predicate": g.predicate },
      el("summary", {}, el("code", {}, g.predicate), ` +${g.added} −${g.removed} in ${plural(g.records, "record")}`),
      el(
        "pre",
        {},
        g.statements.map((s) =>
          el("div", { class: s.sign === "+" ? "sign-plus" : "sign-minus" }, `${s.sign} ${s.record_id}: ${s.statement}`),
        ),
        g.more ? `… ${g.more} more` : "",
      ),
    ),
  );
  const pager = el(
    "p",
    { id: "diff-pager" },
    el("button", { type: "button", id: "diff-prev", disabled: diff.page <= 1 ? "" : null, onclick: () => page(-1) }, "‹"),
    ` page ${diff.page} of ${diff.pages} (${plural(diff.predicates, "predicate")}) `,
    el("button", { type: "button", id: "diff-next", disabled: diff.page >= diff.pages ? "" : null, onclick: () => page(1) }, "›"),
  );
  replace(
    $("tab-diff"),
    el(
      "p",
      { id: "diff-summary" },
      `${diff.records} records against ${diff.against}: ${counts || "no change"}; triples +${diff.added} −${diff.removed}`,
    ),
    pager,
    groups,
  );
}

function page(step) {
  diffPage = Math.max(1, diffPage + step);
  runPreview();
}

function renderOntology(onto) {
  const rows = onto.issues.map((i) =>
    el(
      "tr",
      { class: `issue ${i.severity}` },
      el("td", {}, i.severity),
      el("td", {}, i.kind),
      el("td", {}, el("code", {}, i.property)),
      el("td", {}, i.message),
      el("td", {}, i.triples),
      el("td", {}, i.records.length),
    ),
  );
  replace(
    $("tab-ontology"),
    el("p", { id: "ontology-summary" }, `ontology check: ${plural(onto.errors, "error")}, ${plural(onto.warnings, "warning")}`),
    rows.length ? el("table", { id: "ontology-issues" }, el("tbody", {}, rows)) : "",
  );
}

// --- the source tree --------------------------------------------------------------------------------
function treeOf(paths) {
  const root = { children: new Map() };
  for (const p of paths) {
    let node = root;
    const steps = p.path.split("/").filter(Boolean);
    steps.forEach((step, i) => {
      if (!node.children.has(step)) node.children.set(step, { step, steps: steps.slice(0, i + 1), children: new Map() });
      node = node.children.get(step);
    });
    node.info = p;
  }
  return root;
}

function insertPath(steps) {
  const text = steps.length === 1 ? `//${steps[0]}` : steps.slice(1).join("/");
  const { from, to } = view.state.selection.main;
  view.dispatch({ changes: { from, to, insert: text }, selection: { anchor: from + text.length } });
  view.focus();
}

function renderTree(node) {
  const items = [...node.children.values()].map((child) => {
    const info = child.info || { records: "", examples: [] };
    return el(
      "li",
      {},
      el(
        "span",
        { class: "node", "data-path": "/" + child.steps.join("/"), title: "insert at the cursor", onclick: () => insertPath(child.steps) },
        child.step,
      ),
      el("span", { class: "count" }, info.records),
      info.examples.length ? el("span", { class: "ex" }, info.examples.slice(0, 2).join(" · ")) : "",
      child.children.size ? renderTree(child) : "",
    );
  });
  return el("ul", {}, items);
}

let prefixes = {};
async function loadTree() {
  try {
    const data = await api("GET", `/api/source-tree?datasource=${encodeURIComponent($("ed-datasource").value)}`);
    prefixes = data.prefixes;
    replace($("ed-tree"), el("p", { class: "hint", id: "tree-summary" }, `${data.records} records of ${data.version}`), renderTree(treeOf(data.paths)));
  } catch (error) {
    replace($("ed-tree"), el("p", { class: "error" }, error.message));
  }
}

// --- new mapping, drafts, promote, history ----------------------------------------------------------
function skeleton() {
  const ns = Object.entries({ ...prefixes, ...(ontology ? pick(ontology.prefixes, ["crm", "crmpe", "rdfs"]) : {}) })
    .map(([p, uri]) => `        <namespace prefix="${p}" uri="${uri}"/>`)
    .join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<x3ml version="1.0" source_type="xpath">
    <namespaces>
${ns}
    </namespaces>
    <mappings>
        <mapping>
            <domain>
                <source_node></source_node>
                <target_node>
                    <entity>
                        <type></type>
                        <instance_generator name="UUID"/>
                    </entity>
                </target_node>
            </domain>
        </mapping>
    </mappings>
</x3ml>
`;
}
function pick(object, keys) {
  return Object.fromEntries(keys.filter((k) => k in object).map((k) => [k, object[k]]));
}

function setText(text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

async function loadDrafts() {
  const data = await api("GET", "/api/drafts");
  const select = $("ed-drafts");
  replace(select, el("option", { value: "" }, "saved drafts…"), data.drafts.map((d) => el("option", { value: d.name }, `${d.name} (${d.saved})`)));
}

function draftName() {
  return $("ed-name").value.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]/g, "_") || "draft";
}

async function saveDraft() {
  try {
    const saved = await api("POST", "/api/drafts", {
      name: draftName(),
      datasource: $("ed-datasource").value,
      mapping: $("ed-name").value,
      text: view.state.doc.toString(),
      policy: $("ed-policy").value,
      terms: $("ed-terms").value,
    });
    setStatus(`draft ${saved.name} saved at ${saved.saved}`, "ok");
    loadDrafts();
  } catch (error) {
    setStatus(`not saved: ${error.message}`, "failed");
  }
}

async function openDraft(name) {
  if (!name) return;
  const draft = await api("GET", `/api/drafts?name=${encodeURIComponent(name)}`);
  $("ed-name").value = draft.mapping || `${name}.x3ml`;
  if (draft.datasource) $("ed-datasource").value = draft.datasource;
  $("ed-policy").value = draft.policy || "";
  $("ed-terms").value = draft.terms || "";
  setText(draft.text || "");
}

async function promote() {
  try {
    const done = await api("POST", "/api/promote", {
      name: $("ed-name").value,
      text: view.state.doc.toString(),
      message: $("ed-message").value,
      datasource: $("ed-datasource").value,
      policy: $("ed-policy").value,
    });
    const sent = done.events.filter((e) => e.sent).map((e) => e.datasource);
    const unsent = done.events.filter((e) => !e.sent).map((e) => e.datasource);
    const said = [];
    if (sent.length) said.push(`reprocessing announced for ${sent.join(", ")}`);
    if (unsent.length) said.push(`not announced to Airflow: ${unsent.join(", ")}`);
    if (!done.affected.length) said.push("no datasource uses it yet");
    setStatus(`promoted ${done.name} as version ${done.version}; ${said.join("; ")}`, "ok");
    const note = el("div", { id: "promote-result", class: "checks ok" }, `Version ${done.version} of ${done.name} by ${done.user}: ${done.message}. ` +
      `Affected datasources: ${done.affected.join(", ") || "none"}. ${done.note || ""}`);
    await showHistory();
    $("tab-history").prepend(note);
  } catch (error) {
    setStatus(`not promoted: ${error.message}`, "failed");
  }
}

async function showHistory() {
  show("history");
  const name = $("ed-name").value;
  try {
    const data = await api("GET", `/api/history?name=${encodeURIComponent(name)}`);
    const rows = data.versions.slice().reverse().map((v) =>
      el(
        "tr",
        { class: "version", "data-version": v.version },
        el("td", {}, v.version),
        el("td", {}, v.time),
        el("td", {}, v.user),
        el("td", {}, v.message),
        el(
          "td",
          {},
          v.version > 1 ? el("button", { type: "button", class: "show-diff", onclick: () => showDiff(name, v.version - 1, v.version) }, "diff") : "",
          " ",
          el("button", { type: "button", class: "rollback", onclick: () => rollback(name, v.version) }, "roll back to this"),
        ),
      ),
    );
    replace(
      $("tab-history"),
      el("p", { id: "history-summary" }, `${name}: ${plural(data.versions.length, "version")}`),
      el("table", { id: "history-table" }, el("tbody", {}, rows)),
      el("pre", { id: "history-diff" }),
    );
  } catch (error) {
    replace($("tab-history"), el("p", { class: "error" }, error.message));
  }
}

async function showDiff(name, a, b) {
  const data = await api("GET", `/api/history?name=${encodeURIComponent(name)}&diff=${a}..${b}`);
  replace($("history-diff"), data.diff.map((line) => el("div", { class: line.startsWith("+") ? "sign-plus" : line.startsWith("-") ? "sign-minus" : "" }, line)));
}

async function rollback(name, version) {
  try {
    const done = await api("POST", "/api/rollback", { name, version, message: $("ed-message").value });
    setStatus(`${name} rolled back: version ${done.version} has the content of version ${version}`, "ok");
    const current = await api("GET", `/api/history?name=${encodeURIComponent(name)}&version=${done.version}`);
    setText(current.content);
    showHistory();
  } catch (error) {
    setStatus(`not rolled back: ${error.message}`, "failed");
  }
}

// --- tabs and wiring --------------------------------------------------------------------------------
function show(tab) {
  for (const button of document.querySelectorAll("#ed-tabs button")) button.classList.toggle("active", button.dataset.tab === tab);
  for (const panel of document.querySelectorAll("#ed-results .tab")) panel.hidden = panel.id !== `tab-${tab}`;
}
for (const button of document.querySelectorAll("#ed-tabs button")) {
  button.addEventListener("click", () => (button.dataset.tab === "history" ? showHistory() : show(button.dataset.tab)));
}

const uploaded = [];
$("ed-record-file").addEventListener("change", async (event) => {
  uploaded.length = 0;
  for (const file of event.target.files) uploaded.push({ name: file.name, text: await file.text() });
  schedule();
});
for (const id of ["ed-sample", "ed-policy", "ed-terms", "ed-ids", "ed-record", "ed-name"]) $(id).addEventListener("change", schedule);
$("ed-datasource").addEventListener("change", () => {
  loadTree();
  schedule();
});
$("ed-new-x3ml").addEventListener("click", () => {
  if (!$("ed-name").value.endsWith(".x3ml")) $("ed-name").value = "draft.x3ml";
  setText(skeleton());
});
$("ed-save").addEventListener("click", saveDraft);
$("ed-drafts").addEventListener("change", (event) => openDraft(event.target.value));
$("ed-promote").addEventListener("click", promote);
$("ed-history-button").addEventListener("click", showHistory);

// for tests and for the curious: the editor view and a way to put the cursor after a text
window.contentcloudEditor = {
  view,
  cursorAfter(text, nth = 0) {
    const doc = view.state.doc.toString();
    let at = -1;
    for (let i = 0; i <= nth; i++) at = doc.indexOf(text, at + 1);
    if (at < 0) return false;
    view.dispatch({ selection: { anchor: at + text.length } });
    view.focus();
    return true;
  },
  text: () => view.state.doc.toString(),
  runPreview,
};

loadTree();
loadDrafts().catch(() => {});
runPreview(); // a draft named in the URL is already in the editor (the server put it there)
