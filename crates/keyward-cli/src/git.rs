//! Reading git objects by shelling out to `git` (plumbing commands only).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

/// A blob to scan: its object id and a path it has (or had) in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Object id (hex).
    pub oid: String,
    /// Path in the tree, `/`-separated.
    pub path: String,
}

fn git(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(repo);
    // Paths exactly as stored, no quoting of unusual characters.
    c.args(["-c", "core.quotePath=false"]);
    c
}

fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>, String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run git ({what}): {e}"))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        return Err(format!("git {what} failed: {}", msg.trim()));
    }
    Ok(out.stdout)
}

/// Checks that `path` is in a git repository (a working tree or a bare one), before any
/// command whose own error outside one would be git's usage text.
///
/// # Errors
/// `path` is not in a repository, or `git` cannot run.
pub fn require_repository(path: &Path) -> Result<(), String> {
    let out = git(path)
        .args(["rev-parse", "--git-dir"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.success() {
        Ok(())
    } else {
        Err(format!(
            "not a git repository (or any of its parents): {}",
            path.display()
        ))
    }
}

/// The files git tracks (in the index) below `dir`, relative to it.
///
/// A file scan runs this in any repository it finds, including ones it was handed (an
/// unpacked archive, a vendored checkout): reading the index would run the command a
/// repository's own `core.fsmonitor` names, so it is switched off here.
///
/// # Errors
/// `git` cannot run, or `dir` is not in a repository.
pub fn tracked_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let out = run(
        git(dir).args(["-c", "core.fsmonitor=false", "ls-files", "-z", "--cached"]),
        "ls-files",
    )?;
    Ok(out
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(path_from_bytes)
        .collect())
}

#[cfg(unix)]
fn path_from_bytes(b: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt as _;
    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

#[cfg(not(unix))]
fn path_from_bytes(b: &[u8]) -> std::path::PathBuf {
    std::path::PathBuf::from(String::from_utf8_lossy(b).into_owned())
}

/// What SARIF's `versionControlProvenance` says about a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// `remote.origin.url` as an absolute URI without credentials (`git@host:path`
    /// becomes `ssh://host/path`).
    pub remote: Option<String>,
    /// The working tree's top directory (none for a bare repository).
    pub top: Option<std::path::PathBuf>,
    /// The commit `HEAD` points at (none before the first commit).
    pub head: Option<String>,
    /// The branch checked out (none when `HEAD` is detached).
    pub branch: Option<String>,
}

/// The repository at `repo`, as SARIF names it. Whatever git cannot say is left out.
pub fn provenance(repo: &Path) -> Provenance {
    let text = |args: &[&str]| {
        run(git(repo).args(args), "rev-parse")
            .ok()
            .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    Provenance {
        remote: text(&["config", "--get", "remote.origin.url"]).and_then(|u| remote_uri(&u)),
        top: toplevel(repo),
        head: text(&["rev-parse", "--verify", "-q", "HEAD"]),
        branch: text(&["symbolic-ref", "-q", "--short", "HEAD"]),
    }
}

/// A remote's URL as an absolute URI with no user or password in it (a token in an
/// `https://user:token@host/` remote must not reach a report), or `None`.
pub fn remote_uri(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_owned(), rest.to_owned()),
        // scp-like syntax: [user@]host:path
        None => {
            let (host, path) = url.split_once(':')?;
            if host.contains('/') || path.is_empty() {
                return None;
            }
            (
                "ssh".to_owned(),
                format!("{host}/{}", path.trim_start_matches('/')),
            )
        }
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let (authority, path) = rest.split_once('/').unwrap_or((&rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{host}/{path}"))
}

/// The working tree's top directory, if there is one (not for bare repositories).
pub fn toplevel(repo: &Path) -> Option<std::path::PathBuf> {
    let out = run(
        git(repo).args(["rev-parse", "--show-toplevel"]),
        "rev-parse",
    )
    .ok()?;
    let top = String::from_utf8_lossy(&out).trim().to_owned();
    (!top.is_empty()).then(|| std::path::PathBuf::from(top))
}

/// Every blob reachable from any ref (every commit's tree, deleted files included), each
/// once, with the first path it was seen at.
///
/// # Errors
/// `git` fails (not a repository, no such path...).
pub fn all_blobs(repo: &Path) -> Result<Vec<Blob>, String> {
    let out = run(
        git(repo).args([
            "rev-list",
            "--all",
            "--objects",
            "--filter=object:type=blob",
        ]),
        "rev-list",
    )?;
    let mut blobs = Vec::new();
    for line in out.split(|&b| b == b'\n') {
        // Commits are listed bare; blobs as "<oid> <path>".
        let Some(sp) = memchr::memchr(b' ', line) else {
            continue;
        };
        blobs.push(Blob {
            oid: String::from_utf8_lossy(&line[..sp]).into_owned(),
            path: String::from_utf8_lossy(&line[sp + 1..]).into_owned(),
        });
    }
    Ok(blobs)
}

/// The blobs of files added or changed in the index relative to `HEAD` (all of the index
/// before the first commit): exactly what `git commit` is about to record.
///
/// # Errors
/// `git` fails (not a repository...).
pub fn staged_blobs(repo: &Path) -> Result<Vec<Blob>, String> {
    let out = run(
        git(repo).args([
            "diff",
            "--cached",
            "--raw",
            "-z",
            "--no-abbrev",
            "--no-renames",
            "--no-ext-diff",
            "--diff-filter=AMT",
        ]),
        "diff --cached",
    )?;
    // -z raw: ":<mode> <mode> <oid> <oid> <status>\0<path>\0" per file.
    let mut blobs = Vec::new();
    let mut fields = out.split(|&b| b == 0);
    while let Some(meta) = fields.next() {
        let Some(path) = fields.next() else { break };
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        let [_, new_mode, _, new_oid, _] = parts[..] else {
            continue;
        };
        // Regular files only: no submodules (160000) or symlinks (120000).
        if !new_mode.starts_with("100") {
            continue;
        }
        blobs.push(Blob {
            oid: new_oid.to_owned(),
            path: String::from_utf8_lossy(path).into_owned(),
        });
    }
    Ok(blobs)
}

/// Streams the content of each blob through `git cat-file --batch`: `each` gets the blob,
/// its size and a reader of exactly its content (what it leaves unread is skipped).
///
/// # Errors
/// `git` fails, its output is not what `--batch` promises, or `each` fails.
pub fn read_blobs(
    repo: &Path,
    blobs: &[Blob],
    mut each: impl FnMut(&Blob, u64, &mut dyn std::io::Read) -> std::io::Result<()>,
) -> Result<(), String> {
    if blobs.is_empty() {
        return Ok(());
    }
    let mut child = git(repo)
        .args(["cat-file", "--batch", "--buffer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run git cat-file: {e}"))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("git cat-file: no pipes".to_owned());
    };
    let oids: Vec<String> = blobs.iter().map(|b| b.oid.clone()).collect();
    // Feed object ids from another thread so neither pipe can fill up and deadlock.
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut w = std::io::BufWriter::new(&mut stdin);
        for oid in oids {
            w.write_all(oid.as_bytes())?;
            w.write_all(b"\n")?;
        }
        w.flush()
    });
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let mut header = Vec::new();
    for blob in blobs {
        header.clear();
        let n = reader
            .read_until(b'\n', &mut header)
            .map_err(|e| format!("git cat-file: {e}"))?;
        if n == 0 {
            let _ = child.wait();
            return Err("git cat-file stopped before every object was read".to_owned());
        }
        let h = String::from_utf8_lossy(&header);
        let parts: Vec<&str> = h.trim_end().split(' ').collect();
        // "<oid> missing" for objects a partial clone lacks: skip them.
        let [_, kind, size] = parts[..] else {
            continue;
        };
        let size: u64 = size
            .parse()
            .map_err(|_| format!("git cat-file: unexpected header {h:?}"))?;
        let is_blob = kind == "blob";
        let mut body = (&mut reader).take(size);
        if is_blob {
            each(blob, size, &mut body).map_err(|e| format!("git cat-file: {e}"))?;
        }
        // Skip what was not read, then the newline after the content.
        std::io::copy(&mut body, &mut std::io::sink())
            .and_then(|_| (&mut reader).take(1).read_to_end(&mut Vec::new()))
            .map_err(|e| format!("git cat-file: {e}"))?;
    }
    drop(reader);
    let _ = writer.join();
    match child.wait() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("git cat-file failed ({status})")),
        Err(e) => Err(format!("git cat-file: {e}")),
    }
}

