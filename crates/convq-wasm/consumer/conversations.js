// Code as a PCF control or web resource has it: the signed-in agent's waiting conversations,
// newest first, through the Omnichannel API that Dynamics 365 provides at run time.
"use strict";

const WAITING = 3;

/**
 * The titles of the agent's waiting conversations, newest first.
 * @param {string} agentId
 * @returns {Promise<string[]>}
 */
async function waitingTitles(agentId) {
  let answer;
  try {
    answer = await Microsoft.Omnichannel.getConversations(
      {
        agentId,
        status: [WAITING],
        attributes: ["msdyn_title"],
        orderBy: [{ attributeName: "createdon", descending: true }],
      },
      "waiting-titles",
    );
  } catch (failure) {
    // The API rejects with the failure envelope, {error, status: false}.
    throw new Error(`${failure.error.code} at ${failure.error.path}: ${failure.error.message}`);
  }
  return answer.result.values.map((conversation) => conversation.msdyn_title);
}

module.exports = { waitingTitles };
