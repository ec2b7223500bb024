// getConversations(): runs the compiled query through a retrieveMultipleRecords function (a fake
// here, with Xrm.WebApi's contract), follows nextLink, and always resolves with an envelope.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { loadNode } = require("../support.js");

const { compile, getConversations } = loadNode();
const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const INPUT = {
  attributes: ["msdyn_title", "msdyn_channel"],
  agentId: AGENT,
  status: [3],
  orderBy: [{ attributeName: "createdon", descending: true }],
};
// What Dataverse puts in a nextLink: the full URL, the paging cookie encoded twice.
const NEXT_LINK =
  "https://contoso.crm.dynamics.com/api/data/v9.2/msdyn_ocliveworkitems?$select=msdyn_ocliveworkitemid&$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%253c%252fcookie%253e%22%20/%3E";

function record(i) {
  return {
    "@odata.etag": `W/"${1000 + i}"`,
    activityid: `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`,
    msdyn_ocliveworkitemid: `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`,
    statuscode: 3,
    "statuscode@OData.Community.Display.V1.FormattedValue": "Waiting",
    msdyn_title: `Chat ${i} – “quoted” & <tagged>`,
    createdon: `2024-05-0${1 + (i % 9)}T10:00:00Z`,
  };
}

/** A fake retrieveMultipleRecords serving `pages` in order, recording every call. */
function fakeWebApi(pages) {
  const calls = [];
  const fn = async function (entityLogicalName, options, ...rest) {
    calls.push({ entityLogicalName, options, rest, self: this });
    const page = pages[calls.length - 1];
    if (!page) throw new Error(`unexpected call ${calls.length}`);
    return page;
  };
  return { fn, calls };
}

test("two pages: the options string first, then the nextLink's query part unmodified", async () => {
  const { fn, calls } = fakeWebApi([
    { entities: [record(1), record(2)], nextLink: NEXT_LINK },
    { entities: [record(3)] },
  ]);
  const answer = await getConversations(INPUT, "corr-1", { retrieveMultipleRecords: fn });

  assert.deepEqual(answer, { result: { values: [record(1), record(2), record(3)] }, status: true });
  assert.equal(calls.length, 2);
  assert.equal(calls[0].entityLogicalName, "msdyn_ocliveworkitem");
  assert.equal(calls[0].options, compile(INPUT).options);
  assert.deepEqual(calls[0].rest, [], "no maxPageSize argument: Dataverse's default page size");
  assert.equal(calls[1].entityLogicalName, "msdyn_ocliveworkitem");
  assert.equal(calls[1].options, NEXT_LINK.slice(NEXT_LINK.indexOf("?")));
  assert.equal(calls[1].self, undefined, "a given function is called without a receiver");
});

test("stops at top: truncates the page and makes no further call", async () => {
  const { fn, calls } = fakeWebApi([
    { entities: [record(1), record(2)], nextLink: NEXT_LINK },
    { entities: [record(3), record(4)], nextLink: `${NEXT_LINK}&page=3` },
  ]);
  const answer = await getConversations({ ...INPUT, top: 3 }, undefined, { retrieveMultipleRecords: fn });
  assert.equal(calls.length, 2);
  assert.match(calls[0].options, /&\$top=3$/);
  assert.deepEqual(answer.result.values, [record(1), record(2), record(3)]);
});

test("synchronous results and a plain (non-async) function work too", async () => {
  const seen = [];
  const answer = await getConversations(JSON.stringify(INPUT), null, {
    retrieveMultipleRecords(name, options) {
      seen.push([name, options]);
      return { entities: [] };
    },
  });
  assert.deepEqual(answer, { result: { values: [] }, status: true });
  assert.equal(seen.length, 1);
});

test("inside Dynamics 365: globalThis.Xrm.WebApi, called as a method", async () => {
  const calls = [];
  const webApi = {
    retrieveMultipleRecords(name, options) {
      calls.push({ name, options, self: this });
      return Promise.resolve({ entities: [record(7)] });
    },
  };
  globalThis.Xrm = { WebApi: webApi };
  try {
    const answer = await getConversations(INPUT);
    assert.deepEqual(answer, { result: { values: [record(7)] }, status: true });
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, "msdyn_ocliveworkitem");
    assert.equal(calls[0].self, webApi);
  } finally {
    delete globalThis.Xrm;
  }
});

test("without a Web API: a no_web_api failure, not a rejection", async () => {
  const answer = await getConversations(INPUT);
  assert.equal(answer.status, false);
  assert.equal(answer.error.code, "no_web_api");
  assert.equal(answer.error.path, "");
  assert.match(answer.error.message, /retrieveMultipleRecords/);
  assert.match(answer.error.hint, /context\.webAPI/);
  assert.deepEqual(Object.keys(answer), ["error", "status"]);
});

test("invalid input resolves with the core's failure envelope and never calls the Web API", async () => {
  const { fn, calls } = fakeWebApi([]);
  const answer = await getConversations({ agentId: "nope", status: [3] }, "c", { retrieveMultipleRecords: fn });
  assert.deepEqual(answer, {
    error: {
      code: "invalid_agent_id",
      message: '`/agentId` is not a GUID: "nope"',
      path: "/agentId",
      hint: "give the GUID as 8-4-4-4-12 hex digits, e.g. 2b330c52-6844-4d36-8e05-03c78c9681dc; braces and upper case are accepted",
    },
    status: false,
  });
  assert.equal(calls.length, 0);

  for (const bad of [undefined, "{", 42, [], { agentId: AGENT, top: 1n }]) {
    const result = await getConversations(bad, undefined, { retrieveMultipleRecords: fn });
    assert.equal(result.status, false, String(bad));
  }
  assert.equal(calls.length, 0);
});

