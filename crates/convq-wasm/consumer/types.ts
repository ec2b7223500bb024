// The package's types as a TypeScript project uses them (tsc --noEmit --strict).
import { compile, getConversations, type Compiled, type Envelope, type Input, type Options } from "convq";
import { createOmnichannel, type Conversation, type OmnichannelOptions } from "convq/testing";

const input: Input = {
  agentId: "2b330c52-6844-4d36-8e05-03c78c9681dc",
  status: [3],
  orderBy: [{ attributeName: "createdon", descending: true }],
};
const options: Options = { baseUrl: "https://contoso.crm.dynamics.com" };
const compiled: Compiled = compile(input, options);
const url: string | null = compiled.url;
const top: number | null = compiled.top;

async function titles(envelope: Promise<Envelope>): Promise<string[]> {
  const answer = await envelope;
  // `status` is `true` or `false`: it tells the two shapes apart.
  if (!answer.status) {
    const { code, path, message }: { code: string; path: string; message: string } = answer.error;
    throw new Error(`${code} at ${path}: ${message}`);
  }
  // Records are `unknown` (their columns depend on the query): the caller narrows them.
  return answer.result.values.map((row) => String((row as Record<string, unknown>)["msdyn_title"]));
}

const double: OmnichannelOptions = {
  records: [],
  now: new Date(),
  timeZone: "Europe/Paris",
  formattedValues: true,
  createdBeforeDays: "olderThanXDays",
};
const omnichannel = createOmnichannel(double);
export const results = [
  url,
  top,
  titles(omnichannel.getConversations(input, "correlation")),
  titles(getConversations(input, null, { retrieveMultipleRecords: async () => ({ entities: [] }) })),
];

// The double's run options are typed: a zone is a string, formattedValues a boolean, the
// createdBeforeDays reading one of two names.
// @ts-expect-error formattedValues is a boolean
const notBoolean: OmnichannelOptions = { records: [], formattedValues: "yes" };
// @ts-expect-error createdBeforeDays is "lastXDays" or "olderThanXDays"
const notAReading: OmnichannelOptions = { records: [], createdBeforeDays: "older" };
export const wrong = [notBoolean, notAReading];

// A conversation record is typed from the catalog: Web API names, annotations beside them.
const record: Conversation = {
  activityid: "00000000-0000-4000-8000-000000000001",
  _msdyn_activeagentid_value: "2b330c52-6844-4d36-8e05-03c78c9681dc",
  statuscode: 3,
  "statuscode@OData.Community.Display.V1.FormattedValue": "Waiting",
};
// @ts-expect-error a lookup's logical name is not a Web API property
const logical: Conversation = { activityid: "x", msdyn_activeagentid: "2b330c52-6844-4d36-8e05-03c78c9681dc" };
export const records = [record, logical];

// Live lists: typed events, handlers and handle; the fake has the same signature.
import { watchConversations, type Watch, type WatchEvent, type WatchOptions } from "convq";
const watchOptions: WatchOptions = {
  onEvent: (event: WatchEvent) => {
    if (event.event === "added" || event.event === "changed") {
      const at: number = event.data.position;
      const id: string = event.data.record.activityid;
      void [at, id, event.id];
    } else if (event.event === "failed") {
      const code: string = event.data.error.code;
      // @ts-expect-error failed events have no id
      void [code, event.id];
    }
  },
  onList: (agentId: string, values: Conversation[]) => void [agentId, values.length],
  onError: (error) => void (error instanceof Error ? error.message : error.httpStatus),
  headers: { "x-api-key": "key" },
  retry: 1000,
  extraColumns: [],
};
export function follow(serviceUrl: string): Watch {
  const watch = watchConversations(serviceUrl, input, watchOptions);
  const list: Conversation[] = watch.list(input.agentId);
  const transport: "EventSource" | "fetch" = watch.transport;
  void [list, transport, watch.lastEventId];
  return watch;
}
export async function fakeChanges(): Promise<WatchEvent[]> {
  const watch: Watch = omnichannel.watchConversations(null, input, { onList: (_agent, values) => void values });
  omnichannel.upsert({ activityid: "00000000-0000-4000-8000-000000000002", statuscode: 2 });
  omnichannel.remove("00000000-0000-4000-8000-000000000001");
  const events = await omnichannel.emitChanges();
  watch.close();
  return events;
}
// @ts-expect-error retry is milliseconds
export const badRetry: WatchOptions = { retry: "1s" };
