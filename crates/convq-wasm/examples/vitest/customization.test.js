import { test as base, expect, vi } from "vitest";
import { createOmnichannel } from "convq/testing";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { focusedSummary, linkCaseAndTell } = require("./customization.cjs");
const records = require("./records.json");

const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const CASE = "33333333-3333-4333-8333-333333333333";

// A Vitest fixture instead of beforeEach/afterEach: every test gets the fake installed (auto),
// a test that names `omnichannel` in its context can script it, and it is uninstalled when the
// test ends, passed or failed.
const test = base.extend({
  omnichannel: [
    async ({}, use) => {
      const omnichannel = createOmnichannel({ records, agentId: AGENT, focusedConversationId: records[0].activityid });
      const uninstall = omnichannel.install();
      await use(omnichannel);
      uninstall();
    },
    { auto: true },
  ],
});

test("summarizes the focused conversation", async () => {
  await expect(focusedSummary(AGENT)).resolves.toEqual({ title: "Refund request", waiting: 1 });
});

test("links the case; a failed message is reported", async ({ omnichannel }) => {
  omnichannel.fail("sendMessageToConversation");
  const error = vi.spyOn(console, "error").mockImplementation(() => {});
  await expect(linkCaseAndTell(CASE, "CAS-01001")).resolves.toBe(false);
  expect(error).toHaveBeenCalledWith("injected_failure", expect.any(String));
  expect(omnichannel.state.conversations[0]._msdyn_issueid_value).toBe(CASE);
});

test("latency: slow calls still settle in order", async ({ omnichannel }) => {
  omnichannel.setLatency("retrieveRecord", 20);
  const started = Date.now();
  await focusedSummary(AGENT);
  expect(Date.now() - started).toBeGreaterThanOrEqual(15);
});
