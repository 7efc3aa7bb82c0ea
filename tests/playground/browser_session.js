// A real browser session on the playground page, driven by puppeteer-core
// over headless Chromium: typing into the editor (key by key) and seeing the
// diagnostic appear at its place, running the tests, pasting an event and
// seeing its decision, explanation tree and citations, diffing two versions
// over a sample log, and a literate (.edict.md) policy edited, checked and
// tested. Each step has its own time limit. run_playground_tests.py starts
// the server, finds or installs puppeteer-core (scripts/node_deps.sh) and
// runs this with:
//
//   node browser_session.js NODE_MODULES CHROMIUM BASE_URL PROFILE_DIR [SCREENSHOT_DIR]
//
// One line per check on stdout ("ok: ..." or "FAIL: ..."); exit 1 on any
// failure, 2 when the browser cannot be started.
"use strict";

const path = require("path");

const [nodeModules, chromiumPath, base, profile, screenshots] = process.argv.slice(2);
const puppeteer = require(path.join(nodeModules, "puppeteer-core"));

const STEP_MS = 20000; // one step: typing, a request and its rendering
let failures = 0;

function check(cond, what) {
  console.log((cond ? "ok: " : "FAIL: ") + what);
  if (!cond) failures += 1;
  return cond;
}

// Runs `fn` with a time limit; a step past it fails with its name.
async function step(name, fn, ms = STEP_MS) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step "${name}" took longer than ${ms} ms`)), ms);
  });
  try {
    await Promise.race([fn(), limit]);
  } catch (e) {
    check(false, `${name}: ${e.message}`);
  } finally {
    clearTimeout(timer);
  }
}

const LITERATE = `# My draft rule, in prose and code

The rule below needs a licence for a large cluster rented to a customer
headquartered in a D:5 country.

\`\`\`edict
import "common/events.edict"
import "common/outcomes.edict.md"
import "common/country_groups.edict.md"
import "common/examples.edict.md"

policy "Literate draft"
  version "draft"
  status proposed
\`\`\`

A cluster of a thousand chips or more is large.

\`\`\`edict
rule large_d5_cluster on rental
  effective 2025-03-01
  cite "15 CFR 744.23(a)(3) (illustrative)"
  license_required "{event.chip_count} chips for {event.customer_hq}"
  when event.chip_count >= 1000 and event.customer_hq in D5_2026
\`\`\`

\`\`\`edict
test "a large cluster for a D:5 customer" {
  given us_rental with { time: 2025-06-03T12:00:00Z, customer_hq: "CN", parent_hq: "CN", chip_count: 2048 }
  expect license_required by large_d5_cluster
  given us_rental
  expect no_license_required
}
\`\`\`
`;

// Line and column (1-based, in code points) of `offset` in `text`.
function lineColumn(text, offset) {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = Array.from(before.slice(before.lastIndexOf("\n") + 1)).length + 1;
  return { line, column };
}

async function editorText(page) {
  return page.$eval("#policy", (e) => e.value);
}

// Puts the caret at `offset` of the editor, as a click there would.
async function caretAt(page, offset) {
  await page.$eval("#policy", (e, at) => { e.focus(); e.setSelectionRange(at, at); }, offset);
}

// Replaces a textarea's text by a real paste: the text goes on the clipboard
// (copied from a scratch element), then select all and Ctrl+V, so the
// browser fires its own paste and input events.
async function paste(page, selector, text) {
  await page.evaluate((t) => {
    const scratch = document.createElement("textarea");
    scratch.value = t;
    document.body.append(scratch);
    scratch.select();
    const copied = document.execCommand("copy");
    scratch.remove();
    if (!copied) throw new Error("the browser refused to copy to the clipboard");
  }, text);
  await page.focus(selector);
  await page.$eval(selector, (e) => e.select());
  await page.keyboard.down("Control");
  await page.keyboard.press("KeyV");
  await page.keyboard.up("Control");
}

