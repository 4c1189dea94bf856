//! The README's commands are copied and pasted by newcomers: its demo walk-throughs (every `sh`
//! block from "Run it" to "Test it", a violation case's included) run here, as written, against `nazer up --demo`, and the
//! calendar example prints what the README says it prints.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{Process, binary};

const README: &str = include_str!("../../README.md");
const WALK_FROM: &str = "Post a message as the call centre";
const WALK_TO: &str = "## Test it";

/// The `sh` blocks of the README between two headings or phrases, in order.
fn shell_blocks(from: &str, to: &str) -> Vec<String> {
    let start = README.find(from).unwrap_or_else(|| panic!("the README no longer says {from:?}"));
    let end = start + README[start..].find(to).unwrap_or_else(|| panic!("the README no longer says {to:?}"));
    README[start..end].split("```sh\n").skip(1).filter_map(|rest| rest.split("```").next()).map(String::from).collect()
}

/// `jq` picks fields out in the README; without it the walk cannot run.
fn have_jq() -> bool {
    let found = Command::new("jq").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found && std::env::var("CI").as_deref() == Ok("true") {
        panic!("the README walk-through needs jq (apt-get install jq)");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_demo_walk_through_runs_as_written() {
    if !have_jq() {
        eprintln!("skipped: jq is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut nazer = Process::spawn("nazer", &binary("nazer"), &["up", "--demo"], &HashMap::new(), dir.path());
    nazer.wait_ready(Duration::from_secs(30)).await;
    let blocks = shell_blocks(WALK_FROM, WALK_TO);
    assert!(blocks.len() >= 5, "the walk-through lost its blocks: {blocks:#?}");
    // One shell for all blocks, as a reader's terminal: variables carry over. Every curl must
    // get a 2xx, so a command the README gets wrong fails here.
    let mut script = String::from("set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; }\n");
    for block in &blocks {
        script.push_str(&block.replace("http://127.0.0.1:8080", &nazer.base));
        script.push('\n');
    }
    let output = run_bash(&script, dir.path());
    let text = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the README's commands failed:\n{script}\n---\n{text}");
    assert!(text.contains("\"status\":\"closed\""), "the walk ends with the message closed:\n{text}");
    assert!(text.contains("کمتر از حد استاندارد"), "the low review registers a quality warning:\n{text}");
    assert!(text.contains("\"remedial_state\": \"effective\""), "the violation case is made effective:\n{text}");
    assert!(text.contains("\"state\": \"closed\""), "the culpability track is closed by the committee:\n{text}");
    assert!(text.contains("\"violations_board\""), "the committee decides the case:\n{text}");
    nazer.terminate();
}

#[test]
fn the_readmes_calendar_example_prints_what_it_says() {
    let block = shell_blocks("Check a deadline by hand", "`PUT /api/v1/calendars/{id}`").concat();
    let command = block.split("\n#").next().unwrap_or_default().replace("cargo run -q -p nazer --", "");
    let expected = block
        .lines()
        .find_map(|line| line.strip_prefix("# "))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or_else(|| panic!("no printed instant in {block}"));
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(binary("nazer")).args(shell_words(&command)).current_dir(&repository).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), expected, "README: {block}");
}

fn run_bash(script: &str, dir: &Path) -> std::process::Output {
    Command::new("bash").arg("-c").arg(script).current_dir(dir).output().unwrap()
}

/// The words of a one-line command the README breaks over lines with `\`.
fn shell_words(command: &str) -> Vec<String> {
    command.replace("\\\n", " ").split_whitespace().map(String::from).collect()
}
