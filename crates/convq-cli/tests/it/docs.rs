//! `convq --version`, `convq completions <shell>` and `convq man`: what the release archive ships
//! (`cargo xtask dist` writes these outputs into it), checked here as a shell and `man` use them.

use std::process::Command;

use crate::{assert_exit, convq, stderr, stdout, workspace_root};

/// The subcommands and a few flags every completion script and man page must know.
const SUBCOMMANDS: &[&str] = &[
    "query",
    "get",
    "serve",
    "healthcheck",
    "completions",
    "man",
    "errors",
];
const FLAGS: &[&str] = &[
    "--ndjson",
    "--options",
    "--format",
    "--base-url",
    "--now",
    "--addr",
];

fn run(args: &[&str]) -> String {
    let output = convq().args(args).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        stderr(&output)
    );
    stdout(&output).to_owned()
}

#[test]
fn version_names_the_commit() {
    let version = run(&["--version"]);
    let git = Command::new("git")
        .args(["log", "-1", "--format=%h %cs", "--abbrev=12"])
        .current_dir(workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success());
    // Built from a checkout: the commit is HEAD's (build.rs reruns when HEAD moves).
    let commit = git.map_or_else(
        || "unknown commit".to_owned(),
        |o| String::from_utf8(o.stdout).unwrap().trim().to_owned(),
    );
    assert_eq!(
        version,
        format!("convq {} ({commit})\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Asks bash's completion function what it offers after `words` (the last one being completed).
fn bash_complete(script: &str, words: &[&str]) -> Vec<String> {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("convq.bash");
    std::fs::write(&path, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_convq convq '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let output = Command::new("bash")
        .args(["--norc", "-c", &program])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).lines().map(str::to_owned).collect()
}

#[test]
fn bash_completion_completes_subcommands_flags_and_values() {
    let script = run(&["completions", "bash"]);
    assert_eq!(bash_complete(&script, &["convq", "qu"]), ["query"]);
    assert_eq!(
        bash_complete(&script, &["convq", "query", "--nd"]),
        ["--ndjson"]
    );
    assert_eq!(
        bash_complete(&script, &["convq", "query", "--format", ""]),
        ["options", "url", "json", "fetchxml", "ast"]
    );
    assert_eq!(
        bash_complete(&script, &["convq", "completions", "p"]),
        ["powershell"]
    );
}

#[test]
fn every_shell_gets_a_script_that_knows_every_subcommand() {
    for (shell, marker) in [
        ("bash", "complete -F _convq"),
        ("zsh", "#compdef convq"),
        ("fish", "complete -c convq"),
        (
            "powershell",
            "Register-ArgumentCompleter -Native -CommandName 'convq'",
        ),
    ] {
        let script = run(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for word in SUBCOMMANDS.iter().chain(FLAGS) {
            let word = if shell == "fish" {
                word.trim_start_matches("--")
            } else {
                word
            };
            assert!(script.contains(word), "{shell} does not complete {word}");
        }
    }
    let bash = Command::new("bash")
        .args(["-n", "-c", &run(&["completions", "bash"])])
        .output()
        .unwrap();
    assert!(bash.status.success(), "{}", stderr(&bash));
}

#[test]
fn man_pages_render_without_warnings_and_document_every_subcommand() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("man");
    let _ = std::fs::remove_dir_all(&dir);
    run(&["man", "--dir", dir.to_str().unwrap()]);
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = SUBCOMMANDS
        .iter()
        .map(|s| format!("convq-{s}.1"))
        .chain(["convq.1".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(pages, expected);
    // The page on stdout is the top-level one.
    assert_eq!(
        run(&["man"]),
        std::fs::read_to_string(dir.join("convq.1")).unwrap()
    );
    let mut rendered = String::new();
    for page in &pages {
        // groff (groff-base, which man-db needs) in warning mode: a roff mistake fails here.
        let output = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-rLL=200n"])
            .arg(dir.join(page))
            .output()
            .expect("groff runs (Debian: apt-get install groff-base)");
        assert!(output.status.success(), "{page}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{page}");
        // groff overstrikes bold text (`x\bx`); keep the visible characters.
        let text = String::from_utf8(output.stdout).unwrap();
        let mut plain = String::new();
        for c in text.chars() {
            if c == '\u{8}' {
                plain.pop();
            } else {
                plain.push(c);
            }
        }
        rendered.push_str(&plain);
    }
    for word in FLAGS.iter().chain(&["Exit status:", "Examples:"]) {
        assert!(rendered.contains(word), "the man pages lack {word}");
    }
}

/// `docs/reference/errors.md` is what `convq errors` prints (`cargo xtask docs` writes it); the
/// committed file must not be stale.
#[test]
fn the_error_reference_is_what_convq_errors_prints() {
    let output = convq().arg("errors").output().unwrap();
    assert_exit(&output, 0);
    let committed = std::fs::read_to_string(workspace_root().join("docs/reference/errors.md"))
        .unwrap()
        .replace("\r\n", "\n");
    assert!(
        stdout(&output) == committed,
        "docs/reference/errors.md is stale: run `cargo xtask docs`"
    );
    for code in [
        "invalid_json",
        "invalid_options",
        "dataverse_throttled",
        "address_in_use",
    ] {
        assert!(committed.contains(&format!("| `{code}` |")), "{code}");
    }
}
