// The CommonJS entries of the installed package.
"use strict";
const assert = require("node:assert/strict");
const { compile, getConversations } = require("convq");
const { createOmnichannel } = require("convq/testing");

const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
assert.match(require.resolve("convq"), /node_modules[/\\]convq[/\\]node[/\\]convq\.js$/);
assert.equal(typeof getConversations, "function");
const compiled = compile({ agentId: AGENT, status: [3] });
assert.equal(compiled.filter, `_msdyn_activeagentid_value eq ${AGENT} and statuscode eq 3`);
assert.throws(() => compile({ agentId: "x" }), { name: "ConvqError", code: "invalid_agent_id", path: "/agentId" });
const omnichannel = createOmnichannel({ records: [], now: "2026-11-20T12:00:00Z" });
omnichannel.getConversations({ agentId: AGENT }).then((answer) => {
  assert.deepEqual(answer, { result: { values: [] }, status: true });
  console.log("require: ok");
});
