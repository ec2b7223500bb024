"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { createOmnichannel } = require("convq/testing");
const { focusedSummary, linkCaseAndTell } = require("./customization.js");
const records = require("./records.json");

const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const CASE = "33333333-3333-4333-8333-333333333333";
let omnichannel;
let uninstall;

test.beforeEach(() => {
  omnichannel = createOmnichannel({ records, agentId: AGENT, focusedConversationId: records[0].activityid });
  uninstall = omnichannel.install();
});
test.afterEach(() => uninstall());

test("summarizes the focused conversation", async () => {
  assert.deepEqual(await focusedSummary(AGENT), { title: "Refund request", waiting: 1 });
});

test("links the case and tells the customer", async () => {
  assert.equal(await linkCaseAndTell(CASE, "CAS-01001"), true);
  const state = omnichannel.state;
  assert.equal(state.conversations[0]._msdyn_issueid_value, CASE);
  assert.deepEqual(state.messages, [{ conversationId: records[0].activityid, message: "Your case number is CAS-01001.", toSendBox: false }]);
});

test("reports a refused link", async (t) => {
  t.mock.method(console, "error", () => {});
  omnichannel.focus(records[2].activityid); // another agent's: the link works, the message does not
  assert.equal(await linkCaseAndTell(CASE, "CAS-01001"), false);
  assert.equal(omnichannel.calls.at(-1).outcome, "rejected");
});
