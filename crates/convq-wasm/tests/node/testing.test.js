// The test double `convq/testing`: createOmnichannel({ records, now, timeZone, formattedValues,
// ...compile options }).getConversations answers as the native store does. For every fixture of
// the core corpus, and for every time zone, formattedValues and createdBeforeDays reading, its
// envelope is the one `convq get --now` prints from the same records with the matching flags, and
// its own arguments are checked like any input.
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

const omnichannel = createOmnichannel({ resolveFailures: true, records: RECORDS, now: NOW });

for (const file of fixtures()) {
  const fixture = readFixture(file);
  test(`native parity: ${fixture.name}`, async () => {
    const args = ["get", "--now", NOW, "--data", SAMPLE];
    let cli, answer;
    if (fixture.options === undefined) {
      cli = spawnSync(CLI, [...args, file], { encoding: "utf8" });
      answer = await omnichannel.getConversations(fixture.text, "corr-1");
    } else {
      // Compile options: `--options` for the CLI, the same keys beside the records for the double.
      const input = JSON.stringify(fixture.input);
      cli = spawnSync(CLI, [...args, "--options", JSON.stringify(fixture.options)], { encoding: "utf8", input });
      const double = createOmnichannel({ resolveFailures: true, records: RECORDS, now: NOW, ...fixture.options });
      answer = await double.getConversations(input, "corr-1");
    }
    assert.ok([0, 2].includes(cli.status), `${fixture.name}: CLI exit status ${cli.status}\n${cli.stderr}`);
    if (cli.status === 2 && cli.stdout === "") {
      // `convq get` checks its --options before reading any input and says why on stderr; the
      // double, whose options come with the records, answers the same error per call.
      assert.match(cli.stderr, /--options is not valid/);
      assert.equal(answer.status, false);
      assert.ok(cli.stderr.includes(answer.error.message), `${cli.stderr}\n${answer.error.message}`);
      return;
    }
    assert.equal(answer.status, cli.status === 0);
    // Key order and values: JSON.stringify of both, so that number spelling cannot differ.
    assert.equal(JSON.stringify(answer), JSON.stringify(JSON.parse(cli.stdout)));
  });
}

// Each time zone, formattedValues and reading against `convq get --time-zone --formatted-values
// --created-before-days`: the same rows (day boundaries at the zone's midnights) and the same shape.
const RUN_INPUTS = [
  { agentId: AGENT, createdBeforeDays: 3, attributes: ["msdyn_channel", "msdyn_cdsqueueid"] },
  { agentId: AGENT, createdBeforeDays: 1, orderBy: [{ attributeName: "createdon", descending: true }] },
  { agentId: AGENT, status: [3, 4], createdBeforeDays: 30, top: 5 },
];
for (const timeZone of ["UTC", "Europe/Paris", "America/New_York", "Pacific/Kiritimati"]) {
  for (const formattedValues of [false, true]) {
    for (const reading of ["lastXDays", "olderThanXDays"]) {
      test(`native parity: timeZone ${timeZone}, formattedValues ${formattedValues}, ${reading}`, async () => {
        const double = createOmnichannel({ resolveFailures: true, records: RECORDS, now: NOW, timeZone, formattedValues, createdBeforeDays: reading });
        const flag = reading === "lastXDays" ? "last-x-days" : "older-than-x-days";
        const args = ["get", "--now", NOW, "--data", SAMPLE, "--time-zone", timeZone, "--created-before-days", flag];
        if (formattedValues) args.push("--formatted-values");
        for (const input of RUN_INPUTS) {
          const cli = spawnSync(CLI, args, { encoding: "utf8", input: JSON.stringify(input) });
          assert.equal(cli.status, 0, cli.stderr);
          const answer = await double.getConversations(input);
          assert.equal(JSON.stringify(answer), JSON.stringify(JSON.parse(cli.stdout)), JSON.stringify(input));
        }
      });
    }
  }
}

/** The `createdon` of every row of a success envelope. */
function created(answer) {
  assert.equal(answer.status, true, JSON.stringify(answer));
  return answer.result.values.map((row) => row.createdon);
}

test("timeZone moves createdBeforeDays' day boundaries to the zone's midnights", async () => {
  // At 12:00 UTC on 20 November, "the last 3 days" start at 17 November 00:00 UTC, but in Paris
  // (UTC+1) at 16 November 23:00 UTC, which keeps the agent's conversation of 23:53 UTC that day.
  const input = { agentId: AGENT, createdBeforeDays: 3 };
  const inZone = async (timeZone) => created(await createOmnichannel({ resolveFailures: true, records: RECORDS, now: NOW, timeZone }).getConversations(input));
  const utc = created(await omnichannel.getConversations(input));
  assert.deepEqual(await inZone("UTC"), utc);
  assert.ok(utc.every((c) => c >= "2026-11-17T00:00:00Z"), utc.join());
  const paris = await inZone("Europe/Paris");
  assert.deepEqual(paris.filter((c) => !utc.includes(c)), ["2026-11-16T23:53:33Z"]);
  assert.equal(paris.length, utc.length + 1);
  // New York (UTC-5) starts at 05:00 UTC, and the agent has nothing between midnight and then:
  // the same rows. Tokyo (UTC+9) starts at 15:00 UTC on the 16th: three more. UTC-12 starts at
  // 12:00 UTC on the 17th: two fewer.
  assert.deepEqual(await inZone("America/New_York"), utc);
  const tokyo = await inZone("Asia/Tokyo");
  assert.deepEqual(tokyo.filter((c) => !utc.includes(c)).sort(), [
    "2026-11-16T19:11:10Z",
    "2026-11-16T21:36:54Z",
    "2026-11-16T23:53:33Z",
  ]);
  const west = await inZone("Etc/GMT+12");
  assert.deepEqual(utc.filter((c) => !west.includes(c)).sort(), ["2026-11-17T11:31:46Z", "2026-11-17T11:48:04Z"]);
  assert.equal(west.length, utc.length - 2);
});

