// watchConversations in Node against a real `convq serve --data FILE` (the native CLI): the
// store file is rewritten mid-stream and the events must arrive once each, in order, with the
// positions that rebuild the list `convq get` answers. A relay between the two cuts the
// connection to check the reconnect with Last-Event-ID, and sees what close() leaves open.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { CLI, PKG, loadNode, startServe, writeRecords, tempDir, waitFor } = require("../support.js");

const convq = loadNode();
const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const INPUT = { agentId: AGENT, attributes: ["msdyn_title"], orderBy: [{ attributeName: "createdon" }] };
const id = (n) => `00000000-0000-4000-8000-00000000000${n}`;
const record = (n, title, hour) => ({
  activityid: id(n),
  _msdyn_activeagentid_value: AGENT,
  statuscode: 2,
  createdon: `2026-11-20T${String(hour).padStart(2, "0")}:00:00Z`,
  msdyn_title: title,
});

/** An HTTP relay to `target` that records each request's Last-Event-ID and can cut every open response. */
function relay(target) {
  const seen = [];
  const open = new Set();
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url, lastEventId: req.headers["last-event-id"] ?? null });
    const upstream = new URL(target);
    const headers = { ...req.headers, host: upstream.host };
    const forward = http.request(new URL(req.url, target), { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    forward.on("error", () => res.destroy());
    req.pipe(forward);
    open.add(res);
    res.on("close", () => {
      open.delete(res);
      forward.destroy();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        seen,
        open,
        cut: () => open.forEach((res) => res.destroy()),
        close: () => new Promise((done) => server.close(done)),
      }),
    ),
  );
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const summary = (events) => events.map((e) => [e.event, e.data.id ?? null, e.data.position ?? null]);

test("watchConversations follows convq serve through changes, a reconnect and close", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "conversations.json");
  writeRecords(file, [record(1, "one", 8), record(2, "two", 9)]);
  const server = await startServe(["--data", file, "--stream-interval", "100ms"]);
  t.after(server.stop);
  const proxy = await relay(server.url);
  t.after(proxy.close);

  const events = [];
  const lists = [];
  const errors = [];
  let opened = 0;
  const watch = convq.watchConversations(proxy.url, INPUT, {
    onEvent: (event) => events.push(event),
    onList: (agentId, values) => lists.push([agentId, values.map((v) => v.activityid)]),
    onOpen: () => (opened += 1),
    onError: (error) => errors.push(error),
    retry: 50,
  });
  t.after(() => watch.close());
  // Node 20 has no EventSource: the stream is read with fetch.
  assert.equal(watch.transport, typeof EventSource === "function" ? "EventSource" : "fetch");
  assert.equal(watch.lastEventId, "");

  await waitFor(() => events.length >= 1, "the snapshot");
  assert.equal(events[0].event, "snapshot");
  assert.match(events[0].id, /^\d+-0$/);
  const epoch = events[0].id.split("-")[0];
  assert.deepEqual(events[0].data.values.map((v) => v.activityid), [id(1), id(2)]);
  assert.deepEqual(lists, [[AGENT, [id(1), id(2)]]]);
  assert.equal(proxy.seen[0].url, `/getConversations/stream?input=${encodeURIComponent(JSON.stringify(INPUT))}`);
  assert.equal(proxy.seen[0].lastEventId, null);

  // One change of the file: 1 leaves, 4 comes first, 2 is edited, 3 comes last.
  writeRecords(file, [record(4, "four", 7), record(2, "two (edited)", 9), record(3, "three", 10)]);
  await waitFor(() => events.length >= 5, "four events after the change");
  assert.deepEqual(summary(events.slice(1)), [
    ["removed", id(1), null],
    ["added", id(4), 0],
    ["changed", id(2), 1],
    ["added", id(3), 2],
  ]);
  assert.deepEqual(events.slice(1).map((e) => e.id), [1, 2, 3, 4].map((n) => `${epoch}-${n}`));
  assert.equal(watch.lastEventId, `${epoch}-4`);
  // The list rebuilt from the events is the one `convq get` answers for the file.
  const inputFile = path.join(dir, "input.json");
  fs.writeFileSync(inputFile, JSON.stringify(INPUT));
  const cli = spawnSync(CLI, ["get", "--data", file, inputFile], { encoding: "utf8" });
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(watch.list(AGENT), JSON.parse(cli.stdout).result.values);
  assert.deepEqual(lists.at(-1), [AGENT, [id(4), id(2), id(3)]]);
  // Each change once: a few more intervals bring nothing.
  await sleep(400);
  assert.equal(events.length, 5);

  // The connection breaks; a change lands meanwhile. The reconnect resumes after the last id.
  proxy.cut();
  writeRecords(file, [record(4, "four", 7), record(2, "two (again)", 9), record(3, "three", 10)]);
  await waitFor(() => events.length >= 6, "the change made during the break");
  await sleep(400);
  assert.deepEqual(summary(events.slice(5)), [["changed", id(2), 1]]);
  assert.equal(events[5].id, `${epoch}-5`);
  assert.equal(events[5].data.record.msdyn_title, "two (again)");
  assert.equal(proxy.seen.length, 2);
  assert.equal(proxy.seen[1].lastEventId, `${epoch}-4`);
  assert.equal(opened, 2);
  assert.deepEqual(errors, []);

  // close(): the connection goes, and later changes are not delivered.
  watch.close();
  await waitFor(() => proxy.open.size === 0, "the stream's connection to close");
  writeRecords(file, [record(2, "two (after close)", 9)]);
  await sleep(400);
  assert.equal(events.length, 6);
  assert.equal(proxy.seen.length, 2);
});

