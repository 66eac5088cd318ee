//! Every external command the tests and scripts run comes from a package that
//! `scripts/deps.sh` installs, or from one that every Debian/Ubuntu system has: a machine
//! with nothing installed by hand must pass the test command.
//!
//! The commands are found by reading the sources, generously: every string literal of the
//! Rust tests that names a program on PATH, and every word in command position of the
//! shell scripts. Each is resolved on PATH and owned with `dpkg -S`; the owner must be one
//! of deps.sh's packages or something they depend on, or a package of priority `required`
//! (deps.sh says so). Programs no package owns must live where deps.sh's documented
//! non-apt tools do (the Rust toolchain, actionlint's virtualenv). A program of the
//! nodes (run inside their root filesystems) may be named too: it is then held to the same
//! rule, which costs at most a package on the test machine.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use crate::harness::*;

/// Words that are shell syntax or builtins, never programs looked up on PATH.
const SHELL_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "in", "function", "select", "time", "local", "export", "readonly", "declare", "set", "unset",
    "shift", "return", "exit", "trap", "cd", "source", ".", "eval", "exec", "read", "wait",
    "shopt", "printf", "echo", "true", "false", "test", "[", "[[", "]]", "{", "}", "!", "command",
    "type", "hash", "coproc", "break", "continue", "let", "kill", "mapfile", "getopts", "umask",
    "pushd", "popd", "builtin",
];

/// Words after which the next word is a command (`sudo CMD`, `exec CMD`, ...).
const PREFIXES: &[&str] = &[
    "then", "do", "else", "elif", "if", "while", "until", "!", "time", "exec", "command", "sudo",
    "nohup", "env", "xargs", "{",
];

/// The scripts whose commands run on the test machine. (tests/install-rpm-distro.sh runs
/// inside RPM distributions' containers on GitHub, not here.)
fn scripts() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = vec![root.join(".ci/run")];
    for dir in ["scripts", "bench"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sh") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The words in command position of a shell script: first words of simple commands,
/// after `|`, `&&`, `;`, `$(`, keywords and prefixes like `sudo`. Heredoc bodies (data,
/// or another language's code) and comments are passed over.
fn shell_commands(text: &str) -> BTreeSet<String> {
    let mut commands = BTreeSet::new();
    let mut heredoc: Option<String> = None;
    for line in text.lines() {
        if let Some(end) = &heredoc {
            if line.trim() == end {
                heredoc = None;
            }
            continue;
        }
        if let Some(at) = line.find("<<") {
            let rest = line[at + 2..].trim_start_matches(['-', '~']).trim_start();
            let word: String = rest
                .trim_start_matches(['\'', '"'])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !word.is_empty() && !rest.starts_with('<') {
                heredoc = Some(word);
            }
        }
        let code = match line.trim_start().starts_with('#') {
            true => "",
            false => line.split(" #").next().unwrap_or(""),
        };
        let spaced = code
            .replace("$(", " ; ")
            .replace(['|', '&', ';', '(', ')', '`'], " ; ");
        let mut at_start = true;
        for word in spaced.split_whitespace() {
            if word == ";" {
                at_start = true;
                continue;
            }
            if at_start {
                let is_assignment = word
                    .split_once('=')
                    .is_some_and(|(name, _)| name.chars().all(|c| c.is_alphanumeric() || c == '_'));
                let name = word.trim_matches(['"', '\'']);
                if is_assignment || word.starts_with(['$', '-', '"', '\'', '*']) {
                    at_start = is_assignment;
                    continue;
                }
                if !SHELL_WORDS.contains(&name) {
                    commands.insert(name.to_string());
                }
                at_start = PREFIXES.contains(&name);
                continue;
            }
            at_start = false;
        }
    }
    commands
}

/// Every string literal of the Rust test sources that could name a program.
fn rust_literals() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo_root().join("tests"), &mut files);
    // This file's own literals are shell syntax, not programs.
    files.retain(|f| !f.ends_with("hermetic/deps.rs"));
    let mut found = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for literal in text.split('"').skip(1).step_by(2) {
            let plausible = !literal.is_empty()
                && literal.len() < 40
                && literal
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
                && literal.starts_with(|c: char| c.is_ascii_lowercase());
            if plausible {
                found.entry(literal.to_string()).or_insert(file.clone());
            }
        }
    }
    found
}

