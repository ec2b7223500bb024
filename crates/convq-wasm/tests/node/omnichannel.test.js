// convq/testing as a fake of the Omnichannel API and Xrm.WebApi over one store: each documented
// rule of omnichannel-api.md (docs/wasm.md has the table), state seen across APIs, faults,
// latency, the call log and the record warnings.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { PKG } = require("../support.js");

const { createOmnichannel, SAMPLE_CONVERSATIONS, SAMPLE_NOW, compile, getConversations } = require(path.join(PKG, "testing", "index.js"));
const NOW = "2026-11-20T12:00:00Z";
const ME = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const OTHER = "9a3e0c1d-1111-4a2b-8c3d-0123456789ab";
const ACCOUNT = "11111111-1111-4111-8111-111111111111";
const CONTACT = "22222222-2222-4222-8222-222222222222";
const CASE = "33333333-3333-4333-8333-333333333333";
const id = (n) => `00000000-0000-4000-8000-00000000000${n}`;
const SESSION = "44444444-4444-4444-8444-444444444444";
const STREAM = "55555555-5555-4555-8555-555555555555";

function conversation(n, agent, statuscode, createdon) {
  return {
    activityid: id(n),
    msdyn_ocliveworkitemid: id(n),
    _msdyn_activeagentid_value: agent,
    _msdyn_lastsessionid_value: n === 1 ? SESSION : null,
    _msdyn_liveworkstreamid_value: n === 1 ? STREAM : null,
    statuscode,
    statecode: statuscode === 4 ? 1 : 0,
    createdon,
    msdyn_title: `Conversation ${n}`,
  };
}
const RECORDS = [
  conversation(1, ME, 2, "2026-11-20T08:00:00Z"),
  conversation(2, ME, 3, "2026-11-20T09:00:00Z"),
  conversation(3, ME, 4, "2026-11-19T09:00:00Z"),
  conversation(4, OTHER, 2, "2026-11-20T10:00:00Z"),
  conversation(5, null, 1, "2026-11-20T11:00:00Z"),
];
const fake = (extra = {}) => createOmnichannel({ records: RECORDS, now: NOW, agentId: ME, focusedConversationId: id(1), ...extra });

/** Asserts the promise rejects with a failure envelope of `code`; returns its error. */
async function rejectsWith(promise, code) {
  let error;
  await assert.rejects(promise, (answer) => {
    assert.equal(answer.status, false, JSON.stringify(answer));
    assert.equal(answer.error.code, code, JSON.stringify(answer));
    error = answer.error;
    return true;
  });
  return error;
}

test("getConversationId: the focused session's conversation, also after it closes", async () => {
  const omnichannel = fake({ focusedConversationId: id(3) }); // conversation 3 is closed
  assert.equal(await omnichannel.getConversationId(), id(3));
  omnichannel.focus(id(2));
  assert.equal(await omnichannel.getConversationId(), id(2));
  await rejectsWith(fake({ focusedConversationId: null }).getConversationId(), "no_focused_conversation");
});

test("getConversations: input as object or JSON text, rejects with the failure envelope", async () => {
  const omnichannel = fake();
  const input = { agentId: ME, status: [2, 3], orderBy: [{ attributeName: "createdon" }] };
  const answer = await omnichannel.getConversations(input, "corr-7");
  assert.equal(answer.status, true);
  assert.deepEqual(answer.result.values.map((r) => r.activityid), [id(1), id(2)]);
  assert.deepEqual(await omnichannel.getConversations(JSON.stringify(input)), answer);
  const error = await rejectsWith(omnichannel.getConversations({ agentId: "x" }), "invalid_agent_id");
  assert.equal(error.path, "/agentId");
  assert.equal(omnichannel.calls[0].correlationId, "corr-7");
});

test("openConversation: opens a session on the conversation and focuses it; its ids must be the conversation's", async () => {
  const omnichannel = fake({ focusedConversationId: null });
  assert.equal(await omnichannel.openConversation(id(1), SESSION, STREAM), undefined);
  assert.equal(await omnichannel.getConversationId(), id(1));
  assert.deepEqual(omnichannel.state.sessions, [{ conversationId: id(1), lastSessionId: SESSION, liveWorkstreamId: STREAM }]);
  await omnichannel.openConversation(id(2));
  assert.equal(await omnichannel.getConversationId(), id(2));
  const wrong = await rejectsWith(omnichannel.openConversation(id(1), STREAM), "invalid_argument");
  assert.equal(wrong.path, "/lastSessionId");
  await rejectsWith(omnichannel.openConversation(id(9)), "conversation_not_found");
  await rejectsWith(omnichannel.openConversation(), "invalid_argument");
  const resolving = fake({ resolves: { openConversation: true } });
  assert.equal(await resolving.openConversation(id(2)), true);
});

