const { createOmnichannel } = require("convq/testing");
const { focusedSummary, linkCaseAndTell } = require("./customization.js");
const records = require("./records.json");

const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const CASE = "33333333-3333-4333-8333-333333333333";
let omnichannel;
let uninstall;

beforeEach(() => {
  omnichannel = createOmnichannel({ records, agentId: AGENT, focusedConversationId: records[0].activityid });
  uninstall = omnichannel.install();
});
afterEach(() => uninstall());

test("summarizes the focused conversation", async () => {
  await expect(focusedSummary(AGENT)).resolves.toEqual({ title: "Refund request", waiting: 1 });
});

test("links the case and tells the customer", async () => {
  await expect(linkCaseAndTell(CASE, "CAS-01001")).resolves.toBe(true);
  expect(omnichannel.state.conversations[0]._msdyn_issueid_value).toBe(CASE);
  expect(omnichannel.state.messages).toEqual([{ conversationId: records[0].activityid, message: "Your case number is CAS-01001.", toSendBox: false }]);
});

test("a throttled getConversations rejects with 429 and Retry-After", async () => {
  omnichannel.throttle("getConversations", { retryAfter: 5 });
  await expect(focusedSummary(AGENT)).rejects.toMatchObject({ status: false, error: { status: 429, retryAfter: 5 } });
});
