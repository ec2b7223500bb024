//! The batch endpoint and the shared Dataverse path (coalescing, cache, metrics) of the
//! service, against the simulated organization on 127.0.0.1.

use serde_json::json;

use crate::{TestServer, parts, post_json};

#[tokio::test]
async fn a_batch_answers_each_input_alone_in_order() {
    let server = TestServer::sample().await;
    let agent = "2b330c52-6844-4d36-8e05-03c78c9681dc";
    let body = json!({"inputs": [
        {"agentId": agent, "status": [3], "top": 2},
        {"agentId": "x"},
        {"agentId": agent, "top": 1},
        42,
    ]});
    let response = post_json(&server.url("/getConversations/batch"), body.to_string()).await;
    assert_eq!(response.headers()["age"], "0");
    let (status, _, body) = parts(response).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["status"], true);
    assert_eq!(results[0]["result"]["values"].as_array().unwrap().len(), 2);
    assert_eq!(results[1]["status"], false);
    assert_eq!(results[1]["error"]["code"], "invalid_agent_id");
    assert_eq!(results[1]["error"]["path"], "/agentId");
    assert_eq!(results[2]["result"]["values"].as_array().unwrap().len(), 1);
    assert_eq!(results[3]["error"]["code"], "invalid_type");

    // Same answers as one at a time.
    let alone = post_json(
        &server.url("/getConversations"),
        json!({"agentId": agent, "status": [3], "top": 2}).to_string(),
    )
    .await;
    let (_, _, alone) = parts(alone).await;
    assert_eq!(results[0], alone);

    for (bad, fragment) in [
        (json!({"input": []}), "unknown field"),
        (json!([]), "the body is not"),
        (json!({"inputs": vec![json!({}); 1_001]}), "at most 1000"),
    ] {
        let (status, _, body) =
            parts(post_json(&server.url("/getConversations/batch"), bad.to_string()).await).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_batch");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(fragment),
            "{body}"
        );
    }
    server.stop().await.unwrap();
}
