// compile() from the Node (CommonJS) build: the golden case byte for byte, input and options
// forms, and every error the corpus and the adapter produce, with its path.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const { GOLDEN_FIXTURE, loadNode, fixtures, readFixture, outcome } = require("../support.js");

const { compile } = loadNode();
const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";

// The documented example's expected query, written out in the domain spec (sections 4 and 6).
const GOLDEN_OPTIONS =
  "?$select=msdyn_ocliveworkitemid,_msdyn_liveworkstreamid_value,_msdyn_lastsessionid_value,statuscode,createdon,msdyn_title,msdyn_channel" +
  "&$filter=_msdyn_activeagentid_value eq 2b330c52-6844-4d36-8e05-03c78c9681dc and statuscode eq 3" +
  "&$orderby=createdon desc,activityid asc";
// Beside the input: the same expected text the core's Rust test reads (domain spec section 4).
const GOLDEN_FETCHXML = fs
  .readFileSync(GOLDEN_FIXTURE.replace(/\.json$/, ".fetchxml"), "utf8")
  .trimEnd();

test("golden case: the documented example compiles byte for byte", () => {
  const compiled = compile(fs.readFileSync(GOLDEN_FIXTURE, "utf8"));
  assert.equal(compiled.options, GOLDEN_OPTIONS);
  assert.equal(compiled.fetchxml, GOLDEN_FETCHXML);
  assert.equal(
    compiled.select,
    "msdyn_ocliveworkitemid,_msdyn_liveworkstreamid_value,_msdyn_lastsessionid_value,statuscode,createdon,msdyn_title,msdyn_channel",
  );
  assert.equal(compiled.filter, `_msdyn_activeagentid_value eq ${AGENT} and statuscode eq 3`);
  assert.equal(compiled.orderby, "createdon desc,activityid asc");
  assert.equal(compiled.top, null);
  assert.equal(compiled.url, null);
  assert.deepEqual(compiled.warnings, []);
  // The path encodes each option value as JavaScript's own encodeURIComponent does.
  const query = GOLDEN_OPTIONS.slice(1)
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      return `${pair.slice(0, eq)}=${encodeURIComponent(pair.slice(eq + 1))}`;
    })
    .join("&");
  assert.equal(compiled.path, `/api/data/v9.2/msdyn_ocliveworkitems?${query}`);
});

test("input as an object, as JSON text, and with a base URL", () => {
  const input = {
    agentId: `{${AGENT.toUpperCase()}}`,
    attributes: ["msdyn_title", "msdyn_channel"],
    status: [3],
    orderBy: [{ attributeName: "createdon", descending: true }],
  };
  const fromObject = compile(input);
  assert.equal(fromObject.options, GOLDEN_OPTIONS);
  assert.deepEqual(compile(JSON.stringify(input)), fromObject);
  assert.deepEqual(compile(input, undefined), fromObject);
  assert.deepEqual(compile(input, null), fromObject);
  assert.deepEqual(compile(input, {}), fromObject);

  const withUrl = compile(input, { baseUrl: "https://contoso.crm.dynamics.com/" });
  assert.equal(withUrl.url, `https://contoso.crm.dynamics.com${fromObject.path}`);
  assert.deepEqual(compile(input, '{"baseUrl": "https://contoso.crm.dynamics.com"}'), withUrl);
});

test("options change the query: statusFilter, unknownColumns, extraColumns", () => {
  const input = { agentId: AGENT, status: [3, 2], attributes: ["new_tier"] };
  const plain = compile(input);
  assert.match(plain.filter, /\(statuscode eq 2 or statuscode eq 3\)/);
  assert.deepEqual(
    plain.warnings.map((w) => [w.code, w.path]),
    [["unknown_column", "/attributes/0"]],
  );

  const crmIn = compile(input, { statusFilter: "crmIn" });
  assert.match(crmIn.filter, /Microsoft\.Dynamics\.CRM\.In\(PropertyName='statuscode',PropertyValues=\['2','3'\]\)/);

  assert.throws(() => compile(input, { unknownColumns: "error" }), {
    name: "ConvqError",
    code: "unknown_column",
    path: "/attributes/0",
  });

  const declared = compile(input, { extraColumns: [{ logicalName: "new_tier", type: "Lookup" }] });
  assert.deepEqual(declared.warnings, []);
  assert.match(declared.select, /,_new_tier_value$/);
});

