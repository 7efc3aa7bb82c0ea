// The VS Code extension's client (editors/vscode/extension.js) run under
// plain Node with the real vscode-languageclient from npm and a stand-in for
// the `vscode` module (vscode_stub.js), talking to a real `edict lsp`:
// activation starts the server with the configured path and import paths;
// documents opened and typed into get their diagnostics through the
// library's diagnostic collection; hover, definition, completion, formatting
// and the outline answer through the providers the library registers, as VS
// Code would call them; a literate file is checked too; deactivation stops
// the server. run_vscode_tests.py runs it with NODE_PATH set to the
// packages scripts/node_deps.sh installed:
//
//   node run_vscode_client.js EDICT POLICIES WORK_DIR
//
// One line per check ("ok: ..." / "FAIL: ..."); exit 1 on any failure.
"use strict";

const Module = require("module");
const childProcess = require("child_process");
const fs = require("fs");
const path = require("path");

const [edict, policies, work] = process.argv.slice(2);
const STEP_MS = 20000;

// `require("vscode")`, from the extension and from the library, is the stand-in.
const stub = require("./vscode_stub.js");
const originalLoad = Module._load;
Module._load = function load(request, parent, isMain) {
  if (request === "vscode") return stub;
  return originalLoad.call(this, request, parent, isMain);
};
// Which processes the client starts, to see the server stop at the end.
const spawned = [];
const originalSpawn = childProcess.spawn;
childProcess.spawn = function spawn(command, args, options) {
  const child = originalSpawn.call(this, command, args, options);
  spawned.push({ command, args, pid: child.pid, child });
  return child;
};

const vscode = stub;
const harness = stub.__harness;
let failures = 0;

function check(cond, what) {
  console.log((cond ? "ok: " : "FAIL: ") + what);
  if (!cond) failures += 1;
  return cond;
}

let aborted = false; // a failed activation leaves nothing to test
async function step(name, fn) {
  if (aborted) return check(false, `${name}: not run, activation failed`);
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`took longer than ${STEP_MS} ms`)), STEP_MS);
  });
  try {
    await Promise.race([fn(), limit]);
  } catch (e) {
    check(false, `${name}: ${e && e.stack ? e.stack : e}`);
  } finally {
    clearTimeout(timer);
  }
}

// Resolves with the diagnostics the library hands VS Code for `document`
// once `accept` takes them (each publish replaces the last).
function diagnosticsFor(document, accept) {
  return new Promise((resolve) => {
    const test = () => {
      for (const c of harness.registered.collections) {
        const d = c.get(document.uri);
        if (d && accept(d)) return d;
      }
      return null;
    };
    const now = test();
    if (now) return resolve(now);
    const sub = harness.registered.diagnosticsChanged.event(() => {
      const d = test();
      if (d) { sub.dispose(); resolve(d); }
    });
  });
}

function providerOf(kind) {
  const entries = harness.registered.providers.filter((p) => p.kind === kind);
  return entries.length ? entries[entries.length - 1].impl : null;
}

function positionOf(text, needle, extra = 0) {
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`no ${needle} in the document`);
  const before = text.slice(0, at + extra).split("\n");
  return new vscode.Position(before.length - 1, before[before.length - 1].length);
}

const token = () => new vscode.CancellationTokenSource().token;
const errorsOf = (ds) => ds.filter((d) => d.severity === vscode.DiagnosticSeverity.Error);
const hoverText = (h) => (h ? h.contents.map((c) => (typeof c === "string" ? c : c.value)).join("\n") : "");

// Imports resolve from the file's folder; the import path lets them reach
// the library (the server refuses reads outside the allowed folders).
const LIBRARY = path.relative(work, path.join(policies, "common"));
const RULE = `import "${LIBRARY}/events.edict"
import "${LIBRARY}/outcomes.edict.md"
import "${LIBRARY}/country_groups.edict.md"

policy "Large clusters (draft)"
  version "draft"
  status proposed

rule large_d5_cluster on rental
  effective 2025-03-01
  cite "15 CFR 744.23(a)(3) (illustrative)"
  license_required "{event.chip_count} chips for {event.customer_hq}"
  when event.chip_count >= 1000 and event.customer_hq in D5_2026 and event.customer_hq != "MO"
`;

