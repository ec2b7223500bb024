// watchConversations in Chromium with the browser's own EventSource, against a real
// `convq serve --data FILE --cors-origin <the page's origin>`: the snapshot, then the change
// written to the file mid-stream, then close().
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { serveFiles, launchChromium, startServe, writeRecords, tempDir } = require("../support.js");

const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const INPUT = { agentId: AGENT, attributes: ["msdyn_title"], orderBy: [{ attributeName: "createdon" }] };
const record = (n, title, hour) => ({
  activityid: `00000000-0000-4000-8000-00000000000${n}`,
  _msdyn_activeagentid_value: AGENT,
  statuscode: 2,
  createdon: `2026-11-20T${String(hour).padStart(2, "0")}:00:00Z`,
  msdyn_title: title,
});

test("a page follows a live list with the browser's EventSource", async (t) => {
  const files = await serveFiles();
  t.after(() => files.close());
  const origin = `http://127.0.0.1:${files.address().port}`;
  const file = path.join(tempDir(t), "conversations.json");
  writeRecords(file, [record(1, "one", 8)]);
  const server = await startServe(["--data", file, "--stream-interval", "100ms", "--cors-origin", origin]);
  t.after(server.stop);

  const context = await launchChromium(t);
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  const streams = [];
  page.on("request", (req) => req.url().startsWith(server.url) && streams.push(req.resourceType()));

  await page.goto(`${origin}/www/`);
  const transport = await page.evaluate(
    async ({ serviceUrl, input }) => {
      const { default: init, watchConversations } = await import("/pkg/web/convq.js");
      await init();
      window.events = [];
      window.titles = [];
      window.watch = watchConversations(serviceUrl, input, {
        onEvent: (event) => window.events.push(event),
        onList: (agentId, values) => window.titles.push(values.map((v) => v.msdyn_title)),
      });
      return window.watch.transport;
    },
    { serviceUrl: server.url, input: INPUT },
  );
  assert.equal(transport, "EventSource");

  await page.waitForFunction(() => window.events.length >= 1, null, { timeout: 15_000 });
  writeRecords(file, [record(2, "zero", 7), record(1, "one", 8)]);
  await page.waitForFunction(() => window.events.length >= 2, null, { timeout: 15_000 });
  const { events, titles } = await page.evaluate(() => ({ events: window.events, titles: window.titles }));
  assert.deepEqual(
    events.map((e) => [e.event, e.data.id ?? null, e.data.position ?? null]),
    [
      ["snapshot", null, null],
      ["added", record(2).activityid, 0],
    ],
  );
  assert.match(events[1].id, /^\d+-1$/);
  assert.deepEqual(titles, [["one"], ["zero", "one"]]);
  assert.deepEqual(streams, ["eventsource"], "one EventSource request");

  await page.evaluate(() => window.watch.close());
  writeRecords(file, [record(1, "one", 8)]);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(await page.evaluate(() => window.events.length), 2);
  assert.deepEqual(problems, []);
});
