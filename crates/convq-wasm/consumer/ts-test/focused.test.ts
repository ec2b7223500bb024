// The TypeScript customization's tests, compiled by tsc and run with node --test.
import test from "node:test";
import assert from "node:assert/strict";
import { createOmnichannel, type Conversation, type Failure } from "convq/testing";
import { focusedConversation, linkCase } from "../src/focused.js";

const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const CASE = "33333333-3333-4333-8333-333333333333";
const records: Conversation[] = [
  {
    activityid: "00000000-0000-4000-8000-000000000001",
    _msdyn_activeagentid_value: AGENT,
    _msdyn_customer_value: "11111111-1111-4111-8111-111111111111",
    statuscode: 2,
    createdon: "2026-11-20T08:00:00Z",
    msdyn_title: "Refund request",
  },
];

test("reads the focused conversation through Xrm.WebApi", async (t) => {
  const fake = createOmnichannel({ records, agentId: AGENT, focusedConversationId: records[0].activityid });
  t.after(fake.install());
  assert.deepEqual(await focusedConversation(), {
    id: records[0].activityid,
    title: "Refund request",
    customerId: "11111111-1111-4111-8111-111111111111",
  });
});

test("links the case, which the fake's state shows", async (t) => {
  const fake = createOmnichannel({ records, agentId: AGENT, focusedConversationId: records[0].activityid });
  t.after(fake.install());
  assert.equal(await linkCase(AGENT, CASE), 1);
  assert.equal(fake.state.conversations[0]._msdyn_issueid_value, CASE);
  assert.deepEqual(fake.calls.map((call) => call.method), ["linkToConversation", "getConversations"]);
});

test("a throttled getConversations rejects with the failure envelope", async (t) => {
  const fake = createOmnichannel({ records, agentId: AGENT, focusedConversationId: records[0].activityid });
  t.after(fake.install());
  fake.throttle("getConversations", { retryAfter: 2 });
  await assert.rejects(linkCase(AGENT, CASE), (answer: Failure) => {
    assert.equal(answer.error.status, 429);
    assert.equal(answer.error.retryAfter, 2);
    return true;
  });
});
