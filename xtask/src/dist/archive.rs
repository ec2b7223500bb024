//! The release archive for the host target: `target/dist/convq-<version>-<target>.tar.gz`, with
//! a `.sha256` beside it.
//!
//! ```text
//! convq-0.1.0-x86_64-unknown-linux-gnu/
//!   convq                      the release binary (`convq.exe` on Windows)
//!   README.md  CHANGELOG.md  LICENSE-MIT  LICENSE-APACHE
//!   completions/convq.bash  completions/_convq  completions/convq.fish  completions/_convq.ps1
//!   man/man1/convq.1  man/man1/convq-query.1  ...  (one page per subcommand)
//! ```
//!
//! Completions and man pages are not committed: the packed binary prints them (`convq
//! completions <shell>`, `convq man --dir`) while the archive is assembled, so they always match
//! it; convq-cli's tests check what those commands print. The archive is reproducible: entries
//! sorted, owner 0, times from the commit.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail, ensure};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha256};

/// The files copied from the repository root as they are.
const DOCS: &[&str] = &["README.md", "CHANGELOG.md", "LICENSE-MIT", "LICENSE-APACHE"];

/// Each shell `convq completions` knows, and the file name its completion loader looks for.
const COMPLETIONS: &[(&str, &str)] = &[
    ("bash", "convq.bash"),
    ("zsh", "_convq"),
    ("fish", "convq.fish"),
    ("powershell", "_convq.ps1"),
];

/// Packs `binary`, or the release binary built now, into `out`; returns the archive's path.
pub(super) fn build(root: &Path, binary: Option<&Path>, out: &Path) -> anyhow::Result<PathBuf> {
    let binary = match binary {
        Some(binary) => binary.to_owned(),
        None => {
            let status = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--release",
                    "--locked",
                    "-p",
                    "convq-cli",
                    "--bin",
                    "convq",
                ])
                .current_dir(root)
                .status()
                .context("running cargo build")?;
            ensure!(
                status.success(),
                "cargo build --release -p convq-cli failed"
            );
            root.join("target/release")
                .join(format!("convq{}", std::env::consts::EXE_SUFFIX))
        }
    };
    ensure!(binary.is_file(), "{} is not a file", binary.display());
    assemble(root, &binary, &host_target()?, out)
}

/// Packs `binary` and what it prints with the repository's docs into `out`.
pub(super) fn assemble(
    root: &Path,
    binary: &Path,
    target: &str,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    let version = binary_version(binary)?;
    let name = format!("convq-{version}-{target}");
    let mut entries: Vec<(String, Vec<u8>, u32)> = Vec::new();
    let exe = format!("convq{}", std::env::consts::EXE_SUFFIX);
    entries.push((exe, read(binary)?, 0o755));
    for doc in DOCS {
        entries.push(((*doc).to_owned(), read(&root.join(doc))?, 0o644));
    }
    for (shell, file) in COMPLETIONS {
        let script = run(binary, &["completions", shell])?;
        ensure!(
            !script.is_empty(),
            "`convq completions {shell}` printed nothing"
        );
        entries.push((format!("completions/{file}"), script, 0o644));
    }
    let man_dir = out.join(format!(".{name}-man"));
    let _ = std::fs::remove_dir_all(&man_dir);
    run(binary, &["man", "--dir", &man_dir.to_string_lossy()])?;
    for entry in std::fs::read_dir(&man_dir).context("reading the man pages")? {
        let path = entry?.path();
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        entries.push((format!("man/man1/{file}"), read(&path)?, 0o644));
    }
    std::fs::remove_dir_all(&man_dir)?;
    ensure!(
        entries.iter().any(|(path, ..)| path == "man/man1/convq.1"),
        "`convq man --dir` wrote no convq.1"
    );
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let archive = out.join(format!("{name}.tar.gz"));
    let bytes = pack(&name, &entries, commit_time(root))?;
    std::fs::write(&archive, &bytes).with_context(|| format!("writing {}", archive.display()))?;
    verify(&bytes, &name, &entries)?;
    let digest = format!("{:x}", Sha256::digest(&bytes));
    std::fs::write(
        out.join(format!("{name}.tar.gz.sha256")),
        format!("{digest}  {name}.tar.gz\n"),
    )?;
    Ok(archive)
}

/// A gzipped tar of `entries` under the directory `name`, with fixed owners and times.
fn pack(name: &str, entries: &[(String, Vec<u8>, u32)], mtime: u64) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::best()));
    let mut directories: Vec<String> = vec![String::new()];
    for (path, ..) in entries {
        if let Some((dir, _)) = path.rsplit_once('/') {
            for (i, _) in dir.match_indices('/').chain([(dir.len(), "")]) {
                let parent = format!("{}/", &dir[..i]);
                if !directories.contains(&parent) {
                    directories.push(parent);
                }
            }
        }
    }
    directories.sort();
    for dir in &directories {
        let mut header = header(tar::EntryType::Directory, 0o755, 0, mtime);
        tar.append_data(&mut header, format!("{name}/{dir}"), std::io::empty())?;
    }
    for (path, contents, mode) in entries {
        let mut header = header(tar::EntryType::Regular, *mode, contents.len() as u64, mtime);
        tar.append_data(&mut header, format!("{name}/{path}"), contents.as_slice())?;
    }
    Ok(tar.into_inner()?.finish()?)
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header
}