test("compile options ride along in the third argument", async () => {
  const { fn, calls } = fakeWebApi([{ entities: [] }, { entities: [] }, { entities: [] }]);
  const strict = await getConversations({ agentId: AGENT, attributes: ["new_tier"] }, undefined, {
    retrieveMultipleRecords: fn,
    unknownColumns: "error",
  });
  assert.equal(strict.error.code, "unknown_column");
  assert.equal(strict.error.path, "/attributes/0");

  await getConversations({ agentId: AGENT, status: [2, 3] }, undefined, { retrieveMultipleRecords: fn, statusFilter: "crmIn" });
  assert.match(calls[0].options, /Microsoft\.Dynamics\.CRM\.In\(/);

  // The reading of createdBeforeDays is the org's query function: OlderThanXDays.
  await getConversations({ agentId: AGENT, createdBeforeDays: 7 }, undefined, {
    retrieveMultipleRecords: fn,
    createdBeforeDays: "olderThanXDays",
  });
  assert.match(calls[1].options, /Microsoft\.Dynamics\.CRM\.OlderThanXDays\(PropertyName='createdon',PropertyValue=7\)/);
  const badReading = await getConversations(INPUT, undefined, { retrieveMultipleRecords: fn, createdBeforeDays: "older" });
  assert.deepEqual([badReading.error.code, badReading.error.path], ["invalid_options", "/createdBeforeDays"]);

  // The org evaluates the days in the user's time zone and Xrm decides the annotations: the
  // store's run options are not options here (the test double takes them).
  for (const key of ["timeZone", "formattedValues"]) {
    const storeOption = await getConversations(INPUT, undefined, { retrieveMultipleRecords: fn, [key]: "x" });
    assert.deepEqual([storeOption.error.code, storeOption.error.path], ["invalid_options", `/${key}`]);
  }

  const typo = await getConversations(INPUT, undefined, { retrieveMultipleRecords: fn, statusFiltr: "crmIn" });
  assert.equal(typo.error.code, "invalid_options");
  assert.equal(typo.error.path, "/statusFiltr");

  const notAFunction = await getConversations(INPUT, undefined, { retrieveMultipleRecords: "Xrm.WebApi" });
  assert.deepEqual([notAFunction.error.code, notAFunction.error.path], ["invalid_options", "/retrieveMultipleRecords"]);

  const notAnObject = await getConversations(INPUT, undefined, "fast");
  assert.deepEqual([notAnObject.error.code, notAnObject.error.path], ["invalid_options", ""]);
});

test("a rejected or throwing retrieveMultipleRecords is a web_api_error with its message", async () => {
  // Xrm rejects with {errorCode, message}.
  const xrmError = await getConversations(INPUT, undefined, {
    retrieveMultipleRecords: () =>
      Promise.reject({ errorCode: 2147746336, message: "Principal user is missing prvReadmsdyn_ocliveworkitem privilege" }),
  });
  assert.deepEqual(xrmError, {
    error: {
      code: "web_api_error",
      message:
        "retrieveMultipleRecords failed: Principal user is missing prvReadmsdyn_ocliveworkitem privilege (errorCode 0x80040220)",
      path: "",
    },
    status: false,
  });

  const thrown = await getConversations(INPUT, undefined, {
    retrieveMultipleRecords: () => {
      throw new TypeError("offline");
    },
  });
  assert.equal(thrown.error.code, "web_api_error");
  assert.equal(thrown.error.message, "retrieveMultipleRecords failed: offline");

  const rejectedWithString = await getConversations(INPUT, undefined, { retrieveMultipleRecords: () => Promise.reject("503") });
  assert.equal(rejectedWithString.error.message, "retrieveMultipleRecords failed: 503");

  // A failure on page 2 loses page 1: the answer is all or nothing, like the Omnichannel API.
  const { fn } = fakeWebApi([{ entities: [record(1)], nextLink: NEXT_LINK }]);
  const secondPage = await getConversations(INPUT, undefined, { retrieveMultipleRecords: fn });
  assert.equal(secondPage.error.code, "web_api_error");
  assert.match(secondPage.error.message, /unexpected call 2/);
});

test("a malformed Web API answer is invalid_web_api_response", async () => {
  const cases = [
    [undefined, /resolved with undefined/],
    [{ value: [] }, /missing field `entities`/],
    [{ entities: "none" }, /invalid type: string/],
    [{ entities: [], nextLink: "https://contoso.crm.dynamics.com/api/data/v9.2/msdyn_ocliveworkitems" }, /no query part/],
  ];
  for (const [page, message] of cases) {
    const answer = await getConversations(INPUT, undefined, { retrieveMultipleRecords: async () => page });
    assert.equal(answer.error.code, "invalid_web_api_response", JSON.stringify(page));
    assert.match(answer.error.message, message);
  }

  // A server that keeps answering with the same nextLink would never end: stop.
  let calls = 0;
  const looping = await getConversations(INPUT, undefined, {
    retrieveMultipleRecords: async () => {
      calls++;
      return { entities: [record(calls)], nextLink: NEXT_LINK };
    },
  });
  assert.equal(looping.error.code, "invalid_web_api_response");
  assert.match(looping.error.message, /repeats the previous request/);
  assert.equal(calls, 2);
});