test("an input that does not compile throws the failure envelope and requests nothing", async (t) => {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests += 1;
    res.writeHead(500).end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address().port}`;
  assert.throws(
    () => convq.watchConversations(url, { agentId: AGENT, status: [3, "waiting"] }, { onEvent() {} }),
    (thrown) => {
      assert.equal(thrown.status, false);
      assert.equal(thrown.error.code, "invalid_status");
      assert.equal(thrown.error.path, "/status/1");
      return true;
    },
  );
  assert.throws(() => convq.watchConversations(url, INPUT, { onEvent: 3 }), (thrown) => thrown.error.code === "invalid_options" && thrown.error.path === "/onEvent");
  assert.throws(() => convq.watchConversations(url, INPUT, { nope: 1 }), (thrown) => thrown.error.code === "invalid_options");
  await sleep(100);
  assert.equal(requests, 0);
});

test("a refused stream reaches onError with the service's envelope and is not retried", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "conversations.json");
  writeRecords(file, [record(1, "one", 8)]);
  // An API key the client does not send: 401, which reconnecting cannot fix.
  const keys = path.join(dir, "keys");
  fs.writeFileSync(keys, "a-key-of-at-least-thirty-two-characters-0123456789\n");
  const server = await startServe(["--data", file, "--api-keys", keys]);
  t.after(server.stop);
  const errors = [];
  const watch = convq.watchConversations(server.url, INPUT, { onError: (e) => errors.push(e), retry: 20 });
  t.after(() => watch.close());
  await waitFor(() => errors.length >= 1, "onError");
  await sleep(200);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].status, false);
  assert.equal(errors[0].httpStatus, 401);
  assert.equal(typeof errors[0].error.code, "string");

  // With the key as a header (fetch sends it), the same service streams.
  const events = [];
  const keyed = convq.watchConversations(server.url, INPUT, {
    headers: { "x-api-key": "a-key-of-at-least-thirty-two-characters-0123456789" },
    onEvent: (e) => events.push(e),
  });
  t.after(() => keyed.close());
  assert.equal(keyed.transport, "fetch");
  await waitFor(() => events.length >= 1, "the snapshot with the key");
  assert.equal(events[0].event, "snapshot");
});

test("convq/testing's emitChanges sends what convq serve sends for the same change", async (t) => {
  const { createOmnichannel } = require(path.join(PKG, "testing", "index.js"));
  const before = [record(1, "one", 8), record(2, "two", 9), record(3, "three", 10)];
  const after = [record(3, "three", 6), record(2, "two (edited)", 9), record(5, "five", 11)];
  const file = path.join(tempDir(t), "conversations.json");
  writeRecords(file, before);
  const server = await startServe(["--data", file, "--stream-interval", "100ms"]);
  t.after(server.stop);
  const served = [];
  const watch = convq.watchConversations(server.url, INPUT, { onEvent: (e) => served.push(e) });
  t.after(() => watch.close());
  await waitFor(() => served.length >= 1, "the snapshot");
  writeRecords(file, after);
  await waitFor(() => served.length >= 5, "the changes");

  const omnichannel = createOmnichannel({ records: before, recordWarnings: "error" });
  const faked = [];
  const fakeWatch = omnichannel.watchConversations(server.url, INPUT, { onEvent: (e) => faked.push(e) });
  t.after(() => fakeWatch.close());
  omnichannel.remove(id(1));
  omnichannel.upsert(after[0]);
  omnichannel.upsert(after[1]);
  omnichannel.upsert(after[2]);
  await omnichannel.emitChanges();
  const withoutEpoch = (events) => events.map(({ id: eventId, ...rest }) => ({ seq: eventId.split("-")[1], ...rest }));
  assert.deepEqual(withoutEpoch(faked), withoutEpoch(served));
  assert.deepEqual(served.slice(1).map((e) => e.event), ["removed", "changed", "changed", "added"]);
});
