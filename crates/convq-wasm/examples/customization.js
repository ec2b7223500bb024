// A customization as a web resource or PCF control has it: it reads the globals Dynamics 365
// provides (Microsoft.Omnichannel, Xrm.WebApi). Copied into each example project.
"use strict";

/** The focused conversation's title, and how many other conversations wait for the same agent. */
async function focusedSummary(agentId) {
  const id = await Microsoft.Omnichannel.getConversationId();
  const record = await Xrm.WebApi.retrieveRecord("msdyn_ocliveworkitem", id, "?$select=msdyn_title");
  const answer = await Microsoft.Omnichannel.getConversations({ agentId, status: [3] }, `summary-${id}`);
  const waiting = answer.result.values.filter((row) => row.activityid !== id).length;
  return { title: record.msdyn_title, waiting };
}

/** Links the case to the focused conversation and tells the customer; false when the API refuses. */
async function linkCaseAndTell(caseId, caseNumber) {
  try {
    await Microsoft.Omnichannel.linkToConversation("incident", caseId);
    await Microsoft.Omnichannel.sendMessageToConversation(`Your case number is ${caseNumber}.`, false);
    return true;
  } catch (failure) {
    // The API rejects with {error: {code, message}, status: false}.
    console.error(failure.error.code, failure.error.message);
    return false;
  }
}

module.exports = { focusedSummary, linkCaseAndTell };
