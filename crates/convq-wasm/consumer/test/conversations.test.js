// The control's tests: Microsoft.Omnichannel is convq's test double, answering from a few records
// as Dynamics 365 would, so the control's code runs unchanged and no organization is needed.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { createOmnichannel } = require("convq/testing");
const { waitingTitles } = require("../conversations.js");

const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const OTHER = "9a3e0c1d-1111-4a2b-8c3d-0123456789ab";

function conversation(id, agent, statuscode, createdon, title) {
  return {
    activityid: id,
    msdyn_ocliveworkitemid: id,
    _msdyn_activeagentid_value: agent,
    statuscode,
    createdon,
    msdyn_title: title,
  };
}

test.beforeEach(() => {
  globalThis.Microsoft = {
    Omnichannel: createOmnichannel({
      records: [
        conversation("00000000-0000-4000-8000-000000000001", AGENT, 3, "2026-11-19T08:00:00Z", "Refund request"),
        conversation("00000000-0000-4000-8000-000000000002", AGENT, 2, "2026-11-19T09:00:00Z", "Active chat"),
        conversation("00000000-0000-4000-8000-000000000003", AGENT, 3, "2026-11-20T10:30:00Z", "Where is my parcel?"),
        conversation("00000000-0000-4000-8000-000000000004", OTHER, 3, "2026-11-20T11:00:00Z", "Someone else's"),
      ],
      now: new Date("2026-11-20T12:00:00Z"),
    }),
  };
});

test.afterEach(() => {
  delete globalThis.Microsoft;
});

test("lists the agent's waiting conversations, newest first", async () => {
  assert.deepEqual(await waitingTitles(AGENT), ["Where is my parcel?", "Refund request"]);
});

test("an agent without conversations gets an empty list", async () => {
  assert.deepEqual(await waitingTitles("5d0c9f1e-2222-4b3c-9d4e-fedcba987654"), []);
});

test("a malformed agent id is reported as the API reports it", async () => {
  await assert.rejects(waitingTitles("not-a-guid"), /^Error: invalid_agent_id at \/agentId: /);
});

test("the double's answer has the API's envelope", async () => {
  const answer = await Microsoft.Omnichannel.getConversations({ agentId: AGENT, status: [2] });
  assert.deepEqual(answer, {
    result: {
      values: [
        {
          activityid: "00000000-0000-4000-8000-000000000002",
          msdyn_ocliveworkitemid: "00000000-0000-4000-8000-000000000002",
          _msdyn_liveworkstreamid_value: null,
          _msdyn_lastsessionid_value: null,
          statuscode: 2,
          createdon: "2026-11-19T09:00:00Z",
        },
      ],
    },
    status: true,
  });
});
