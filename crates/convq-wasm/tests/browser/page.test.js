// The `web` build in a real browser: www/index.html served from 127.0.0.1, Debian's Chromium
// driven headless by playwright-core, the documented example typed into the page.
// The screenshot goes to $CONVQ_SCREENSHOT (default target/wasm/screenshot-wasm.png);
// docs/screenshot-wasm.png is a copy of it.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { ROOT, serveFiles, launchChromium } = require("../support.js");

const SCREENSHOT = process.env.CONVQ_SCREENSHOT || path.join(ROOT, "target", "wasm", "screenshot-wasm.png");

// The example of the getConversations documentation, as a person would type it.
const DOCUMENTED_EXAMPLE = `{ "attributes": ["msdyn_title","msdyn_channel"],
  "agentId": "2b330c52-6844-4d36-8e05-03c78c9681dc",
  "status": [3],
  "orderBy": [{ "attributeName": "createdon", "descending": true }] }`;
const EXPECTED_OPTIONS =
  "?$select=msdyn_ocliveworkitemid,_msdyn_liveworkstreamid_value,_msdyn_lastsessionid_value,statuscode,createdon,msdyn_title,msdyn_channel" +
  "&$filter=_msdyn_activeagentid_value eq 2b330c52-6844-4d36-8e05-03c78c9681dc and statuscode eq 3" +
  "&$orderby=createdon desc,activityid asc";

test("the page compiles the documented example typed into it", async (t) => {
  const server = await serveFiles();
  t.after(() => server.close());
  const context = await launchChromium(t);

  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => msg.type() === "error" && problems.push(`console: ${msg.text()}`));
  const requests = [];
  page.on("request", (req) => requests.push(req.url()));
  page.on("response", (res) => res.status() >= 400 && problems.push(`HTTP ${res.status()}: ${res.url()}`));

  await page.goto(`http://127.0.0.1:${server.address().port}/www/`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 15_000 });
  assert.equal(await page.textContent("#status"), "Type getConversations input on the left.");

  // Keystroke by keystroke: every intermediate text compiles (mostly to invalid_json).
  await page.locator("#input").pressSequentially(DOCUMENTED_EXAMPLE);
  assert.equal(await page.textContent("#status"), "Compiled.");
  assert.equal(await page.textContent("#options"), EXPECTED_OPTIONS);
  assert.match(await page.textContent("#url"), /^\/api\/data\/v9\.2\/msdyn_ocliveworkitems\?\$select=msdyn_ocliveworkitemid%2C/);
  assert.match(await page.textContent("#fetchxml"), /<entity name="msdyn_ocliveworkitem">/);
  assert.equal(await page.isVisible("#warnings"), false);

  await page.locator("#base-url").pressSequentially("https://contoso.crm.dynamics.com");
  assert.equal(await page.textContent("#url-label"), "Request URL");
  assert.match(await page.textContent("#url"), /^https:\/\/contoso\.crm\.dynamics\.com\/api\/data\/v9\.2\/msdyn_ocliveworkitems\?/);

  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  await page.fill("#input", '{"agentId": "2b330c52-6844-4d36-8e05-03c78c9681dc", "status": [3, "waiting"]}');
  assert.equal(await page.textContent("#status"), "Invalid input.");
  const error = await page.textContent("#error-text");
  assert.match(error, /^invalid_status at \/status\/1\n/);
  assert.match(error, /hint: statuscode values of msdyn_ocliveworkitem/);
  assert.equal(await page.isVisible("#result"), false);

  assert.deepEqual(problems, []);
  const origin = `http://127.0.0.1:${server.address().port}/`;
  assert.deepEqual(requests.filter((url) => !url.startsWith(origin)), [], "the page only talks to its own server");
  assert.ok(requests.some((url) => url.endsWith("/pkg/web/convq_bg.wasm")), "the wasm module was fetched");
});