// Waits for the check that follows the last keystroke to have been rendered:
// past the page's 300 ms pause after typing, the latest check started
// (data-checking) is the one that finished last (data-checked).
async function settled(page) {
  await new Promise((resolve) => setTimeout(resolve, 450));
  await page.waitForFunction(() => document.body.dataset.checked === document.body.dataset.checking,
    { timeout: STEP_MS });
}

// The marks over the editor's text: each diagnostic's range, where it is.
async function marks(page) {
  return page.$$eval("mark.diag-mark", (ms) => ms.map((m) => ({
    severity: m.classList.contains("error") ? "error" : m.classList.contains("warning") ? "warning" : "other",
    line: Number(m.dataset.line), column: Number(m.dataset.column), text: m.textContent,
    top: m.getBoundingClientRect().top, left: m.getBoundingClientRect().left,
  })));
}

async function lineTop(page, line) {
  return page.$eval(`#line-${line}`, (e) => e.getBoundingClientRect().top);
}

async function typeDiagnostic(page) {
  await step("the page loads and checks its policy", async () => {
    await page.goto(base + "/", { waitUntil: "load", timeout: STEP_MS });
    await page.waitForSelector("body[data-ready='1']", { timeout: STEP_MS });
    const status = await page.$eval("#check-status", (e) => e.textContent);
    check(status === "no problems", `the default policy checks clean: "${status}"`);
  });
  await step("typing a misspelt field marks it where it was typed", async () => {
    const text = await editorText(page);
    const when = text.indexOf("when event.chip_count");
    check(when > 0, "the default policy has a `when` clause");
    const lineEnd = text.indexOf("\n", when);
    await caretAt(page, lineEnd);
    await page.keyboard.type(" and event.hourz > 1", { delay: 25 });
    await settled(page);
    const typed = await editorText(page);
    const at = lineColumn(typed, typed.indexOf("hourz"));
    const errors = (await marks(page)).filter((m) => m.severity === "error");
    check(errors.length === 1 && errors[0].line === at.line && errors[0].column === at.column,
      `one error marked at ${at.line}:${at.column}: ${JSON.stringify(errors)}`);
    if (errors.length === 1) {
      check(errors[0].text.startsWith("hourz"), `the mark covers the typed name: "${errors[0].text}"`);
      const top = await lineTop(page, at.line);
      check(Math.abs(errors[0].top - top) < 4, `the mark is drawn on line ${at.line} (${errors[0].top} vs ${top})`);
    }
    const flagged = await page.$eval(`#line-${at.line}`, (e) => e.className);
    check(flagged === "error", `line ${at.line}'s number is flagged: "${flagged}"`);
    const items = await page.$$eval("li.diag.error", (ls) => ls.map((l) => l.textContent));
    check(items.length === 1 && /hours/.test(items[0]), `the list says what and suggests \`hours\`: ${items}`);
  });
  await step("finishing the word clears the mark", async () => {
    const text = await editorText(page);
    await caretAt(page, text.indexOf("hourz") + "hour".length);
    await page.keyboard.press("Delete");
    await page.keyboard.type("s", { delay: 25 });
    await settled(page);
    const left = await marks(page);
    const status = await page.$eval("#check-status", (e) => e.textContent);
    check(left.length === 0 && status === "no problems", `no mark and no problems: ${status} ${JSON.stringify(left)}`);
  });
}