test("linkToConversation: defaults to the focused conversation, sets its customer, and getConversations and retrieveRecord see it", async () => {
  const omnichannel = fake();
  assert.equal(await omnichannel.linkToConversation("account", ACCOUNT), undefined);
  const answer = await omnichannel.getConversations({ agentId: ME, attributes: ["msdyn_customer"], status: [2] });
  assert.deepEqual(answer.result.values.map((r) => r._msdyn_customer_value), [ACCOUNT]);
  const record = await omnichannel.webApi.retrieveRecord("msdyn_ocliveworkitem", id(1), "?$select=_msdyn_customer_value");
  assert.equal(record._msdyn_customer_value, ACCOUNT);
  const full = await omnichannel.webApi.retrieveRecord("msdyn_ocliveworkitem", id(1));
  assert.equal(full["_msdyn_customer_value@Microsoft.Dynamics.CRM.lookuplogicalname"], "account");
});

test("linkToConversation: a new link replaces the link of the same kind; customer and case are separate", async () => {
  const omnichannel = fake();
  await omnichannel.linkToConversation("account", ACCOUNT, id(2));
  await omnichannel.linkToConversation("incident", CASE, id(2));
  await omnichannel.linkToConversation("contact", CONTACT, id(2));
  const [row] = (await omnichannel.getConversations({ agentId: ME, status: [3], attributes: ["msdyn_customer", "msdyn_issueid"] })).result.values;
  assert.equal(row._msdyn_customer_value, CONTACT);
  assert.equal(row._msdyn_issueid_value, CASE);
  const state = omnichannel.state.conversations.find((r) => r.activityid === id(2));
  assert.equal(state["_msdyn_customer_value@Microsoft.Dynamics.CRM.lookuplogicalname"], "contact");
});

test("linkToConversation: active conversations only, account/contact/incident only", async () => {
  const omnichannel = fake();
  await rejectsWith(omnichannel.linkToConversation("account", ACCOUNT, id(3)), "conversation_not_active");
  const table = await rejectsWith(omnichannel.linkToConversation("opportunity", ACCOUNT), "invalid_argument");
  assert.equal(table.path, "/entityLogicalName");
  await rejectsWith(omnichannel.linkToConversation("account", "nope"), "invalid_argument");
  await rejectsWith(fake({ focusedConversationId: null }).linkToConversation("account", ACCOUNT), "no_focused_conversation");
  assert.equal(omnichannel.state.conversations[2]._msdyn_customer_value, undefined);
});

test("unlinkFromConversation: the reverse of link, defaulting to the focused conversation", async () => {
  const omnichannel = fake();
  await omnichannel.linkToConversation("incident", CASE);
  await rejectsWith(omnichannel.unlinkFromConversation("incident", ACCOUNT), "not_linked");
  await rejectsWith(omnichannel.unlinkFromConversation("account", CASE), "not_linked");
  assert.equal(await omnichannel.unlinkFromConversation("incident", CASE), undefined);
  const [row] = (await omnichannel.getConversations({ agentId: ME, status: [2], attributes: ["msdyn_issueid"] })).result.values;
  assert.equal(row._msdyn_issueid_value, null);
  await rejectsWith(omnichannel.unlinkFromConversation("incident", CASE), "not_linked");
});

test("sendMessageToConversation: to the send box by default, only to the signed-in agent's active conversations", async () => {
  const omnichannel = fake();
  await omnichannel.sendMessageToConversation("Hello");
  await omnichannel.sendMessageToConversation("Sent", false, id(2));
  const card = { richObjectId: "c1", richObjectType: "adaptive", richObjectName: "Survey", body: [] };
  await omnichannel.sendMessageToConversation(JSON.stringify(card));
  assert.deepEqual(omnichannel.state.messages, [
    { conversationId: id(1), message: "Hello", toSendBox: true },
    { conversationId: id(2), message: "Sent", toSendBox: false },
    { conversationId: id(1), message: card, toSendBox: true },
  ]);
  await rejectsWith(omnichannel.sendMessageToConversation("x", true, id(4)), "not_assigned_to_agent");
  await rejectsWith(omnichannel.sendMessageToConversation("x", true, id(3)), "conversation_not_active");
  const rich = await rejectsWith(omnichannel.sendMessageToConversation({ richObjectId: "c1" }), "invalid_argument");
  assert.equal(rich.path, "/message/richObjectType");
  await rejectsWith(omnichannel.sendMessageToConversation(42), "invalid_argument");
  await rejectsWith(fake({ agentId: null }).sendMessageToConversation("x"), "no_signed_in_agent");
});