test("a thrown ConvqError is an Error with code, path, message and hint", () => {
  let caught;
  try {
    compile({ agentId: "not-a-guid" });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Error);
  assert.equal(caught.name, "ConvqError");
  assert.equal(caught.code, "invalid_agent_id");
  assert.equal(caught.path, "/agentId");
  assert.equal(caught.message, '`/agentId` is not a GUID: "not-a-guid"');
  assert.match(caught.hint, /8-4-4-4-12/);
  assert.equal(String(caught), 'ConvqError: `/agentId` is not a GUID: "not-a-guid"');
  assert.match(caught.stack, /ConvqError/);

  // No hint: the property is absent, not undefined.
  try {
    compile("{");
    assert.fail("compiled");
  } catch (err) {
    assert.equal(err.code, "invalid_json");
    assert.equal(err.path, "");
    assert.equal("hint" in err, false);
  }
});

test("every error fixture of the core corpus throws its code", () => {
  const errorFixtures = fixtures().map(readFixture).filter((f) => f.name.startsWith("error_"));
  assert.ok(errorFixtures.length > 20, `only ${errorFixtures.length} error fixtures`);
  const codes = new Set();
  for (const fixture of errorFixtures) {
    const result = outcome(compile, fixture.input, fixture.options);
    assert.equal(result.status, false, `${fixture.name} compiled`);
    const { code, path, message } = result.error;
    // error_<code>_<what>: the name states the code.
    assert.ok(
      fixture.name === `error_${code}` || fixture.name.startsWith(`error_${code}_`),
      `${fixture.name} failed with ${code}`,
    );
    assert.match(path, /^(\/([^~/]|~[01])*)*$/, `${fixture.name}: path ${path} is not a JSON pointer`);
    assert.ok(message.length > 0);
    codes.add(code);
  }
  // The corpus covers the core's codes; an adapter that lost one would show here.
  for (const code of ["invalid_json", "duplicate_key", "invalid_type", "unknown_field", "missing_field",
    "invalid_agent_id", "invalid_status", "out_of_range", "invalid_base_url"]) {
    assert.ok(codes.has(code), `no fixture produced ${code}`);
  }
});

test("error paths point at the offending value", () => {
  const cases = [
    [{ agentId: AGENT, status: [3, "x"] }, "invalid_status", "/status/1"],
    [{ agentId: AGENT, orderBy: [{ attributeName: "createdon" }, { attributeName: "createdon" }] }, "duplicate_order_key", "/orderBy/1/attributeName"],
    [{ agentId: AGENT, orderBy: [{ attributeName: "createdon", desc: true }] }, "unknown_field", "/orderBy/0/desc"],
    [{ agentId: AGENT, "a/b~c": 1 }, "unknown_field", "/a~1b~0c"],
    [{ agentId: AGENT, top: 0 }, "out_of_range", "/top"],
    [{ attributes: [] }, "missing_field", "/agentId"],
    ['{"agentId": "x", "agentId": "y"}', "duplicate_key", "/agentId"],
    [[], "invalid_type", ""],
    [null, "invalid_type", ""],
  ];
  for (const [input, code, path] of cases) {
    assert.throws(() => compile(input), { code, path }, JSON.stringify(input));
  }
});

test("values JSON cannot carry are invalid_input", () => {
  const cyclic = { agentId: AGENT };
  cyclic.self = cyclic;
  const cases = [
    [undefined, /it is undefined/],
    [() => 1, /it is function/],
    [Symbol("x"), /it is symbol/],
    [{ agentId: AGENT, top: 10n }, /BigInt/],
    [cyclic, /circular/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => compile(input), { name: "ConvqError", code: "invalid_input", path: "", message }, String(typeof input));
  }
});

test("bad options are invalid_options with a pointer into the options", () => {
  const input = { agentId: AGENT };
  const cases = [
    [{ statusFilter: "in" }, "/statusFilter", /unknown variant `in`/],
    [{ unknownColumn: "warn" }, "/unknownColumn", /unknown field `unknownColumn`/],
    [{ extraColumns: [{ logicalName: "a", type: "Lookup" }, { logicalName: "b" }] }, "/extraColumns/1", /missing field `type`/],
    [{ baseUrl: 3 }, "/baseUrl", /invalid type: integer `3`/],
    [[], "", /expected an object, found an array/],
    [42, "", /expected an object, found a number/],
    ["{", "", /EOF while parsing/],
  ];
  for (const [options, path, message] of cases) {
    assert.throws(() => compile(input, options), { code: "invalid_options", path, message }, JSON.stringify(options));
  }
  // A valid options object with an invalid value for the core is the core's error.
  assert.throws(() => compile(input, { baseUrl: "contoso.crm.dynamics.com" }), { code: "invalid_base_url", path: "" });
});

test("compile is pure: the same input gives the same output", () => {
  const input = fs.readFileSync(GOLDEN_FIXTURE, "utf8");
  const first = JSON.stringify(compile(input));
  for (let i = 0; i < 100; i++) assert.equal(JSON.stringify(compile(input)), first);
});