/// The names of `command`'s subcommands, at every depth.
fn subcommands(command: &clap::Command) -> Vec<String> {
    command
        .get_subcommands()
        .flat_map(|sub| {
            let mut names = subcommands(sub);
            names.push(sub.get_name().to_string());
            names
        })
        .collect()
}

/// The packages listed in `scripts/deps.sh`'s `packages=( ... )`.
fn deps_packages() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("scripts/deps.sh")).unwrap();
    let start = text.find("\npackages=(").expect("deps.sh has packages=(");
    let body = &text[start + "\npackages=(".len()..];
    let end = body.find("\n)").expect("packages=( ... ) is closed");
    body[..end]
        .lines()
        .flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace())
        .map(str::to_string)
        .collect()
}

struct Installed {
    priority: HashMap<String, String>,
    /// Package -> its Depends and Pre-Depends, each a list of alternatives.
    depends: HashMap<String, Vec<Vec<String>>>,
    /// Virtual package -> the installed packages that provide it.
    providers: HashMap<String, Vec<String>>,
}

impl Installed {
    fn read() -> Self {
        let out = tool_ok(
            "dpkg-query",
            &[
                "-W",
                "-f",
                "${Package}\t${db:Status-Abbrev}\t${Priority}\t${Depends}, ${Pre-Depends}\t${Provides}\n",
            ],
        );
        let names = |field: &str| -> Vec<String> {
            field
                .split(',')
                .map(|d| d.trim())
                .filter(|d| !d.is_empty())
                .map(|d| {
                    let name = d.split_whitespace().next().unwrap_or("");
                    name.split(':').next().unwrap_or("").to_string()
                })
                .collect()
        };
        let mut installed = Installed {
            priority: HashMap::new(),
            depends: HashMap::new(),
            providers: HashMap::new(),
        };
        for line in out.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 5 || !f[1].starts_with("ii") {
                continue;
            }
            let package = f[0].to_string();
            installed.priority.insert(package.clone(), f[2].to_string());
            let groups = f[3]
                .split(',')
                .map(|group| {
                    group
                        .split('|')
                        .filter_map(|alt| alt.split_whitespace().next())
                        .map(|n| n.split(':').next().unwrap_or("").to_string())
                        .filter(|n| !n.is_empty())
                        .collect::<Vec<_>>()
                })
                .filter(|g| !g.is_empty())
                .collect();
            installed.depends.insert(package.clone(), groups);
            for provided in names(f[4]) {
                installed
                    .providers
                    .entry(provided)
                    .or_default()
                    .push(package.clone());
            }
        }
        installed
    }

    /// `roots` and every installed package they depend on, directly or not.
    fn closure(&self, roots: &BTreeSet<String>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<String> = roots.iter().cloned().collect();
        while let Some(name) = queue.pop_front() {
            let mut real = Vec::new();
            if self.depends.contains_key(&name) {
                real.push(name.clone());
            }
            real.extend(self.providers.get(&name).into_iter().flatten().cloned());
            for package in real {
                if seen.insert(package.clone()) {
                    for group in &self.depends[&package] {
                        queue.extend(group.iter().cloned());
                    }
                }
            }
        }
        seen
    }
}

/// Every file `name` resolves to on PATH, in PATH order.
fn on_path(name: &str) -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .filter(|p| p.is_file())
        .collect()
}