test("retrieveRecord: the store's projection for $select, Xrm's error for a missing record", async () => {
  const omnichannel = fake();
  const record = await omnichannel.webApi.retrieveRecord("msdyn_ocliveworkitem", id(2), "?$select=msdyn_title,statuscode");
  const [row] = (await omnichannel.getConversations({ agentId: ME, status: [3], attributes: ["msdyn_title"] })).result.values;
  assert.equal(record.msdyn_title, row.msdyn_title);
  assert.equal(record.statuscode, 3);
  // No agent: projected all the same.
  assert.deepEqual(await omnichannel.webApi.retrieveRecord("msdyn_ocliveworkitem", id(5), "?$select=msdyn_title"), {
    activityid: id(5),
    msdyn_title: "Conversation 5",
  });
  await assert.rejects(omnichannel.webApi.retrieveRecord("msdyn_ocliveworkitem", id(9)), { errorCode: 0x80040217 });
  await assert.rejects(omnichannel.webApi.retrieveRecord("account", id(1)), { errorCode: 0x80060888 });
  await assert.rejects(omnichannel.webApi.retrieveRecord("msdyn_ocliveworkitem", id(1), "?$expand=x"), (error) => /reads \$select only/.test(error.message));
});

test("retrieveMultipleRecords: compile()'s options string answers what getConversations answers, in pages of maxPageSize", async () => {
  const omnichannel = createOmnichannel({ records: SAMPLE_CONVERSATIONS_TEXT(), now: SAMPLE_NOW });
  const input = { agentId: ME, status: [4], attributes: ["msdyn_title"], orderBy: [{ attributeName: "createdon", descending: true }] };
  const expected = (await omnichannel.getConversations(input)).result.values;
  assert.ok(expected.length > 10, `${expected.length}`);
  const { options } = compile(input);
  const all = await omnichannel.webApi.retrieveMultipleRecords("msdyn_ocliveworkitem", options);
  assert.deepEqual(all, { entities: expected });
  const pages = [];
  let page = await omnichannel.webApi.retrieveMultipleRecords("msdyn_ocliveworkitem", options, 4);
  for (let i = 0; i < 100; i += 1) {
    pages.push(page.entities);
    if (!page.nextLink) break;
    assert.match(page.nextLink, /^https:\/\/[^?]+\/msdyn_ocliveworkitems\?.*\$skiptoken=\d+$/);
    page = await omnichannel.webApi.retrieveMultipleRecords("msdyn_ocliveworkitem", new URL(page.nextLink).search, 4);
  }
  assert.ok(pages.every((p) => p.length <= 4) && pages.length === Math.ceil(expected.length / 4));
  assert.deepEqual(pages.flat(), expected);
  await assert.rejects(omnichannel.webApi.retrieveMultipleRecords("msdyn_ocliveworkitem", "?$select=msdyn_title"), (error) => {
    assert.equal(error.errorCode, 0x80060888);
    assert.match(error.message, /a query without \$filter .* is not supported/);
    return true;
  });
});

test("convq's getConversations over the fake's Xrm.WebApi equals the fake's Microsoft.Omnichannel.getConversations", async () => {
  const omnichannel = createOmnichannel({ records: SAMPLE_CONVERSATIONS_TEXT(), now: SAMPLE_NOW, pageSize: 7 });
  const retrieveMultipleRecords = omnichannel.webApi.retrieveMultipleRecords.bind(omnichannel.webApi);
  for (const input of [
    { agentId: ME, status: [2, 3], createdBeforeDays: 5 },
    { agentId: ME, attributes: ["msdyn_title"], orderBy: [{ attributeName: "msdyn_title", descending: true }], top: 30 },
  ]) {
    const paged = await getConversations(input, null, { retrieveMultipleRecords });
    assert.deepEqual(paged, await omnichannel.getConversations(input));
  }
  const pages = omnichannel.calls.filter((c) => c.method === "retrieveMultipleRecords");
  assert.ok(pages.length > 4, `${pages.length} pages`);
});

