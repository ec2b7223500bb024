//! Adapter parity: for every fixture of the core's corpus (`crates/convq-core/tests/fixtures`),
//! `POST /query` answers exactly `serde_json::to_value(convq_core::compile(..))`, or the failure
//! envelope of the error. Failing fixtures get the same envelope from `/getConversations`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use convq_backend::EmbeddedStore;
use convq_core::{Envelope, Options};
use convq_http::ServerConfig;

use crate::{TestServer, parts, post_json};

/// A fixture as the corpus driver reads it: the file's text is the input, compiled with default
/// options, unless the file is an object with exactly `options` and `input`.
struct Fixture {
    path: PathBuf,
    input: String,
    options: serde_json::Value,
}

fn load(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path).expect("fixture is UTF-8 text");
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_str(&text)
        && object.len() == 2
        && let (Some(options), Some(input)) = (object.get("options"), object.get("input"))
    {
        return Fixture {
            path: path.to_owned(),
            input: input.to_string(),
            options: options.clone(),
        };
    }
    Fixture {
        path: path.to_owned(),
        input: text,
        options: serde_json::json!({}),
    }
}

fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../convq-core/tests/fixtures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load(p)).collect()
}

#[tokio::test]
async fn query_answers_what_the_core_compiles_for_every_fixture() {
    let fixtures = fixtures();
    assert!(
        fixtures.len() >= 50,
        "the corpus is there: {}",
        fixtures.len()
    );

    // One server per distinct options object: options are server configuration.
    let mut by_options: BTreeMap<String, Vec<&Fixture>> = BTreeMap::new();
    for fixture in &fixtures {
        by_options
            .entry(fixture.options.to_string())
            .or_default()
            .push(fixture);
    }
    let (mut compiled, mut failed) = (0, 0);
    for (options_json, group) in by_options {
        let options: Options = serde_json::from_str(&options_json).expect("fixture options");
        let server = TestServer::start(
            Arc::new(EmbeddedStore::sample()),
            options.clone(),
            ServerConfig::default(),
        )
        .await;
        for fixture in group {
            let name = fixture.path.file_name().unwrap().to_string_lossy();
            let expected = convq_core::compile(&fixture.input, &options);
            let (status, _, body) =
                parts(post_json(&server.url("/query"), fixture.input.clone()).await).await;
            match &expected {
                Ok(value) => {
                    compiled += 1;
                    assert_eq!(status, 200, "{name}: {body}");
                    assert_eq!(body, serde_json::to_value(value).unwrap(), "{name}");
                }
                Err(error) => {
                    failed += 1;
                    let envelope = serde_json::to_value(Envelope::from(error)).unwrap();
                    assert_eq!(status, 400, "{name}: {body}");
                    assert_eq!(body, envelope, "{name}");
                    let (status, _, body) = parts(
                        post_json(&server.url("/getConversations"), fixture.input.clone()).await,
                    )
                    .await;
                    assert_eq!(
                        (status, &body),
                        (400, &envelope),
                        "{name} via getConversations"
                    );
                }
            }
        }
    }
    assert!(
        compiled > 0 && failed > 0,
        "{compiled} compiled, {failed} failed"
    );
}
