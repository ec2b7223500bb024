// The package's types as a TypeScript project uses them (tsc --noEmit --strict).
import { compile, getConversations, type Compiled, type Envelope, type Input, type Options } from "convq";
import { createOmnichannel, type OmnichannelOptions } from "convq/testing";

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
  // `status` is a boolean in both shapes, so the shapes are told apart by their keys.
  if ("error" in answer) {
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