test("faults: injected failures per method, throttling with Retry-After, latency", async () => {
  const omnichannel = fake();
  omnichannel.fail("getConversations");
  await rejectsWith(omnichannel.getConversations({ agentId: ME }), "injected_failure");
  assert.equal((await omnichannel.getConversations({ agentId: ME })).status, true);
  omnichannel.fail("linkToConversation", { code: "custom", message: "nope", path: "" }, { times: 2 });
  await rejectsWith(omnichannel.linkToConversation("account", ACCOUNT), "custom");
  await rejectsWith(omnichannel.linkToConversation("account", ACCOUNT), "custom");
  await omnichannel.linkToConversation("account", ACCOUNT);
  omnichannel.throttle("getConversations", { retryAfter: 3 });
  const throttled = await rejectsWith(omnichannel.getConversations({ agentId: ME }), "throttled");
  assert.deepEqual([throttled.status, throttled.retryAfter], [429, 3]);
  omnichannel.throttle("retrieveMultipleRecords", { retryAfter: 2 });
  await assert.rejects(omnichannel.webApi.retrieveMultipleRecords("msdyn_ocliveworkitem", compile({ agentId: ME }).options), {
    errorCode: 0x80072322,
    status: 429,
    retryAfter: 2,
  });
  omnichannel.fail("retrieveRecord");
  await assert.rejects(omnichannel.webApi.retrieveRecord("msdyn_ocliveworkitem", id(1)), { errorCode: 0x80060888 });
  assert.throws(() => omnichannel.fail("closeConversation"), { code: "invalid_options" });

  const slow = fake({ latency: { getConversationId: 40 } });
  const started = performance.now();
  const order = [];
  await Promise.all([
    slow.getConversationId().then(() => order.push("slow")),
    slow.getConversations({ agentId: ME }).then(() => order.push("fast")),
  ]);
  assert.deepEqual(order, ["fast", "slow"]);
  assert.ok(performance.now() - started >= 35);
});

test("the call log has every call's arguments, correlation id and outcome; state is a copy", async () => {
  const omnichannel = fake();
  await omnichannel.getConversations({ agentId: ME, top: 1 }, "corr-1");
  await omnichannel.linkToConversation("contact", CONTACT);
  await rejectsWith(omnichannel.sendMessageToConversation("x", true, id(4)), "not_assigned_to_agent");
  assert.deepEqual(
    omnichannel.calls.map(({ method, args, correlationId, outcome }) => ({ method, args, correlationId, outcome })),
    [
      { method: "getConversations", args: [{ agentId: ME, top: 1 }, "corr-1"], correlationId: "corr-1", outcome: "resolved" },
      { method: "linkToConversation", args: ["contact", CONTACT, null], correlationId: null, outcome: "resolved" },
      { method: "sendMessageToConversation", args: ["x", true, id(4)], correlationId: null, outcome: "rejected" },
    ],
  );
  const state = omnichannel.state;
  state.conversations[0].msdyn_title = "changed";
  assert.equal(omnichannel.state.conversations[0].msdyn_title, "Conversation 1");
  assert.equal(state.focusedConversationId, id(1));
});

test("records with a lookup's logical name or an unknown property warn with a pointer, or are refused", (t) => {
  const warned = [];
  t.mock.method(console, "warn", (text) => warned.push(text));
  const records = [{ ...RECORDS[0], msdyn_customer: ACCOUNT, msdyn_titel: "typo", new_score: 3 }];
  const omnichannel = createOmnichannel({ records, now: NOW, extraColumns: [{ logicalName: "new_score", type: "Integer" }] });
  assert.deepEqual(
    omnichannel.state.warnings.map((w) => [w.code, w.path]),
    [
      ["store_logical_name", "/records/0/msdyn_customer"],
      ["store_unknown_property", "/records/0/msdyn_titel"],
    ],
  );
  assert.equal(warned.length, 2);
  assert.match(warned[0], /^convq\/testing: warning\[store_logical_name\] at \/records\/0\/msdyn_customer: .*`_msdyn_customer_value`/);
  assert.throws(() => createOmnichannel({ records, now: NOW, recordWarnings: "error" }), { name: "ConvqError", code: "store_logical_name", path: "/records/0/msdyn_customer" });
  createOmnichannel({ records, now: NOW, recordWarnings: "ignore" });
  assert.equal(warned.length, 2, "error and ignore print nothing");
  const logicalAgent = [{ activityid: id(1), msdyn_activeagentid: ME, statuscode: 2 }];
  assert.throws(() => createOmnichannel({ records: logicalAgent }), { code: "store_logical_name", path: "/records/0/msdyn_activeagentid" });
});

