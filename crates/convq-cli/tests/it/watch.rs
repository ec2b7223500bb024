//! `convq get --watch`: the list, then its changes as NDJSON, with `--data` read again when the
//! file changes mid-run.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::Value;

use convq_simorg::testkit::conversation;

use crate::{AGENT, convq, spawn_piped};

#[test]
fn watch_prints_the_list_then_each_change_of_the_data_file() {
    let dir = std::env::temp_dir().join(format!("convq-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("store.json");
    let write = |records: &[Value]| {
        // Written aside and renamed: the watcher never reads half a file.
        let part = dir.join("store.json.part");
        std::fs::write(&part, serde_json::to_vec(records).unwrap()).unwrap();
        std::fs::rename(&part, &data).unwrap();
    };
    write(&[conversation(AGENT, 1, "one"), conversation(AGENT, 2, "two")]);
    let input = format!(
        r#"{{"agentId":"{AGENT}","attributes":["msdyn_title"],"orderBy":[{{"attributeName":"msdyn_title"}}]}}"#
    );
    let input_file = dir.join("input.json");
    std::fs::write(&input_file, input).unwrap();
    let mut child = spawn_piped(convq().args([
        "get",
        "--watch",
        "--interval",
        "100ms",
        "--watch-for",
        "20s",
        "--data",
        data.to_str().unwrap(),
        input_file.to_str().unwrap(),
    ]));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    let snapshot = next();
    assert_eq!(snapshot["event"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["data"]["values"].as_array().unwrap().len(), 2);
    // A different size too, so even a coarse modification time shows the change.
    write(&[
        conversation(AGENT, 1, "one, changed"),
        conversation(AGENT, 3, "three"),
    ]);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let line = next();
        seen.push((
            line["event"].as_str().unwrap().to_owned(),
            line["data"]["id"].as_str().unwrap().to_owned(),
        ));
    }
    let id = |n: u32| {
        conversation(AGENT, n, "")["activityid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        seen,
        [
            ("removed".to_owned(), id(2)),
            ("changed".to_owned(), id(1)),
            ("added".to_owned(), id(3)),
        ]
    );
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(10));
    let _ = std::fs::remove_dir_all(&dir);
}
