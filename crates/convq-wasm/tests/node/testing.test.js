// The test double `convq/testing`: createOmnichannel({ records, now, timeZone }).getConversations
// answers as the native store does. For every fixture of the core corpus its envelope is the one
// `convq get --now` prints from the same records, and its own arguments are checked like any input.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const { CLI, PKG, ROOT, fixtures, readFixture } = require("../support.js");

const { createOmnichannel } = require(path.join(PKG, "testing", "index.js"));
const SAMPLE = path.join(ROOT, "crates", "convq-backend", "data", "sample-conversations.json");
const RECORDS = fs.readFileSync(SAMPLE, "utf8");
const NOW = "2026-11-20T12:00:00Z";
const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";

const omnichannel = createOmnichannel({ records: RECORDS, now: NOW });

for (const file of fixtures()) {
  const fixture = readFixture(file);
  // `convq get` takes no compile options; those fixtures are the corpus suite's.
  const skip = fixture.options !== undefined && "`convq get` has no flags for the fixture's options";
  test(`native parity: ${fixture.name}`, { skip }, async () => {
    const cli = spawnSync(CLI, ["get", "--now", NOW, "--data", SAMPLE, file], { encoding: "utf8" });
    assert.ok([0, 2].includes(cli.status), `${fixture.name}: CLI exit status ${cli.status}\n${cli.stderr}`);
    const answer = await omnichannel.getConversations(fixture.text, "corr-1");
    assert.equal(answer.status, cli.status === 0);
    // Key order and values: JSON.stringify of both, so that number spelling cannot differ.
    assert.equal(JSON.stringify(answer), JSON.stringify(JSON.parse(cli.stdout)));
  });
}

test("a typical answer: the waiting conversations of an agent, newest first", async () => {
  const answer = await omnichannel.getConversations({
    agentId: AGENT,
    status: [3],
    attributes: ["msdyn_title"],
    orderBy: [{ attributeName: "createdon", descending: true }],
  });
  assert.equal(answer.status, true);
  const { values } = answer.result;
  assert.ok(values.length > 0);
  for (const row of values) {
    assert.equal(row.statuscode, 3);
    assert.equal(typeof row.msdyn_title, "string");
  }
  const created = values.map((row) => row.createdon);
  assert.deepEqual(created, [...created].sort().reverse());
});

test("getConversations returns a promise and never rejects", async () => {
  const pending = omnichannel.getConversations({ agentId: "nope" });
  assert.ok(pending instanceof Promise);
  assert.deepEqual(await pending, {
    error: {
      code: "invalid_agent_id",
      message: '`/agentId` is not a GUID: "nope"',
      path: "/agentId",
      hint: (await omnichannel.getConversations('{"agentId": "nope"}')).error.hint,
    },
    status: false,
  });
  const notJson = await omnichannel.getConversations(undefined);
  assert.equal(notJson.error.code, "invalid_input");
});

test("records as an array, a Web API body or text; now as text, Date or milliseconds", async () => {
  const body = JSON.parse(RECORDS);
  const input = { agentId: AGENT, createdBeforeDays: 3 };
  const expected = JSON.stringify(await omnichannel.getConversations(input));
  const millis = Date.parse(NOW);
  for (const options of [
    { records: body.value, now: NOW },
    { records: body, now: new Date(millis) },
    { records: RECORDS, now: millis, timeZone: "UTC" },
  ]) {
    assert.equal(JSON.stringify(await createOmnichannel(options).getConversations(input)), expected);
  }
  // A later "now" moves the createdBeforeDays window.
  const later = createOmnichannel({ records: body.value, now: "2027-01-01T00:00:00Z" });
  assert.deepEqual((await later.getConversations(input)).result.values, []);
});

test("bad arguments throw a ConvqError naming the field", () => {
  const cases = [
    [undefined, "invalid_options", ""],
    [{}, "invalid_options", "/records"],
    [{ records: [], timezone: "UTC" }, "invalid_options", "/timezone"],
    [{ records: [], now: "yesterday" }, "invalid_options", "/now"],
    [{ records: [], now: true }, "invalid_options", "/now"],
    [{ records: [], now: NaN }, "invalid_options", "/now"],
    [{ records: [], timeZone: 1 }, "invalid_options", "/timeZone"],
    [{ records: [], timeZone: "Europe/Paris" }, "invalid_options", "/timeZone"],
    [{ records: [{ activityid: 3 }] }, null, /^\/records\/0/],
  ];
  for (const [options, code, pointer] of cases) {
    assert.throws(
      () => createOmnichannel(options),
      (err) => {
        assert.equal(err.name, "ConvqError", JSON.stringify(options));
        if (code) assert.equal(err.code, code);
        if (typeof pointer === "string") assert.equal(err.path, pointer, err.message);
        else assert.match(err.path, pointer, err.message);
        return true;
      },
    );
  }
});