test("install sets Microsoft.Omnichannel and Xrm.WebApi on globalThis and puts them back", async () => {
  const omnichannel = fake();
  const undo = omnichannel.install();
  assert.equal(globalThis.Microsoft.Omnichannel, omnichannel);
  assert.equal(await globalThis.Microsoft.Omnichannel.getConversationId(), id(1));
  const record = await globalThis.Xrm.WebApi.retrieveRecord("msdyn_ocliveworkitem", id(2), "?$select=msdyn_title");
  assert.equal(record.msdyn_title, "Conversation 2");
  undo();
  assert.equal("Microsoft" in globalThis || "Xrm" in globalThis, false);
});

test("the sample store ships in the package", () => {
  assert.equal(path.basename(SAMPLE_CONVERSATIONS), "sample-conversations.json");
  const omnichannel = createOmnichannel({ records: SAMPLE_CONVERSATIONS_TEXT(), now: SAMPLE_NOW });
  assert.equal(omnichannel.state.conversations.length, 3000);
  assert.deepEqual(omnichannel.state.warnings, []);
});

function SAMPLE_CONVERSATIONS_TEXT() {
  return require("node:fs").readFileSync(SAMPLE_CONVERSATIONS, "utf8");
}

test("watchConversations: the snapshot, then the changes at each emitChanges, as the service sends them", async () => {
  const omnichannel = fake();
  const events = [];
  const lists = [];
  const watch = omnichannel.watchConversations("https://convq.example", { agentId: ME, attributes: ["msdyn_title"], orderBy: [{ attributeName: "createdon" }] }, {
    onEvent: (event) => events.push(event),
    onList: (agentId, values) => lists.push([agentId, values.map((v) => v.activityid)]),
  });
  assert.equal(watch.transport, "EventSource");
  assert.deepEqual(await omnichannel.emitChanges(), []); // nothing changed since the snapshot
  assert.deepEqual(events.map((e) => [e.event, e.id]), [["snapshot", "1-0"]]);
  assert.deepEqual(events[0].data.values.map((v) => v.activityid), [id(3), id(1), id(2)]);

  omnichannel.upsert({ activityid: id(2), msdyn_title: "Edited" }); // sets one property
  omnichannel.upsert({ ...conversation(6, ME, 2, "2026-11-18T09:00:00Z") }); // a new first one
  assert.equal(omnichannel.remove(id(3)), true);
  assert.equal(omnichannel.remove(id(9)), false);
  await omnichannel.linkToConversation("incident", CASE, id(1)); // not a selected column: no event
  const sent = await omnichannel.emitChanges();
  assert.deepEqual(
    sent.map((e) => [e.event, e.id, e.data.id, e.data.position ?? null]),
    [
      ["removed", "1-1", id(3), null],
      ["added", "1-2", id(6), 0],
      ["changed", "1-3", id(2), 2],
    ],
  );
  assert.deepEqual(events.slice(1), sent);
  assert.equal(sent[2].data.record.msdyn_title, "Edited");
  assert.deepEqual(lists.at(-1), [ME, [id(6), id(1), id(2)]]);
  assert.deepEqual(watch.list(ME), (await omnichannel.getConversations({ agentId: ME, attributes: ["msdyn_title"], orderBy: [{ attributeName: "createdon" }] })).result.values);
  assert.equal(watch.lastEventId, "1-3");

  // A failing interval is a `failed` event; the list stays.
  omnichannel.fail("watchConversations");
  const failed = await omnichannel.emitChanges();
  assert.deepEqual(failed.map((e) => [e.event, e.data.error.code]), [["failed", "injected_failure"]]);
  assert.equal(failed[0].id, undefined);
  assert.equal(watch.list(ME).length, 3);

  watch.close();
  omnichannel.remove(id(1));
  assert.deepEqual(await omnichannel.emitChanges(), []);
  assert.equal(events.length, 5);
  assert.deepEqual(omnichannel.calls.filter((c) => c.method === "watchConversations").map((c) => c.args[0]), ["https://convq.example"]);
});

test("watchConversations: an input that does not compile throws the failure envelope", () => {
  assert.throws(
    () => fake().watchConversations(null, { agentId: "not-a-guid" }, {}),
    (thrown) => thrown.status === false && thrown.error.code === "invalid_agent_id" && thrown.error.path === "/agentId",
  );
  assert.throws(() => fake().upsert({ msdyn_title: "no id" }), { code: "invalid_argument", path: "/activityid" });
});
