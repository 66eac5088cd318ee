//! The GitHub Actions workflows and the script the install workflow runs in RPM
//! distribution containers, which cannot run here: actionlint checks every workflow (and
//! runs shellcheck on every `run:` script), shellcheck and the shell check the script.
//! Both tools must be installed (scripts/deps.sh); a missing one fails, never skips.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{repo_root, tool, tool_ok};

const INSTALL_SCRIPT: &str = "tests/install-rpm-distro.sh";

/// actionlint as scripts/tools.sh installs it (scripts/deps.sh runs that script).
fn actionlint() -> PathBuf {
    let path = repo_root().join("target/tools/venv/bin/actionlint");
    assert!(
        path.is_file(),
        "actionlint is not installed at {}: run scripts/deps.sh (it installs it with \
         scripts/tools.sh)",
        path.display()
    );
    path
}

/// actionlint runs shellcheck from PATH, and silently skips that check without it.
fn require_shellcheck() {
    let version = tool_ok("shellcheck", &["--version"]);
    assert!(
        version.contains("ShellCheck"),
        "unexpected `shellcheck --version`:\n{version}"
    );
}

/// Runs actionlint on `files` from `dir`; returns its exit code and its full output.
/// Exit codes: 0 no finding, 1 findings, 2 bad usage, 3 a fatal error.
fn run_actionlint(dir: &Path, files: &[PathBuf]) -> (i32, String) {
    require_shellcheck();
    let out = Command::new(actionlint())
        .args(["-no-color", "-verbose"])
        .args(files)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running actionlint: {e}: run scripts/deps.sh"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = format!("{stdout}{stderr}");
    // -verbose names every rule it had to turn off for a missing tool.
    assert!(
        !text.contains("Rule \"shellcheck\" was disabled"),
        "actionlint did not find shellcheck, so it checked no `run:` script:\n{text}"
    );
    (out.status.code().unwrap_or(-1), text)
}

fn workflows() -> Vec<PathBuf> {
    let dir = repo_root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yml" || ext == "yaml")
        })
        .map(|path| {
            path.strip_prefix(repo_root())
                .expect("under the repository")
                .to_path_buf()
        })
        .collect();
    files.sort();
    files
}

#[test]
fn workflows_pass_actionlint_and_shellcheck() {
    let files = workflows();
    for expected in ["ci.yml", "install.yml", "release.yml"] {
        assert!(
            files.iter().any(|f| f.ends_with(expected)),
            ".github/workflows/{expected} is missing: {files:?}"
        );
    }
    let (code, text) = run_actionlint(&repo_root(), &files);
    assert_eq!(code, 0, "actionlint reports findings in {files:?}:\n{text}");
}

/// The check above can fail: a workflow with a syntax error, a type error in an
/// expression and a shell bug in a `run:` script yields one finding of each kind.
#[test]
fn actionlint_reports_a_broken_workflow() {
    let dir = tempfile::Builder::new()
        .prefix("nimsforest-actionlint-")
        .tempdir()
        .expect("tempdir");
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).expect("mkdir");
    std::fs::write(
        workflows.join("broken.yml"),
        r#"name: broken
on: push
jobs:
  test:
    runs-on: ubuntu-24.04
    timeout-minutes: ten
    steps:
      - uses: actions/checkout@v5
      - run: echo $UNQUOTED
        shell: bash
        if: ${{ matrix.missing }}
"#,
    )
    .expect("write");

    let (code, text) = run_actionlint(dir.path(), &[".github/workflows/broken.yml".into()]);
    eprintln!("actionlint on a broken workflow:\n{text}");
    assert_eq!(
        code, 1,
        "actionlint must report findings (exit 1), not pass or crash:\n{text}"
    );
    for rule in ["[syntax-check]", "[expression]", "[shellcheck]", "SC2086"] {
        assert!(
            text.contains(rule),
            "expected a finding with {rule}:\n{text}"
        );
    }
}

#[test]
fn install_script_passes_the_shell_and_shellcheck() {
    require_shellcheck();
    let script = repo_root().join(INSTALL_SCRIPT);
    let text = std::fs::read_to_string(&script).expect("read the install script");
    let script = script.to_str().expect("utf-8 path");

    // The workflow runs it directly (`docker exec ... install-rpm-distro.sh`).
    let mode = std::fs::metadata(script)
        .expect("stat")
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "{INSTALL_SCRIPT} is not executable");

    // Parse it with the shell its #! line names; a POSIX sh script must also parse in bash.
    let shebang = text.lines().next().unwrap_or_default();
    let shells: &[&str] = if shebang.ends_with("bash") {
        &["bash"]
    } else if shebang == "#!/bin/sh" {
        &["sh", "bash"]
    } else {
        panic!("{INSTALL_SCRIPT}: unexpected #! line {shebang:?}")
    };
    for shell in shells {
        tool_ok(shell, &["-n", script]);
    }

    let (ok, out) = tool(
        "shellcheck",
        &["--severity=style", "--external-sources", script],
    );
    assert!(ok, "shellcheck {INSTALL_SCRIPT}:\n{out}");
}

/// The check above can fail: shellcheck reports a script with an unquoted variable.
#[test]
fn shellcheck_reports_a_broken_script() {
    require_shellcheck();
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("broken.sh");
    std::fs::write(&script, "#!/bin/sh\nrm -rf $1/\n").expect("write");
    let (ok, out) = tool("shellcheck", &[script.to_str().expect("utf-8 path")]);
    assert!(
        !ok && out.contains("SC2086"),
        "shellcheck should report SC2086:\n{out}"
    );
}
