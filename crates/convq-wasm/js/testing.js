// `convq/testing`: a fake of the agent-side Omnichannel API (`Microsoft.Omnichannel`) and of the
// `Xrm.WebApi` reads of the conversation table, over one store, for unit tests of Dynamics 365
// customizations (web resources, PCF controls) in node:test, Jest or Vitest.
//
// The queries are the Rust store's (`convq_testing.js`, the module `cargo xtask wasm` builds with
// the `testing` feature): getConversations is `convq get`, and retrieveMultipleRecords reads its
// options string with the same core. This file keeps what an agent's session changes (focus,
// opened sessions, links, sent messages) and the test's controls (faults, latency, call log).
// `cargo xtask wasm` copies it to pkg/testing/index.js; docs/wasm.md describes the API.
"use strict";

const path = require("node:path");
const bound = require("./convq_testing.js");

/** The sample store shipped with the package: 3,000 conversations of 20 agents. */
const SAMPLE_CONVERSATIONS = path.join(__dirname, "sample-conversations.json");
/** "Now" of the sample store: its `createdon` values end here. */
const SAMPLE_NOW = "2026-11-20T12:00:00Z";

const ENTITY = "msdyn_ocliveworkitem";
const METHODS = [
  "getConversationId",
  "getConversations",
  "openConversation",
  "linkToConversation",
  "unlinkFromConversation",
  "sendMessageToConversation",
  "retrieveRecord",
  "retrieveMultipleRecords",
  "watchConversations",
];
const WEB_API_METHODS = new Set(["retrieveRecord", "retrieveMultipleRecords"]);
// The keys createOmnichannel reads itself; the others go to the store (records, now, timeZone,
// formattedValues and the compile options).
const OWN_KEYS = ["agentId", "focusedConversationId", "resolveFailures", "latency", "recordWarnings", "resolves", "pageSize"];
/** Which lookup a link sets, by the linked record's table (inferred: the documentation names the tables, not the columns). */
const LINKS = {
  account: { kind: "customer", property: "_msdyn_customer_value" },
  contact: { kind: "customer", property: "_msdyn_customer_value" },
  incident: { kind: "case", property: "_msdyn_issueid_value" },
};
const LOOKUP_TABLE = "@Microsoft.Dynamics.CRM.lookuplogicalname";
const FORMATTED = "@OData.Community.Display.V1.FormattedValue";
// Closed (4) and Resolved (6), or the Closed state: not an active conversation.
const INACTIVE_STATUS = new Set([4, 6]);
const GUID = /^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$/i;
// Dataverse's codes, as Xrm.WebApi rejects with them.
const XRM_NOT_FOUND = 0x80040217;
const XRM_BAD_REQUEST = 0x80060888;
const XRM_THROTTLED = 0x80072322;

function convqError(code, path, message, hint) {
  const error = new Error(message);
  error.name = "ConvqError";
  error.code = code;
  error.path = path;
  if (hint !== undefined) error.hint = hint;
  return error;
}

/** `{error: {code, message, path}, status: false}`: how the Omnichannel API fails. */
function failure(code, message, path = "", extra = {}) {
  return { error: { code, message, path, ...extra }, status: false };
}

/** `{errorCode, message}`: how Xrm.WebApi fails. */
function xrmError(errorCode, message, extra = {}) {
  return { errorCode, message, ...extra };
}

const guidKey = (id) => String(id).replace(/[{}]/g, "").toLowerCase();

/** The records as objects, from any form `records` takes (array, Web API body, or either as text, NDJSON too). */
function recordObjects(records) {
  let value = records;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      value = value
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line));
    }
  }
  if (!Array.isArray(value)) value = value.value;
  return JSON.parse(JSON.stringify(value));
}

/**
 * A fake `Microsoft.Omnichannel` (its own methods) with `webApi`, a fake `Xrm.WebApi` over the
 * same conversations. Throws a `ConvqError` for bad options or records the store cannot load.
 */
