// A customization as a web resource or PCF control has it, in TypeScript: the focused
// conversation's title and customer, through the Omnichannel API and Xrm.WebApi that Dynamics 365
// provides at run time (typed here by convq/testing's global declarations), and linking a case.
/// <reference types="convq/testing/globals" />
import type { Conversation } from "convq/testing";

export interface Focused {
  id: string;
  title: string | null;
  customerId: string | null;
}

/** The focused conversation, read with Xrm.WebApi.retrieveRecord. */
export async function focusedConversation(): Promise<Focused> {
  const id = await Microsoft.Omnichannel.getConversationId();
  const record: Conversation = await Xrm.WebApi.retrieveRecord(
    "msdyn_ocliveworkitem",
    id,
    "?$select=msdyn_title,_msdyn_customer_value",
  );
  return { id, title: record.msdyn_title ?? null, customerId: record._msdyn_customer_value ?? null };
}

/** Links the case to the focused conversation, then says how many active ones the agent has. */
export async function linkCase(agentId: string, caseId: string): Promise<number> {
  await Microsoft.Omnichannel.linkToConversation("incident", caseId);
  const answer = await Microsoft.Omnichannel.getConversations({ agentId, status: [2] }, "link-case");
  // `status` discriminates the envelope: in this branch `result` exists.
  if (answer.status) return answer.result.values.length;
  throw new Error(`${answer.error.code}: ${answer.error.message}`);
}
