//! One query over several agents: what a service answering a whole team sends instead of one
//! request per agent (Dataverse allows an identity 6,000 requests per 5 minutes).
//!
//! The request is the single-agent request with the agent comparison widened to an `or` of
//! agents, `$select` widened by the agent column when the query does not select it (so the rows
//! can be told apart), and no `$top` (`top` is per agent). The agents are split over as many
//! requests as the URL length limit needs. Each agent's rows are the rows of the combined
//! answer whose agent is that agent, in the answer's order: the `$orderby` ends in the primary
//! key (or is absent, and Dataverse then orders by the primary key), so the order is total and
//! the rows of one agent come in the order its own request gives.

use uuid::Uuid;

use crate::ast::{Column, Query};
use crate::error::Error;
use crate::options::StatusFilter;
use crate::render;

/// The Web API property that holds a conversation's agent: what [`AgentsRequest`] filters on and
/// what tells the rows of its answer apart.
pub const AGENT_PROPERTY: &str = render::AGENT_PROPERTY;

/// One request of [`render_agents`]: a set of agents and the Web API request for their rows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentsRequest {
    /// The agents this request fetches, in the order given to [`render_agents`].
    pub agents: Vec<Uuid>,
    /// `$select`: the query's columns, plus [`AGENT_PROPERTY`] when `agent_column_added`.
    pub select: String,
    /// `$filter`: the query's filter over these agents.
    pub filter: String,
    /// `$orderby`, as the query's.
    pub orderby: Option<String>,
    /// `/api/data/v9.2/msdyn_ocliveworkitems?...`, percent-encoded like
    /// [`Compiled::path`](crate::Compiled::path). For one agent and a query without `top` it is
    /// exactly that path.
    pub path: String,
    /// Whether `$select` names [`AGENT_PROPERTY`] only to tell rows apart: the query does not
    /// select it, so it (and its annotations, `property@...`) must be removed from each row.
    pub agent_column_added: bool,
}