/// Reads the archive back: every file there, with its bytes and mode, and nothing else.
fn verify(bytes: &[u8], name: &str, entries: &[(String, Vec<u8>, u32)]) -> anyhow::Result<()> {
    let mut found = Vec::new();
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let path = entry.path()?.to_string_lossy().into_owned();
        let mode = entry.header().mode()?;
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents)?;
        let path = path
            .strip_prefix(&format!("{name}/"))
            .with_context(|| format!("{path} is outside {name}/"))?
            .to_owned();
        found.push((path, contents, mode));
    }
    if found != entries {
        let names = |list: &[(String, Vec<u8>, u32)]| {
            list.iter().map(|(p, ..)| p.clone()).collect::<Vec<_>>()
        };
        bail!(
            "the archive reads back as {:?}, not {:?}",
            names(&found),
            names(entries)
        );
    }
    Ok(())
}

/// The version `convq --version` prints (`convq 0.1.0 (1a2b3c4d5e6f 2026-12-01)`).
fn binary_version(binary: &Path) -> anyhow::Result<String> {
    let text = String::from_utf8(run(binary, &["--version"])?)?;
    let version = text
        .strip_prefix("convq ")
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|v| v.split('.').count() == 3)
        .with_context(|| format!("`convq --version` printed {text:?}"))?;
    Ok(version.to_owned())
}

/// The target triple rustc builds for by default (`host: ...` in `rustc -vV`).
fn host_target() -> anyhow::Result<String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8(output.stdout)?
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV names no host")
}

/// The time of HEAD's commit, so that packing the same commit twice gives the same bytes
/// (`SOURCE_DATE_EPOCH` first, as reproducible builds set it; 0 without git).
fn commit_time(root: &Path) -> u64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|e| e.parse().ok())
    {
        return epoch;
    }
    Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(root)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn run(binary: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let output = Command::new(binary)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", binary.display(), args.join(" ")))?;
    ensure!(
        output.status.success(),
        "`convq {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output.stdout)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the binary (a shell script answering the three commands the archive
    /// needs), so the layout is tested without a release build; CI packs the real (debug) binary.
    #[cfg(unix)]
    #[test]
    fn the_archive_holds_the_binary_docs_completions_and_man_pages_and_is_reproducible() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = std::env::temp_dir().join(format!("convq-xtask-archive-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (root, out) = (dir.join("root"), dir.join("out"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        for doc in DOCS {
            std::fs::write(root.join(doc), format!("{doc} text")).unwrap();
        }
        let binary = root.join("convq");
        std::fs::write(
            &binary,
            "#!/bin/sh\ncase \"$1\" in\n\
             --version) echo 'convq 9.8.7 (0123456789ab 2026-12-01)';;\n\
             completions) echo \"# $2 completions\";;\n\
             man) mkdir -p \"$3\" && echo '.TH convq 1' > \"$3/convq.1\" && \
                  echo '.TH convq-get 1' > \"$3/convq-get.1\";;\n\
             *) exit 1;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();

        let archive = assemble(&root, &binary, "x86_64-test-linux", &out).unwrap();
        assert_eq!(
            archive.file_name().unwrap(),
            "convq-9.8.7-x86_64-test-linux.tar.gz"
        );
        let bytes = std::fs::read(&archive).unwrap();
        let mut listed = Vec::new();
        for entry in tar::Archive::new(GzDecoder::new(&bytes[..]))
            .entries()
            .unwrap()
        {
            let mut entry = entry.unwrap();
            let mode = entry.header().mode().unwrap();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            listed.push(format!(
                "{path} {mode:o} {}",
                text.lines().next().unwrap_or("")
            ));
        }
        let p = "convq-9.8.7-x86_64-test-linux";
        assert_eq!(
            listed,
            [
                format!("{p}/ 755 "),
                format!("{p}/completions/ 755 "),
                format!("{p}/man/ 755 "),
                format!("{p}/man/man1/ 755 "),
                format!("{p}/CHANGELOG.md 644 CHANGELOG.md text"),
                format!("{p}/LICENSE-APACHE 644 LICENSE-APACHE text"),
                format!("{p}/LICENSE-MIT 644 LICENSE-MIT text"),
                format!("{p}/README.md 644 README.md text"),
                format!("{p}/completions/_convq 644 # zsh completions"),
                format!("{p}/completions/_convq.ps1 644 # powershell completions"),
                format!("{p}/completions/convq.bash 644 # bash completions"),
                format!("{p}/completions/convq.fish 644 # fish completions"),
                format!("{p}/convq 755 #!/bin/sh"),
                format!("{p}/man/man1/convq-get.1 644 .TH convq-get 1"),
                format!("{p}/man/man1/convq.1 644 .TH convq 1"),
            ]
        );
        let sum = std::fs::read_to_string(out.join(format!("{p}.tar.gz.sha256"))).unwrap();
        assert_eq!(sum, format!("{:x}  {p}.tar.gz\n", Sha256::digest(&bytes)));
        // Same inputs, same bytes.
        assemble(&root, &binary, "x86_64-test-linux", &out).unwrap();
        assert_eq!(std::fs::read(&archive).unwrap(), bytes);
        // A missing document fails the build instead of shipping without it.
        std::fs::remove_file(root.join("CHANGELOG.md")).unwrap();
        let error = assemble(&root, &binary, "x86_64-test-linux", &out).unwrap_err();
        assert!(format!("{error:#}").contains("CHANGELOG.md"), "{error:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