/// Every commit reachable from any ref, parents before children: commit id → position.
///
/// # Errors
/// `git` fails.
pub fn commit_order(repo: &Path) -> Result<std::collections::HashMap<String, usize>, String> {
    let out = run(
        git(repo).args(["rev-list", "--all", "--topo-order", "--reverse"]),
        "rev-list --topo-order",
    )?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .enumerate()
        .map(|(i, c)| (c.trim().to_owned(), i))
        .collect())
}

/// A commit that added a blob at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intro {
    /// The commit id.
    pub commit: String,
    /// The commit time (seconds since the epoch).
    pub time: i64,
    /// The blob's path in that commit.
    pub path: String,
}

/// The commits (and paths) where the blob `oid` was added or changed into, oldest first.
///
/// # Errors
/// `git` fails.
pub fn introducing_commits(repo: &Path, oid: &str) -> Result<Vec<Intro>, String> {
    let out = run(
        git(repo).args([
            "log",
            "--all",
            "--reverse",
            "--format=commit %H %ct",
            "--raw",
            "-z",
            "--no-abbrev",
            "--no-renames",
            "--no-ext-diff",
            &format!("--find-object={oid}"),
        ]),
        "log --find-object",
    )?;
    let mut found = Vec::new();
    let (mut commit, mut time) = (String::new(), 0i64);
    let mut fields = out.split(|&b| b == 0).peekable();
    while let Some(field) = fields.next() {
        let text = String::from_utf8_lossy(field);
        let text = text.trim_start_matches('\n');
        // With -z the format line and the first raw entry share a field: split them.
        let mut rest = text;
        if let Some(after) = rest.strip_prefix("commit ") {
            let (head, tail) = after.split_once('\n').unwrap_or((after, ""));
            let (hash, ct) = head.trim().split_once(' ').unwrap_or((head.trim(), "0"));
            commit = hash.to_owned();
            time = ct.parse().unwrap_or(0);
            rest = tail.trim_start_matches('\n');
        }
        if let Some(meta) = rest.strip_prefix(':') {
            let parts: Vec<&str> = meta.split(' ').collect();
            let Some(path) = fields.next() else { break };
            if let [_, _, _, new_oid, _] = parts[..]
                && new_oid == oid
            {
                found.push(Intro {
                    commit: commit.clone(),
                    time,
                    path: String::from_utf8_lossy(path).into_owned(),
                });
            }
        }
    }
    Ok(found)
}