async function runTests(page) {
  await step("the policy's tests run from the Run tests tab", async () => {
    await page.click("button[data-tab='test']");
    await page.evaluate(() => { delete document.body.dataset.tested; });
    await page.click("#run-test");
    await page.waitForSelector("body[data-tested='1']", { timeout: STEP_MS });
    const summary = await page.$eval("#test-summary", (e) => e.textContent);
    check(summary === "2 of 2 steps passed", `the summary: "${summary}"`);
    const rows = await page.$$eval("#test-result tr.passed", (rs) => rs.length);
    check(rows === 2, `one passed row per step: ${rows}`);
  });
  await step("a wrong expectation fails its step on the page", async () => {
    const text = await editorText(page);
    const at = text.indexOf("expect no_license_required");
    await caretAt(page, at + "expect ".length);
    for (let i = 0; i < "no_".length; ++i) await page.keyboard.press("Delete");
    await settled(page);
    await page.evaluate(() => { delete document.body.dataset.tested; });
    await page.click("#run-test");
    await page.waitForSelector("body[data-tested='1']", { timeout: STEP_MS });
    const summary = await page.$eval("#test-summary", (e) => e.textContent);
    const failed = await page.$$eval("#test-result tr.failed", (rs) => rs.map((r) => r.textContent));
    check(summary === "1 of 2 steps passed" && failed.length === 1 && /no_license_required/.test(failed[0]),
      `one step fails, expecting license_required and getting no_license_required: ${summary} ${failed}`);
    await caretAt(page, at + "expect ".length);
    await page.keyboard.type("no_");
    await settled(page);
  });
}

const EVENT = JSON.stringify({
  kind: "rental", id: "r-1", time: "2025-06-01T09:00:00Z", provider: "ExampleCloud", provider_hq: "US",
  provider_parent_hq: "US", datacenter: "MY", region: "my-1", customer_id: "c-1", customer_name: "Example Labs",
  customer_hq: "CN", parent_hq: "CN", chip: "H100-SXM5-80GB", chip_count: 2048, hours: 720, purpose: "training",
  training_ops: 1e24, training_data: "general", end_user_type: "commercial", end_use: "civil",
  entity_listed: false, listed_ownership: 0,
});

async function explainEvent(page) {
  await step("a pasted event shows its decision, explanation tree and citations", async () => {
    await page.click("button[data-tab='explain']");
    await paste(page, "#event", EVENT);
    check((await page.$eval("#event", (e) => e.value)) === EVENT, "the event is pasted whole");
    await page.evaluate(() => { delete document.body.dataset.explained; });
    await page.click("#run-explain");
    await page.waitForSelector("body[data-explained='1']", { timeout: STEP_MS });
    const decision = await page.$$eval(".explanation", (xs) => xs.map((x) => x.dataset.decision));
    check(decision.length === 1 && decision[0] === "license_required", `the decision: ${decision}`);
    const fired = await page.$$eval("#explain-result tr.fired", (rs) => rs.map((r) => r.textContent));
    check(fired.length === 1 && fired[0].includes("large_d5_cluster") &&
      fired[0].includes("15 CFR 744.23(a)(3) (illustrative)"), `the fired rule with its citation: ${fired}`);
    const tree = await page.$eval("#explain-result pre.tree", (e) => e.textContent);
    check(tree.includes("event.chip_count >= 1000") && tree.includes("2048") && tree.includes("D5_2026"),
      `the explanation tree shows the condition and its values: ${tree.slice(0, 400)}`);
  });
}

async function diffVersions(page) {
  await step("two versions diffed over a pasted sample log", async () => {
    await page.click("button[data-tab='diff']");
    const old = await editorText(page);
    await paste(page, "#new-policy", old.replace(">= 1000", ">= 500"));
    const small = EVENT.replace('"chip_count":2048', '"chip_count":600').replace('"r-1"', '"r-2"');
    const tiny = EVENT.replace('"chip_count":2048', '"chip_count":8').replace('"r-1"', '"r-3"');
    await paste(page, "#log", [EVENT, small, tiny].join("\n"));
    await page.evaluate(() => { delete document.body.dataset.diffed; });
    await page.click("#run-diff");
    await page.waitForSelector("body[data-diffed='1']", { timeout: STEP_MS });
    const summary = await page.$eval("#diff-summary", (e) => e.textContent);
    check(summary === "1 of 3 events change", `the diff's summary: "${summary}"`);
    const records = await page.$$eval("#diff-result pre.tree", (ps) => ps.map((p) => p.textContent).join("\n"));
    check(records.includes('"r-2"') && !records.includes('"r-1"') && !records.includes('"r-3"'),
      `only r-2 changes: ${records.slice(0, 400)}`);
    if (screenshots) {
      await page.$$eval("textarea", (ts) => ts.forEach((t) => { t.setSelectionRange(0, 0); t.scrollTop = 0; t.scrollLeft = 0; }));
      await page.screenshot({ path: path.join(screenshots, "playground-diff.png") });
    }
  });
}