async function main() {
  fs.mkdirSync(work, { recursive: true });
  const extensionPath = path.resolve(__dirname, "../../editors/vscode");
  const manifest = JSON.parse(fs.readFileSync(path.join(extensionPath, "package.json"), "utf8"));
  const installed = require("vscode-languageclient/package.json").version;
  check(require("vscode-languageclient/node") && manifest.dependencies["vscode-languageclient"] === "^" + installed,
    `the library is the extension's dependency: vscode-languageclient ${installed} for ` +
    `${manifest.dependencies["vscode-languageclient"]}`);
  const extension = require(path.join(extensionPath, manifest.main));
  harness.setConfiguration({ "edict.path": edict, "edict.importPaths": [policies] });
  const context = { subscriptions: [], extensionPath, asAbsolutePath: (p) => path.join(extensionPath, p) };

  await step("activate starts `edict lsp` and initializes", async () => {
    aborted = true;
    await extension.activate(context);
    aborted = false;
    const server = spawned.find((s) => s.command === edict);
    check(server && server.args[0] === "lsp" && server.args.includes("--import-path") && server.args.includes(policies),
      `the configured edict runs \`lsp --import-path ${policies}\`: ${server && server.args.join(" ")}`);
    const registered = harness.registered.providers.map((p) => p.kind);
    for (const kind of ["Hover", "Definition", "CompletionItem", "DocumentFormattingEdit", "DocumentSymbol"])
      check(registered.includes(kind), `the library registered a ${kind} provider from the server's capabilities`);
  });

  const file = path.join(work, "large_clusters.edict");
  fs.writeFileSync(file, RULE);
  let doc;
  await step("an opened document gets its diagnostics, as you type", async () => {
    doc = harness.open(file, "edict", RULE);
    const clean = await diagnosticsFor(doc, () => true);
    check(errorsOf(clean).length === 0, `the rule importing the library checks clean: ${JSON.stringify(clean)}`);
    const typo = RULE.replace("event.chip_count >= 1000", "event.chip_cont >= 1000");
    harness.change(doc, typo);
    const ds = errorsOf(await diagnosticsFor(doc, (d) => errorsOf(d).length > 0));
    const want = positionOf(typo, "chip_cont >=");
    check(ds.length === 1 && ds[0].range.start.isEqual(want) && ds[0].range instanceof vscode.Range,
      `one error (a vscode.Range) at ${want.line}:${want.character}: ${JSON.stringify(ds)}`);
    check(ds.length === 1 && /chip_count/.test(ds[0].message) && ds[0].source !== undefined,
      `with the server's message and source: ${ds.length && ds[0].message} (${ds.length && ds[0].source})`);
    harness.change(doc, RULE);
    const fixed = await diagnosticsFor(doc, (d) => errorsOf(d).length === 0);
    check(errorsOf(fixed).length === 0, "typing the name back clears it");
  });

  await step("hover through the library's provider", async () => {
    const hover = providerOf("Hover");
    const rule = hoverText(await hover.provideHover(doc, positionOf(RULE, "large_d5_cluster", 3), token()));
    check(rule.includes("15 CFR 744.23(a)(3) (illustrative)") && rule.includes("2025-03-01") &&
      rule.includes("proposed"), `a rule's hover: citation, effective date, status: ${JSON.stringify(rule)}`);
    const mo = hoverText(await hover.provideHover(doc, positionOf(RULE, '"MO"', 1), token()));
    check(mo.includes("Macao"), `a country's hover names it: ${JSON.stringify(mo)}`);
  });

  await step("go to definition across imports", async () => {
    const definition = providerOf("Definition");
    const loc = await definition.provideDefinition(doc, positionOf(RULE, "D5_2026", 1), token());
    const first = Array.isArray(loc) ? loc[0] : loc;
    const target = first && (first.uri || first.targetUri);
    check(target && target.fsPath.endsWith(path.join("common", "country_groups.edict.md")) &&
      (first.range || first.targetRange) instanceof vscode.Range,
      `D5_2026 is defined in common/country_groups.edict.md: ${target && target.fsPath}`);
  });

  await step("completion after `event.`", async () => {
    const completion = providerOf("CompletionItem");
    const at = positionOf(RULE, "chip_count >= 1000", 0);
    const result = await completion.provideCompletionItems(doc, at, token(),
      { triggerKind: vscode.CompletionTriggerKind.TriggerCharacter, triggerCharacter: "." });
    const items = Array.isArray(result) ? result : (result ? result.items : []);
    const labels = items.map((i) => (typeof i.label === "string" ? i.label : i.label.label));
    check(labels.includes("chip_count") && labels.includes("customer_hq") && !labels.includes("when"),
      `the event's fields: ${labels.slice(0, 10)}`);
  });

  await step("formatting and the outline", async () => {
    const messy = RULE.replace("  cite \"15 CFR", "        cite \"15 CFR");
    harness.change(doc, messy);
    await diagnosticsFor(doc, () => true);
    const formatting = providerOf("DocumentFormattingEdit");
    const edits = await formatting.provideDocumentFormattingEdits(doc, { tabSize: 2, insertSpaces: true }, token());
    const messyFile = path.join(work, "messy.edict");
    fs.writeFileSync(messyFile, messy);
    const fmt = childProcess.execFileSync(edict, ["fmt", "--stdout", messyFile], { encoding: "utf8" });
    check(edits && edits.length === 1 && edits[0] instanceof vscode.TextEdit && edits[0].newText === fmt,
      `one TextEdit with \`edict fmt\`'s text: ${edits && edits.length}`);
    harness.change(doc, RULE);
    await diagnosticsFor(doc, () => true);
    const symbols = await providerOf("DocumentSymbol").provideDocumentSymbols(doc, token());
    const names = (symbols || []).map((s) => s.name);
    check(names.includes("Large clusters (draft)") && names.includes("large_d5_cluster") &&
      symbols.every((s) => s instanceof vscode.DocumentSymbol || s instanceof vscode.SymbolInformation),
      `the outline: ${names}`);
  });

  await step("a literate .edict.md document", async () => {
    const literate = "# Large clusters\n\nProse first.\n\n```edict\n" + RULE + "```\n";
    const mdFile = path.join(work, "large_clusters.edict.md");
    fs.writeFileSync(mdFile, literate);
    const md = harness.open(mdFile, "edict-markdown", literate.replace("in D5_2026", "in D5_2062"));
    const ds = errorsOf(await diagnosticsFor(md, (d) => errorsOf(d).length > 0));
    const want = positionOf(literate, "D5_2026");
    check(ds.length === 1 && ds[0].range.start.isEqual(want) && /D5_2026/.test(ds[0].message),
      `the misspelt set is one error at its markdown place ${want.line}:${want.character}: ${JSON.stringify(ds)}`);
    harness.close(md);
  });

  await step("deactivate stops the server", async () => {
    await extension.deactivate();
    const server = spawned.find((s) => s.command === edict);
    const code = server.child.exitCode !== null ? server.child.exitCode
      : await new Promise((resolve) => server.child.once("exit", (c) => resolve(c)));
    check(code === 0, `edict lsp exited with status 0 after shutdown and exit: ${code}`);
  });

  const missing = [...harness.missing].sort();
  console.log("vscode API names the library read that the stand-in does not define: " +
    (missing.length ? missing.join(", ") : "none"));
  const shown = harness.registered.messages.filter((m) => m.kind === "error");
  check(shown.length === 0, `the client showed no error message: ${JSON.stringify(shown)}`);
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.log("FAIL: " + (e && e.stack ? e.stack : e));
  process.exit(1);
});