test("createdBeforeDays: olderThanXDays keeps exactly what lastXDays leaves out", async () => {
  const input = { agentId: AGENT, createdBeforeDays: 3 };
  const older = created(
    await createOmnichannel({ resolveFailures: true, records: RECORDS, now: NOW, createdBeforeDays: "olderThanXDays" }).getConversations(input),
  );
  const last = created(await omnichannel.getConversations(input));
  const every = created(await omnichannel.getConversations({ agentId: AGENT }));
  assert.ok(older.length > 0 && last.length > 0);
  assert.ok(older.every((c) => c < "2026-11-17T00:00:00Z"), older.join());
  assert.deepEqual([...older, ...last].sort(), [...every].sort());
});

test("formattedValues adds the selected properties' FormattedValue annotations", async () => {
  const ANNOTATION = "@OData.Community.Display.V1.FormattedValue";
  const input = { agentId: AGENT, status: [3], attributes: ["msdyn_channel"], top: 1 };
  const [plain] = (await omnichannel.getConversations(input)).result.values;
  const double = createOmnichannel({ resolveFailures: true, records: RECORDS, now: NOW, formattedValues: true });
  const [formatted] = (await double.getConversations(input)).result.values;
  assert.deepEqual(Object.keys(plain).filter((key) => key.endsWith(ANNOTATION)), []);
  assert.equal(formatted[`statuscode${ANNOTATION}`], "Waiting");
  assert.equal(typeof formatted[`msdyn_channel${ANNOTATION}`], "string");
  assert.equal(typeof formatted[`_msdyn_liveworkstreamid_value${ANNOTATION}`], "string");
  // Only the selected properties: the agent lookup is not selected.
  assert.equal(`_msdyn_activeagentid_value${ANNOTATION}` in formatted, false);
  const stripped = Object.fromEntries(Object.entries(formatted).filter(([key]) => !key.endsWith(ANNOTATION)));
  assert.deepEqual(stripped, plain);
  // false is the default.
  const off = createOmnichannel({ resolveFailures: true, records: RECORDS, now: NOW, formattedValues: false });
  assert.deepEqual((await off.getConversations(input)).result.values, [plain]);
});

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

test("getConversations rejects with the failure envelope; resolveFailures resolves it", async () => {
  const strict = createOmnichannel({ records: RECORDS, now: NOW });
  const pending = strict.getConversations({ agentId: "nope" });
  assert.ok(pending instanceof Promise);
  const expected = {
    error: {
      code: "invalid_agent_id",
      message: '`/agentId` is not a GUID: "nope"',
      path: "/agentId",
      hint: (await omnichannel.getConversations('{"agentId": "nope"}')).error.hint,
    },
    status: false,
  };
  await assert.rejects(pending, (answer) => {
    assert.deepEqual(answer, expected);
    return true;
  });
  assert.deepEqual(await omnichannel.getConversations({ agentId: "nope" }), expected);
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
    [{ records: [], timeZone: "Mars/Olympus" }, "invalid_options", "/timeZone"],
    [{ records: [], formattedValues: "yes" }, "invalid_options", "/formattedValues"],
    [{ records: [], createdBeforeDays: "olderThan" }, "invalid_options", "/createdBeforeDays"],
    [{ records: [], statusFilter: "in" }, "invalid_options", "/statusFilter"],
    [{ records: [{ activityid: 3 }] }, null, /^\/records\/0/],
    [{ records: [{ activityid: "00000000-0000-4000-8000-000000000001", msdyn_activeagentid: AGENT }] }, "store_logical_name", "/records/0/msdyn_activeagentid"],
    [{ records: [], agentId: "me" }, "invalid_options", "/agentId"],
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

test("a time zone that is not an IANA name says what was expected", () => {
  assert.throws(
    () => createOmnichannel({ records: [], timeZone: "Mars/Olympus" }),
    (err) => {
      assert.equal(err.name, "ConvqError");
      assert.equal(err.code, "invalid_options");
      assert.equal(err.path, "/timeZone");
      assert.match(err.message, /"Mars\/Olympus" is not an IANA time zone name such as Europe\/Paris/);
      assert.match(err.hint, /timeZone/);
      return true;
    },
  );
  for (const timeZone of ["UTC", "Europe/Paris", "Asia/Kolkata", "America/St_Johns"]) {
    assert.doesNotThrow(() => createOmnichannel({ records: [], timeZone }), timeZone);
  }
});