async function literate(page) {
  await step("a literate policy (.edict.md) is checked as one", async () => {
    await page.click("button[data-tab='explain']");
    await paste(page, "#policy", LITERATE);
    await settled(page);
    const status = await page.$eval("#check-status", (e) => e.textContent);
    check(status === "no problems", `the literate policy checks clean: "${status}"`);
  });
  await step("a mistake in a literate policy's code block is marked at its place", async () => {
    const text = await editorText(page);
    const at = text.indexOf("chip_count >= 1000");
    await caretAt(page, at + "chip_c".length);
    await page.keyboard.press("Delete"); // chip_cunt
    await settled(page);
    const typed = await editorText(page);
    const where = lineColumn(typed, typed.indexOf("chip_cunt"));
    const errors = (await marks(page)).filter((m) => m.severity === "error");
    check(errors.length === 1 && errors[0].line === where.line && errors[0].column === where.column &&
      errors[0].text.startsWith("chip_cunt"), `one error at ${where.line}:${where.column}: ${JSON.stringify(errors)}`);
    const items = await page.$$eval("li.diag.error", (ls) => ls.map((l) => l.textContent));
    check(items.length === 1 && items[0].startsWith(`playground.edict.md:${where.line}:${where.column}`) &&
      items[0].includes("chip_count"), `the list names the literate file and suggests chip_count: ${items}`);
    await caretAt(page, at + "chip_c".length);
    await page.keyboard.type("o");
    await settled(page);
    check((await marks(page)).length === 0, "putting the letter back clears it");
  });
  await step("a literate policy's tests run", async () => {
    await page.click("button[data-tab='test']");
    await page.evaluate(() => { delete document.body.dataset.tested; });
    await page.click("#run-test");
    await page.waitForSelector("body[data-tested='1']", { timeout: STEP_MS });
    const summary = await page.$eval("#test-summary", (e) => e.textContent);
    check(summary === "2 of 2 steps passed", `the literate policy's tests: "${summary}"`);
    const lines = await page.$$eval("#test-result tr.passed td:nth-child(2)", (ts) => ts.map((t) => t.textContent));
    const given = LITERATE.split("\n").findIndex((l) => l.includes("given us_rental with")) + 1;
    check(lines.some((l) => l.includes(`(line ${given})`)), `steps point at their lines in the .edict.md: ${lines}`);
  });
}

async function main() {
  let browser;
  try {
    browser = await puppeteer.launch({
      executablePath: chromiumPath,
      headless: true,
      pipe: true, // DevTools over a pipe: Chromium exits when this process does, however it ends
      userDataDir: profile,
      timeout: STEP_MS,
      protocolTimeout: STEP_MS,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
        "--disable-background-networking", "--disable-sync", "--window-size=1400,1000"],
      defaultViewport: { width: 1400, height: 1000 },
    });
  } catch (e) {
    console.log("FAIL: chromium did not start under puppeteer-core: " + e.message);
    process.exit(2);
  }
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(STEP_MS);
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await typeDiagnostic(page);
    await runTests(page);
    await explainEvent(page);
    await diffVersions(page);
    await literate(page);
    check(pageErrors.length === 0, `the page raised no script error: ${pageErrors}`);
  } finally {
    await browser.close();
  }
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.log("FAIL: " + (e && e.stack ? e.stack : e));
  process.exit(1);
});