function createOmnichannel(options) {
  if (options === null || typeof options !== "object") {
    throw convqError("invalid_options", "", `the options are not valid: expected an object, found ${options === null ? "null" : typeof options}`);
  }
  const storeOptions = {};
  for (const key of Object.keys(options)) {
    if (!OWN_KEYS.includes(key)) storeOptions[key] = options[key];
  }
  const {
    agentId = null,
    focusedConversationId = null,
    resolveFailures = false,
    latency = 0,
    recordWarnings = "warn",
    resolves = {},
    pageSize = 5000,
  } = options;
  if (agentId !== null && !GUID.test(String(agentId))) {
    throw convqError("invalid_options", "/agentId", `the options are not valid: agentId ${JSON.stringify(agentId)} is not a GUID`);
  }
  if (!["warn", "error", "ignore"].includes(recordWarnings)) {
    throw convqError("invalid_options", "/recordWarnings", 'the options are not valid: recordWarnings is "warn", "error" or "ignore"');
  }

  // The store of the first load keeps the records as given (so its errors point into them);
  // after a change, it is rebuilt from `records` when next read.
  let store = bound.createOmnichannel(storeOptions);
  let records = null; // the records as objects, parsed on first need
  let dirty = false;
  const warnings = JSON.parse(store.loadWarnings()).filter((w) => !declared(w, storeOptions.extraColumns));
  for (const warning of warnings) {
    const text = `convq/testing: warning[${warning.code}] at ${warning.path}: ${warning.message}`;
    if (recordWarnings === "error") throw convqError(warning.code, warning.path, warning.message);
    if (recordWarnings === "warn") console.warn(text);
  }

  const session = {
    focused: focusedConversationId === null ? null : guidKey(focusedConversationId),
    sessions: [],
    messages: [],
  };
  const calls = [];
  const faults = new Map(); // method → [{kind, error, times, retryAfter}]
  const delays = typeof latency === "number" ? { default: latency } : { default: 0, ...latency };
  const watches = new Set(); // the open fake event sources of watchConversations
  let epoch = 0;

  function conversations() {
    if (records === null) records = recordObjects(options.records);
    return records;
  }
  function currentStore() {
    if (dirty) {
      store = bound.createOmnichannel({ ...storeOptions, records: records });
      dirty = false;
    }
    return store;
  }
  function find(id) {
    const key = guidKey(id);
    return conversations().find((r) => guidKey(r.activityid) === key || (r.msdyn_ocliveworkitemid != null && guidKey(r.msdyn_ocliveworkitemid) === key));
  }


  /**
   * What watchConversations reads instead of the service's stream: an `EventSource` whose events
   * come from the store. Each source keeps the server's feed of its agent's list (the double's
   * LiveList: the same diff, ids and positions as /getConversations/stream) and reads the store
   * again when the test calls emitChanges().
   */
  class FakeEventSource {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.listeners = new Map();
      this.input = new URL(url).searchParams.get("input");
      this.list = new bound.LiveList(String(JSON.parse(this.input).agentId), ++epoch);
      this.lastEventId = "";
      this.chain = Promise.resolve();
      watches.add(this);
      // As a real stream: open, then the snapshot, after the caller has its handle.
      this.chain = this.chain.then(() => {
        if (this.readyState === 2) return;
        this.readyState = 1;
        this.dispatch("open", {});
      });
      // The snapshot is the store as it is now, whatever the test changes before it arrives.
      this.poll(currentStore().getConversations(this.input));
    }
    addEventListener(type, listener) {
      if (!this.listeners.has(type)) this.listeners.set(type, []);
      this.listeners.get(type).push(listener);
    }
    close() {
      if (this.readyState === 2) return;
      this.readyState = 2;
      watches.delete(this);
    }
    dispatch(type, event) {
      for (const listener of this.listeners.get(type) ?? []) listener({ type, ...event });
    }
    /** Reads the store (or an injected fault; `read`: a read already made) and sends the events; resolves with them. */
    poll(read) {
      const run = async () => {
        if (this.readyState === 2) return [];
        const fault = read === undefined && takeFault("watchConversations");
        const answer = fault ? faultValue(fault, false, "watchConversations") : await (read ?? currentStore().getConversations(this.input));
        if (this.readyState === 2) return [];
        const events = JSON.parse(this.list.apply(JSON.stringify(answer)));
        for (const event of events) {
          if (this.readyState === 2) break;
          if (event.id !== undefined) this.lastEventId = event.id;
          this.dispatch(event.event, { data: JSON.stringify(event.data), lastEventId: this.lastEventId });
        }
        return events;
      };
      const done = this.chain.then(run);
      this.chain = done.catch(() => {});
      return done;
    }
  }

  /** Logs the call, applies faults and latency, then settles as the method does. */
  function call(method, args, correlationId, run) {
    const entry = { method, args: copy(args), correlationId: correlationId ?? null };
    calls.push(entry);
    const web = WEB_API_METHODS.has(method);
    const settle = async () => {
      const fault = takeFault(method);
      if (fault) return { rejected: true, value: faultValue(fault, web, method) };
      try {
        return { rejected: false, value: await run() };
      } catch (thrown) {
        return { rejected: true, value: thrown };
      }
    };
    const finish = ({ rejected, value }) => {
      entry.outcome = rejected ? "rejected" : "resolved";
      entry.value = value;
      if (rejected && !web && resolveFailures && value && value.status === false) return value;
      if (rejected) throw value;
      return value;
    };
    const ms = delays[method] ?? delays.default;
    if (!ms) return Promise.resolve().then(settle).then(finish);
    return new Promise((resolve) => setTimeout(resolve, ms)).then(settle).then(finish);
  }
  function takeFault(method) {
    const queue = faults.get(method);
    if (!queue || queue.length === 0) return null;
    const fault = queue[0];
    fault.times -= 1;
    if (fault.times <= 0) queue.shift();
    return fault;
  }
  function faultValue(fault, web, method) {
    if (fault.kind === "throttle") {
      const message = `Number of requests exceeded the limit (injected by convq/testing in ${method}); retry after ${fault.retryAfter} s`;
      return web
        ? xrmError(XRM_THROTTLED, message, { status: 429, retryAfter: fault.retryAfter })
        : failure("throttled", message, "", { status: 429, retryAfter: fault.retryAfter });
    }
    if (fault.error !== undefined) {
      if (web || (fault.error && fault.error.status === false)) return fault.error;
      return { error: fault.error, status: false };
    }
    const message = `${method} failed (injected by convq/testing)`;
    return web ? xrmError(XRM_BAD_REQUEST, message) : failure("injected_failure", message);
  }
  function addFault(method, fault) {
    if (!METHODS.includes(method)) {
      throw convqError("invalid_options", "", `no method ${JSON.stringify(method)}: one of ${METHODS.join(", ")}`);
    }
    if (!faults.has(method)) faults.set(method, []);
    faults.get(method).push(fault);
  }

  /** The conversation a method acts on: the given id, else the focused one; active when `active`. */
  function target(method, conversationId, { active }) {
    const id = conversationId ?? session.focused;
    if (id === null || id === undefined) {
      throw failure("no_focused_conversation", `${method}: no conversationId was given and no session is focused`, "/conversationId");
    }
    if (!GUID.test(String(id))) throw failure("invalid_argument", `${method}: conversationId ${JSON.stringify(id)} is not a GUID`, "/conversationId");
    const record = find(id);
    if (!record) throw failure("conversation_not_found", `${method}: no conversation ${id}`, "/conversationId");
    if (active && (INACTIVE_STATUS.has(record.statuscode) || record.statecode === 1)) {
      throw failure("conversation_not_active", `${method}: conversation ${id} is not active (statuscode ${record.statuscode})`, "/conversationId");
    }
    return record;
  }
  function linkArguments(method, entityLogicalName, recordId) {
    const link = LINKS[entityLogicalName];
    if (!link) {
      throw failure("invalid_argument", `${method}: entityLogicalName is account, contact or incident, not ${JSON.stringify(entityLogicalName)}`, "/entityLogicalName");
    }
    if (!GUID.test(String(recordId))) throw failure("invalid_argument", `${method}: recordId ${JSON.stringify(recordId)} is not a GUID`, "/recordId");
    return link;
  }
  function setLookup(record, property, table, id) {
    for (const key of Object.keys(record)) {
      if (key.startsWith(`${property}@`)) delete record[key];
    }
    record[property] = id;
    if (id !== null) record[`${property}${LOOKUP_TABLE}`] = table;
    dirty = true;
  }

  const fake = {
    getConversationId() {
      return call("getConversationId", [], null, () => {
        if (session.focused === null) throw failure("no_focused_conversation", "getConversationId: no session is focused");
        return session.focused;
      });
    },
    getConversations(input, correlationId) {
      return call("getConversations", [input, correlationId], correlationId, async () => {
        const answer = await currentStore().getConversations(input, correlationId);
        if (answer.status === false) throw answer;
        return answer;
      });
    },
    openConversation(conversationId, lastSessionId, liveWorkstreamId) {
      return call("openConversation", [conversationId, lastSessionId, liveWorkstreamId], null, () => {
        if (conversationId === undefined || conversationId === null) {
          throw failure("invalid_argument", "openConversation: conversationId is required", "/conversationId");
        }
        const record = target("openConversation", conversationId, { active: false });
        for (const [given, property, pointer] of [
          [lastSessionId, "_msdyn_lastsessionid_value", "/lastSessionId"],
          [liveWorkstreamId, "_msdyn_liveworkstreamid_value", "/liveWorkstreamId"],
        ]) {
          if (given != null && (record[property] == null || guidKey(record[property]) !== guidKey(given))) {
            throw failure("invalid_argument", `openConversation: ${given} is not the conversation's ${property} (${record[property] ?? null})`, pointer);
          }
        }
        const id = guidKey(record.activityid);
        session.sessions.push({ conversationId: id, lastSessionId: lastSessionId ?? null, liveWorkstreamId: liveWorkstreamId ?? null });
        session.focused = id;
        return resolves.openConversation;
      });
    },
    linkToConversation(entityLogicalName, recordId, conversationId) {
      return call("linkToConversation", [entityLogicalName, recordId, conversationId], null, () => {
        const link = linkArguments("linkToConversation", entityLogicalName, recordId);
        const record = target("linkToConversation", conversationId, { active: true });
        setLookup(record, link.property, entityLogicalName, guidKey(recordId));
        return resolves.linkToConversation;
      });
    },
    unlinkFromConversation(entityLogicalName, recordId, conversationId) {
      return call("unlinkFromConversation", [entityLogicalName, recordId, conversationId], null, () => {
        const link = linkArguments("unlinkFromConversation", entityLogicalName, recordId);
        const record = target("unlinkFromConversation", conversationId, { active: true });
        const current = record[link.property];
        const table = record[`${link.property}${LOOKUP_TABLE}`];
        if (current == null || guidKey(current) !== guidKey(recordId) || (table !== undefined && table !== entityLogicalName)) {
          throw failure("not_linked", `unlinkFromConversation: ${entityLogicalName} ${recordId} is not linked to conversation ${guidKey(record.activityid)}`, "/recordId");
        }
        setLookup(record, link.property, entityLogicalName, null);
        return resolves.unlinkFromConversation;
      });
    },
    sendMessageToConversation(message, toSendBox, conversationId) {
      return call("sendMessageToConversation", [message, toSendBox, conversationId], null, () => {
        const content = messageContent(message);
        const record = target("sendMessageToConversation", conversationId, { active: true });
        if (agentId === null) {
          throw failure("no_signed_in_agent", "sendMessageToConversation: give createOmnichannel an agentId (the signed-in agent) to send messages", "/agentId");
        }
        const assigned = record._msdyn_activeagentid_value;
        if (assigned == null || guidKey(assigned) !== guidKey(agentId)) {
          throw failure("not_assigned_to_agent", `sendMessageToConversation: conversation ${guidKey(record.activityid)} is assigned to ${assigned ?? "nobody"}, not to the signed-in agent ${agentId}`, "/conversationId");
        }
        session.messages.push({ conversationId: guidKey(record.activityid), message: content, toSendBox: toSendBox ?? true });
        return resolves.sendMessageToConversation;
      });
    },
    webApi: {
      retrieveRecord(entityLogicalName, id, options) {
        return call("retrieveRecord", [entityLogicalName, id, options], null, () => {
          entity(entityLogicalName);
          const record = GUID.test(String(id)) ? find(id) : undefined;
          if (!record) throw xrmError(XRM_NOT_FOUND, `${ENTITY} With Id = ${id} Does Not Exist`);
          const select = selectOf(options ?? "");
          if (select === null) return JSON.parse(JSON.stringify(record));
          const agent = record._msdyn_activeagentid_value;
          if (agent == null) {
            // No agent: the store (indexed by agent) cannot answer it; project here.
            const row = { activityid: record.activityid };
            for (const property of select) row[property] = record[property] ?? null;
            return row;
          }
          const page = retrieve(`?$select=${select.join(",")}&$filter=_msdyn_activeagentid_value eq ${guidKey(agent)}`);
          return page.values.find((row) => guidKey(row.activityid) === guidKey(record.activityid));
        });
      },
      retrieveMultipleRecords(entityLogicalName, options, maxPageSize) {
        return call("retrieveMultipleRecords", [entityLogicalName, options, maxPageSize], null, () => {
          entity(entityLogicalName);
          const text = options ?? "";
          const { values, skip } = retrieve(text);
          const size = maxPageSize ?? pageSize;
          if (!Number.isInteger(size) || size < 1) throw xrmError(XRM_BAD_REQUEST, `maxPageSize must be a positive integer, not ${maxPageSize}`);
          const entities = values.slice(skip, skip + size);
          const page = { entities };
          if (skip + size < values.length) {
            const query = text.replace(/^\?/, "").split("&").filter((p) => p !== "" && !p.startsWith("$skiptoken="));
            const encoded = query.map((pair) => {
              const at = pair.indexOf("=");
              return at < 0 ? pair : `${pair.slice(0, at)}=${encodeURIComponent(decodeURIComponent(pair.slice(at + 1)))}`;
            });
            encoded.push(`$skiptoken=${skip + size}`);
            page.nextLink = `https://convq-testing.crm.dynamics.com/api/data/v9.2/msdyn_ocliveworkitems?${encoded.join("&")}`;
          }
          return page;
        });
      },
    },
    /**
     * convq's `watchConversations(serviceUrl, input, options)` (the package's own code: input
     * check, events, lists, handle) reading the store instead of a service: the snapshot first,
     * then what changed each time the test calls `emitChanges()`. `serviceUrl` and `headers`
     * are recorded and otherwise ignored.
     */
    watchConversations(serviceUrl, input, options) {
      const { headers, EventSource, ...rest } = options ?? {};
      calls.push({ method: "watchConversations", args: copy([serviceUrl, input, headers ?? null]), correlationId: null });
      return bound.watchConversations(serviceUrl || "http://convq-testing.invalid", input, { ...rest, EventSource: FakeEventSource });
    },
    /**
     * Adds a conversation, or sets the given properties of the one with the same activityid (as
     * a Web API upsert): seen by the next call and by the next emitChanges().
     */
    upsert(record) {
      if (record === null || typeof record !== "object" || !GUID.test(String(record.activityid))) {
        throw convqError("invalid_argument", "/activityid", "upsert: the record needs its activityid (a GUID)");
      }
      const given = JSON.parse(JSON.stringify(record));
      const existing = find(record.activityid);
      if (existing) Object.assign(existing, given);
      else conversations().push(given);
      dirty = true;
    },
    /** Deletes a conversation; whether there was one. */
    remove(conversationId) {
      const list = conversations();
      const at = list.findIndex((r) => guidKey(r.activityid) === guidKey(conversationId));
      if (at < 0) return false;
      list.splice(at, 1);
      dirty = true;
      return true;
    },
    /**
     * What the service does each interval: every open watchConversations list is read again and
     * its changes sent (removed, then added and changed in list order, with positions). Resolves
     * with the events sent, after the handlers ran.
     */
    async emitChanges() {
      const sent = await Promise.all([...watches].map((source) => source.poll()));
      return sent.flat();
    },
    /** What the fake holds now, as a copy: read it in assertions. */
    get state() {
      return JSON.parse(
        JSON.stringify({
          agentId,
          focusedConversationId: session.focused,
          sessions: session.sessions,
          messages: session.messages,
          conversations: conversations(),
          warnings,
        }),
      );
    },
    /** Every call so far, in order: `{method, args, correlationId, outcome, value}`. */
    get calls() {
      return calls;
    },
    /** Focuses the session of a conversation, as the agent clicking its tab. */
    focus(conversationId) {
      session.focused = conversationId === null ? null : guidKey(conversationId);
    },
    /** The next `times` calls of `method` fail (with `error`, else an injected failure). */
    fail(method, error, { times = 1 } = {}) {
      addFault(method, { kind: "fail", error, times });
    },
    /** The next `times` calls of `method` are throttled: HTTP 429 with `retryAfter` seconds. */
    throttle(method, { retryAfter = 1, times = 1 } = {}) {
      addFault(method, { kind: "throttle", retryAfter, times });
    },
    /** Calls of `method` (every method without one) settle after `ms` milliseconds. */
    setLatency(method, ms) {
      if (typeof method === "number") delays.default = method;
      else delays[method] = ms;
    },
    /** Sets `Microsoft.Omnichannel` and `Xrm.WebApi` on `target` (globalThis); returns the undo. */
    install(target = globalThis) {
      const before = { Microsoft: target.Microsoft, Xrm: target.Xrm };
      target.Microsoft = { ...(target.Microsoft || {}), Omnichannel: fake };
      target.Xrm = { ...(target.Xrm || {}), WebApi: fake.webApi };
      return () => {
        for (const key of ["Microsoft", "Xrm"]) {
          if (before[key] === undefined) delete target[key];
          else target[key] = before[key];
        }
      };
    },
  };

  function entity(name) {
    if (name !== ENTITY) throw xrmError(XRM_BAD_REQUEST, `convq/testing fakes the ${ENTITY} table only, not ${JSON.stringify(name)}`);
  }
  /** The store's answer to an options string: `{values, skip}`; Xrm's rejection otherwise. */
  function retrieve(text) {
    let read;
    try {
      read = JSON.parse(currentStore().retrieveMultiple(text));
    } catch (error) {
      throw xrmError(XRM_BAD_REQUEST, error.message);
    }
    if (read.answer.status === false) {
      const { code, message, path } = read.answer.error;
      throw xrmError(XRM_BAD_REQUEST, `${message} (${code}${path ? ` at ${path}` : ""})`);
    }
    return { values: read.answer.result.values, skip: read.skipToken === null ? 0 : Number(read.skipToken) };
  }
  return fake;
}

