//! A failing organization: a huge page, refused at the cap, with the server's peak memory
//! reported. The simulated organization on 127.0.0.1, scripted with an answer the test switches.

use convq_simorg::testkit::{Answer, Switched};

use super::process::Process;
use super::{WAITING, error_code, parts, post_json};

/// Resident and peak resident memory of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test]
async fn a_400_mib_page_is_refused_at_the_cap_and_memory_is_reused() {
    let org = Switched::start(Answer::Records).await;
    // No answer cache: each request below must read the org's current page, not the answer
    // cached from the one before.
    let process = Process::start_with_token(&[
        "--dataverse",
        org.url(),
        "--dataverse-timeout",
        "60s",
        "--request-timeout",
        "60s",
        "--cache-ttl",
        "0",
    ])
    .await;
    let pid = process.pid();
    let url = process.url("/getConversations");
    let (status, _, body) = parts(post_json(&url, WAITING).await).await;
    assert_eq!(status, 200, "{body}");
    let (baseline, _) = memory(pid);

    // Streamed by the org: holding it whole would take over 400 MiB; reading stops at 64.
    org.set(Answer::Huge(400 << 20));
    let (status, _, body) = parts(post_json(&url, WAITING).await).await;
    assert_eq!(
        (status, error_code(&body)),
        (502, "dataverse_response_too_large"),
        "{body}"
    );
    assert_eq!(
        body["error"]["message"],
        "Dataverse sent more than 67108864 bytes for one page; convq stopped reading instead of \
         holding it all in memory"
    );
    let (after_refused, peak_refused) = memory(pid);

    // A large page under the cap (16 MiB) is answered, twice: the memory of one answer is
    // reused by the next, not kept on top of it.
    org.set(Answer::Huge(16 << 20));
    let mut after = Vec::new();
    for _ in 0..2 {
        let response = post_json(&url, WAITING).await;
        assert_eq!(response.status(), 200);
        let answer = response.bytes().await.unwrap();
        assert!(answer.len() > 12 << 20, "{}", answer.len());
        after.push(memory(pid));
    }
    eprintln!(
        "server memory (MiB): baseline {baseline:.1} RSS; 400 MiB page refused at the 64 MiB cap: \
         peak {peak_refused:.1}, then {after_refused:.1} RSS; two 16 MiB pages answered: \
         RSS/peak after each {after:.1?}"
    );
    assert!(
        peak_refused - baseline < 256.0,
        "refusing costs a few times the 64 MiB cap, not the 400 MiB page: peak {peak_refused:.1} MiB"
    );
    // The second answer reuses the first one's memory: the high-water mark does not grow by
    // another answer's worth. (Resident memory itself moves by tens of MiB with the
    // allocator's page retention, so it is not what is compared.)
    let (_, first_peak) = after[0];
    let (_, last_peak) = after[1];
    assert!(
        last_peak < first_peak + 16.0,
        "memory does not grow with each large answer: {after:.1?}"
    );
    assert!(last_peak < 400.0, "{after:.1?}");
    process.signal("TERM");
    process.wait().await;
}