/// The packages owning `path` (as dpkg registered it: before or after the /usr merge, the
/// link or its target).
fn owners(path: &Path) -> Vec<String> {
    let mut candidates = vec![path.to_path_buf()];
    if let Ok(real) = std::fs::canonicalize(path) {
        candidates.push(real);
    }
    for c in candidates.clone() {
        let s = c.to_string_lossy();
        for (merged, split) in [("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/")] {
            if let Some(rest) = s.strip_prefix(merged) {
                candidates.push(PathBuf::from(format!("{split}{rest}")));
            } else if let Some(rest) = s.strip_prefix(split) {
                candidates.push(PathBuf::from(format!("{merged}{rest}")));
            }
        }
    }
    for c in candidates {
        let (ok, out) = tool("dpkg", &["-S", &c.to_string_lossy()]);
        if ok {
            return out
                .lines()
                .filter(|l| !l.starts_with("diversion"))
                .filter_map(|l| l.split_once(": "))
                .flat_map(|(pkgs, _)| {
                    pkgs.split(", ")
                        .map(|p| p.split(':').next().unwrap_or(p).to_string())
                })
                .collect();
        }
    }
    Vec::new()
}

/// Where the programs that no Debian package provides come from (deps.sh documents both):
/// a bin directory of rustup's (the Rust toolchain's proxies live beside `rustup`,
/// wherever CARGO_HOME points), and the virtualenv of scripts/tools.sh.
fn outside_apt(path: &Path) -> bool {
    let rustup_bin = path
        .parent()
        .is_some_and(|dir| dir.join("rustup").is_file());
    rustup_bin || path.starts_with(repo_root().join("target/tools"))
}

#[test]
fn every_command_comes_from_a_package_deps_sh_installs() {
    let deps = deps_packages();
    let installed = Installed::read();
    for package in &deps {
        assert!(
            installed.depends.contains_key(package),
            "scripts/deps.sh lists {package}, which is not installed: run scripts/deps.sh"
        );
    }
    let allowed = installed.closure(&deps);

    let mut commands: BTreeMap<String, PathBuf> = rust_literals();
    // The tool's own subcommands (`forest init`, `forest node`) are words, not programs.
    for word in subcommands(&<nimsforest_pkg::cli::Cli as clap::CommandFactory>::command()) {
        commands.remove(&word);
    }
    for script in scripts() {
        for command in shell_commands(&std::fs::read_to_string(&script).unwrap()) {
            commands.entry(command).or_insert(script.clone());
        }
    }
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    for (command, source) in &commands {
        let found = on_path(command);
        if found.is_empty() {
            continue; // not a program here (a word, a function, a node's program)
        }
        let mut verdicts = Vec::new();
        let ok = found.iter().any(|path| {
            if outside_apt(path) {
                return true;
            }
            let owners = owners(path);
            let ok = owners.iter().any(|p| {
                allowed.contains(p) || installed.priority.get(p).is_some_and(|pr| pr == "required")
            });
            verdicts.push(format!(
                "{} ({})",
                path.display(),
                match owners.is_empty() {
                    true => "no package".to_string(),
                    false => owners.join(", "),
                }
            ));
            ok
        });
        if ok {
            checked.push(command.as_str());
        } else {
            problems.push(format!(
                "`{command}` (in {}) resolves to {}: add the package to scripts/deps.sh",
                source.strip_prefix(repo_root()).unwrap_or(source).display(),
                verdicts.join(", ")
            ));
        }
    }
    eprintln!("{} commands checked: {}", checked.len(), checked.join(" "));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The check sees the commands it must: a few the tests and scripts surely run.
    for command in [
        "mmdebstrap",
        "systemd-nspawn",
        "lintian",
        "rpmlint",
        "createrepo_c",
        "cargo",
    ] {
        assert!(
            checked.contains(&command),
            "{command} was not found in the sources"
        );
    }
}

#[test]
fn the_script_reader_finds_commands_in_command_position() {
    let script = "#!/bin/bash\n# lintian in a comment\nset -e\nX=1 foo --bar | baz && sudo qux \"$(quux -n)\"\n\
                  if grep -q x; then mkdir y; fi\ncat <<'EOF'\nnot-a-command here\nEOF\nnote() { echo hi; }\n";
    let found: Vec<String> = shell_commands(script).into_iter().collect();
    assert_eq!(
        found,
        ["baz", "cat", "foo", "grep", "mkdir", "note", "quux", "qux", "sudo"]
    );
}