/** A JSON copy of call arguments (undefined as null); the value itself when it has no JSON. */
function copy(args) {
  try {
    return JSON.parse(JSON.stringify(args, (_, v) => (v === undefined ? null : v)));
  } catch {
    return args;
  }
}

/** `$select` of a retrieveRecord options string (`null`: every column); other options are refused. */
function selectOf(options) {
  let select = null;
  for (const pair of options.replace(/^\?/, "").split("&").filter((p) => p !== "")) {
    const [name, value = ""] = pair.split("=");
    if (name !== "$select") throw xrmError(XRM_BAD_REQUEST, `convq/testing's retrieveRecord reads $select only, not ${name}`);
    select = decodeURIComponent(value).split(",").map((c) => c.trim()).filter((c) => c !== "");
  }
  return select;
}

/** A message as sendMessageToConversation accepts it: a string, or a rich object (or its JSON). */
function messageContent(message) {
  if (typeof message === "string") {
    let parsed = null;
    try {
      parsed = JSON.parse(message);
    } catch {
      return message;
    }
    return parsed !== null && typeof parsed === "object" ? richObject(parsed) : message;
  }
  if (message !== null && typeof message === "object" && !Array.isArray(message)) return richObject(message);
  throw failure("invalid_argument", "sendMessageToConversation: the message is a string or a rich object", "/message");
}

function richObject(object) {
  for (const key of ["richObjectId", "richObjectType", "richObjectName"]) {
    if (typeof object[key] !== "string" || object[key] === "") {
      throw failure("invalid_argument", `sendMessageToConversation: a rich object needs ${key} (a string)`, `/message/${key}`);
    }
  }
  return JSON.parse(JSON.stringify(object));
}

/** Whether a warning is about a column the options declare with extraColumns. */
function declared(warning, extraColumns) {
  if (warning.code !== "store_unknown_property" || !Array.isArray(extraColumns)) return false;
  const property = warning.path.split("/").pop();
  return extraColumns.some((c) => c && (c.logicalName === property || `_${c.logicalName}_value` === property));
}

module.exports = {
  createOmnichannel,
  SAMPLE_CONVERSATIONS,
  SAMPLE_NOW,
  compile: bound.compile,
  getConversations: bound.getConversations,
};