/// Renders `query` over `agents` (the query's own agent is ignored), split into as few
/// requests as keep each [`AgentsRequest::path`] within `max_path_length` characters. Repeated
/// agents are fetched once. The query's `top` is not rendered: it applies to each agent, so the
/// caller keeps the first `top` rows of each agent (or, better, does not combine such queries).
///
/// # Errors
/// [`Error::RequestTooLong`] when even one agent's request is longer than `max_path_length`.
pub fn render_agents(
    query: &Query,
    agents: &[Uuid],
    status_filter: StatusFilter,
    max_path_length: usize,
) -> Result<Vec<AgentsRequest>, Error> {
    let mut unique: Vec<Uuid> = Vec::with_capacity(agents.len());
    let mut seen = std::collections::HashSet::with_capacity(agents.len());
    for agent in agents {
        if seen.insert(*agent) {
            unique.push(*agent);
        }
    }
    if unique.is_empty() {
        return Ok(Vec::new());
    }
    let agent_column_added = !query
        .select
        .iter()
        .any(|c: &Column| c.property == AGENT_PROPERTY);
    let mut select = render::select(query);
    if agent_column_added {
        select.push(',');
        select.push_str(AGENT_PROPERTY);
    }
    let orderby = render::orderby(query);
    let request = |agents: &[Uuid]| {
        let filter = render::filter_for_agents(query, agents, status_filter);
        let path = render::request_path(&render::option_pairs(
            &select,
            &filter,
            orderby.as_deref(),
            None,
        ));
        AgentsRequest {
            agents: agents.to_vec(),
            select: select.clone(),
            filter,
            orderby: orderby.clone(),
            path,
            agent_column_added,
        }
    };

    // Every agent adds the same number of characters (a GUID is always 36), so the length of a
    // request depends only on how many agents it names: find the most that fit, by bisection
    // over real renderings rather than by arithmetic on the encoding.
    let length = |count: usize| request(&unique[..count]).path.len();
    let one = length(1);
    if one > max_path_length {
        return Err(Error::RequestTooLong {
            length: one,
            limit: max_path_length,
        });
    }
    let (mut fits, mut too_many) = (1, unique.len() + 1);
    if length(unique.len()) <= max_path_length {
        fits = unique.len();
    } else {
        while too_many - fits > 1 {
            let middle = fits + (too_many - fits) / 2;
            if length(middle) <= max_path_length {
                fits = middle;
            } else {
                too_many = middle;
            }
        }
    }
    Ok(unique.chunks(fits).map(request).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, compile};

    fn agent(n: u128) -> Uuid {
        Uuid::from_u128(0x2b33_0c52_6844_4d36_8e05_0000_0000_0000 + n)
    }

    fn query(extra: &str) -> Query {
        let input = format!(r#"{{"agentId":"{}"{extra}}}"#, agent(0));
        compile(&input, &Options::default()).unwrap().ast
    }

    #[test]
    fn one_agent_is_the_single_agent_request_plus_the_agent_column() {
        let q =
            query(r#","status":[2,3],"createdBeforeDays":2,"attributes":["msdyn_activeagentid"]"#);
        let compiled = compile(
            &format!(
                r#"{{"agentId":"{}","status":[2,3],"createdBeforeDays":2,"attributes":["msdyn_activeagentid"]}}"#,
                agent(0)
            ),
            &Options::default(),
        )
        .unwrap();
        let requests = render_agents(&q, &[agent(0)], StatusFilter::OrChain, 32_768).unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].path, compiled.path);
        assert!(!requests[0].agent_column_added);

        let plain = render_agents(&query(""), &[agent(0)], StatusFilter::OrChain, 32_768).unwrap();
        assert!(plain[0].agent_column_added);
        assert!(plain[0].select.ends_with(",_msdyn_activeagentid_value"));
    }

    #[test]
    fn several_agents_widen_the_agent_comparison() {
        let q = query(
            r#","status":[3],"orderBy":[{"attributeName":"createdon","descending":true}],"top":5"#,
        );
        let requests = render_agents(
            &q,
            &[agent(1), agent(2), agent(1)],
            StatusFilter::OrChain,
            32_768,
        )
        .unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].agents, [agent(1), agent(2)]);
        assert_eq!(
            requests[0].filter,
            format!(
                "(_msdyn_activeagentid_value eq {} or _msdyn_activeagentid_value eq {}) and \
                 statuscode eq 3",
                agent(1),
                agent(2)
            )
        );
        assert_eq!(
            requests[0].orderby.as_deref(),
            Some("createdon desc,activityid asc")
        );
        assert!(!requests[0].path.contains("%24top"), "{}", requests[0].path);
    }

    #[test]
    fn the_split_fills_each_request_up_to_the_limit() {
        let q = query(r#","status":[1,2,3]"#);
        let agents: Vec<Uuid> = (0..1_000).map(agent).collect();
        let limit = 32_768 - "https://contoso.crm.dynamics.com".len();
        let requests = render_agents(&q, &agents, StatusFilter::CrmIn, limit).unwrap();
        assert!(requests.len() > 1);
        let flat: Vec<Uuid> = requests.iter().flat_map(|r| r.agents.clone()).collect();
        assert_eq!(flat, agents);
        for request in &requests {
            assert!(request.path.len() <= limit);
        }
        // Full requests: one more agent would not have fit.
        let first = &requests[0];
        let more = render_agents(
            &q,
            &agents[..=first.agents.len()],
            StatusFilter::CrmIn,
            usize::MAX,
        )
        .unwrap();
        assert!(more[0].path.len() > limit);

        let error = render_agents(&q, &agents, StatusFilter::OrChain, 100).unwrap_err();
        assert_eq!(error.code(), "request_too_long");
        assert!(
            render_agents(&q, &[], StatusFilter::OrChain, 100)
                .unwrap()
                .is_empty()
        );
    }
}
