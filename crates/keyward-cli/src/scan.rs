//! The leak scanner: files (gitignore-aware, in parallel), git history and the index.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use keyward_core::{ApiKey, KeyHash};

use crate::finder::{LineCounter, VendorFilter, find_keys};
use crate::git;

/// Bytes looked at to tell a binary file (one holding NUL) from text, as git does.
pub const BINARY_SNIFF_LEN: usize = 8000;

/// Where a finding is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// A file in the working tree.
    File(PathBuf),
    /// A blob in git history: the commit that added it (if known) and its path there.
    Commit {
        /// The commit that introduced the blob; `None` if no diff shows it.
        commit: Option<String>,
        /// The blob's path in that commit.
        path: String,
    },
    /// A file in the git index, about to be committed.
    Staged(String),
}

impl Place {
    /// The path part, with `/` separators.
    pub fn path(&self) -> String {
        match self {
            Place::File(p) => p.to_string_lossy().replace('\\', "/"),
            Place::Commit { path, .. } | Place::Staged(path) => path.clone(),
        }
    }

    /// The commit, for history findings.
    pub fn commit(&self) -> Option<&str> {
        match self {
            Place::Commit { commit, .. } => commit.as_deref(),
            _ => None,
        }
    }
}

/// One key found: where, and what is safe to show. The key itself is kept only when it is
/// to be reported to the Worker (`--revoke`), and is wiped on drop.
#[derive(Debug, Clone)]
pub struct Finding {
    /// File, commit and path, or staged path.
    pub place: Place,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// `{vendor}_{env}_` plus 4 characters of the secret.
    pub hint: String,
    /// The key's vendor.
    pub vendor: String,
    /// The key's environment.
    pub env: String,
    /// SHA-256 of the key: what the Worker stores, safe to show.
    pub hash: KeyHash,
    /// Length of the key in characters (for SARIF regions).
    pub len: usize,
    /// The git blob holding the key, for history and staged findings.
    pub blob: Option<String>,
    /// History scans: later commits that added other versions of this file still holding
    /// the same key, oldest first.
    pub later_commits: Vec<String>,
    /// The key, only when it will be reported with `--revoke`.
    pub key: Option<ApiKey>,
}

impl Finding {
    /// Where the finding is, as `file:line` or `commit:path:line` (for leak reports).
    pub fn url(&self) -> String {
        match &self.place {
            Place::Commit {
                commit: Some(c), ..
            } => format!("{c}:{}:{}", self.place.path(), self.line),
            _ => format!("{}:{}", self.place.path(), self.line),
        }
    }
}

/// What to look for and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Vendors to look for (empty: any).
    pub vendors: VendorFilter,
    /// Keep the raw keys in findings (for `--revoke`).
    pub keep_keys: bool,
    /// Scan files `.gitignore` excludes too.
    pub no_ignore: bool,
    /// Worker threads for file scans (0: one per core).
    pub threads: usize,
}

/// The result of a scan.
#[derive(Debug, Default)]
pub struct Report {
    /// Keys found, sorted by place, line and column.
    pub findings: Vec<Finding>,
    /// Files or blobs searched.
    pub files: u64,
    /// Bytes searched.
    pub bytes: u64,
    /// Files or blobs skipped as binary.
    pub binary: u64,
    /// Problems that did not stop the scan (unreadable files...).
    pub errors: Vec<String>,
}

impl Report {
    fn sort(&mut self) {
        self.findings
            .sort_by(|a, b| (&a.place, a.line, a.column).cmp(&(&b.place, b.line, b.column)));
    }
}

/// Whether a buffer is binary: a NUL among its first [`BINARY_SNIFF_LEN`] bytes.
pub fn is_binary(buf: &[u8]) -> bool {
    memchr::memchr(0, &buf[..buf.len().min(BINARY_SNIFF_LEN)]).is_some()
}

/// Searches one buffer, appending findings for `place`.
pub fn scan_buffer(buf: &[u8], place: &Place, opts: &Options, out: &mut Vec<Finding>) {
    let mut lines = LineCounter::new(buf);
    find_keys(buf, &opts.vendors, |f| {
        let (line, column) = lines.locate(f.offset);
        out.push(Finding {
            place: place.clone(),
            line,
            column,
            hint: f.key.hint().to_owned(),
            vendor: f.key.vendor().to_owned(),
            env: f.key.env().to_owned(),
            hash: f.key.hash(),
            len: f.key.expose_secret().len(),
            blob: None,
            later_commits: Vec::new(),
            key: opts.keep_keys.then(|| f.key.to_owned_key()),
        });
    });
}

/// Scans files and directories, recursively, honouring `.gitignore`, skipping binaries.
///
/// # Errors
/// A path that does not exist. Unreadable files along the way are listed in
/// [`Report::errors`] instead.
pub fn scan_paths(paths: &[PathBuf], opts: &Options) -> Result<Report, String> {
    for p in paths {
        if std::fs::symlink_metadata(p).is_err() {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    let Some((first, rest)) = paths.split_first() else {
        return Err("no path to scan".to_owned());
    };
    let mut builder = ignore::WalkBuilder::new(first);
    for p in rest {
        builder.add(p);
    }
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, usize::from)
    } else {
        opts.threads
    };
    builder
        .hidden(false) // .env and .dev.vars are where keys hide
        .require_git(false) // honour .gitignore outside a repository too
        .git_ignore(!opts.no_ignore)
        .git_exclude(!opts.no_ignore)
        .git_global(!opts.no_ignore)
        .ignore(!opts.no_ignore)
        .parents(!opts.no_ignore)
        .threads(threads)
        .filter_entry(|e| e.file_name() != ".git");

    let findings = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    let files = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let binary = AtomicU64::new(0);
    builder.build_parallel().run(|| {
        let mut buf = Vec::new();
        let mut local = Vec::new();
        let findings = &findings;
        let errors = &errors;
        let (files, bytes, binary) = (&files, &bytes, &binary);
        Box::new(move |entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    push(errors, e.to_string());
                    return ignore::WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return ignore::WalkState::Continue;
            }
            buf.clear();
            let read = std::fs::File::open(entry.path()).and_then(|mut f| f.read_to_end(&mut buf));
            if let Err(e) = read {
                push(errors, format!("{}: {e}", entry.path().display()));
                return ignore::WalkState::Continue;
            }
            if is_binary(&buf) {
                binary.fetch_add(1, Ordering::Relaxed);
                return ignore::WalkState::Continue;
            }
            files.fetch_add(1, Ordering::Relaxed);
            bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
            local.clear();
            scan_buffer(&buf, &Place::File(clean(entry.path())), opts, &mut local);
            if !local.is_empty()
                && let Ok(mut all) = findings.lock()
            {
                all.append(&mut local);
            }
            ignore::WalkState::Continue
        })
    });
    let mut report = Report {
        findings: findings.into_inner().unwrap_or_default(),
        files: files.into_inner(),
        bytes: bytes.into_inner(),
        binary: binary.into_inner(),
        errors: errors.into_inner().unwrap_or_default(),
    };
    report.sort();
    Ok(report)
}

/// Scans standard input (`keyward scan -`), reported as the file `-`.
///
/// # Errors
/// Reading stdin fails.
pub fn scan_stdin(opts: &Options) -> Result<Report, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .map_err(|e| format!("stdin: {e}"))?;
    let mut report = Report::default();
    if is_binary(&buf) {
        report.binary = 1;
        return Ok(report);
    }
    report.files = 1;
    report.bytes = buf.len() as u64;
    scan_buffer(
        &buf,
        &Place::File(PathBuf::from("-")),
        opts,
        &mut report.findings,
    );
    Ok(report)
}

fn push(errors: &Mutex<Vec<String>>, e: String) {
    if let Ok(mut v) = errors.lock() {
        v.push(e);
    }
}

/// `./a/b` → `a/b`: paths as the user would type them.
fn clean(p: &Path) -> PathBuf {
    p.strip_prefix(".")
        .map_or_else(|_| p.to_path_buf(), Path::to_path_buf)
}

/// Scans every blob of every commit reachable from any ref of the repository at `repo`,
/// including files deleted since.
///
/// Each finding names the oldest commit that added a version of the file holding the key
/// (and its line and column there); later commits that added other versions of the same
/// file still holding the same key are listed in [`Finding::later_commits`].
///
/// # Errors
/// `git` missing or failing (not a repository...).
pub fn scan_history(repo: &Path, opts: &Options) -> Result<Report, String> {
    let blobs = git::all_blobs(repo)?;
    let mut report = scan_blobs(repo, &blobs, opts, |path| Place::Commit {
        commit: None,
        path: path.to_owned(),
    })?;
    // Name the commits that introduced each blob with a finding (findings are rare).
    let mut cache: HashMap<String, Vec<git::Intro>> = HashMap::new();
    // (position in history, finding) per commit that added a blob holding the key.
    let order = if report.findings.is_empty() {
        HashMap::new()
    } else {
        git::commit_order(repo)?
    };
    let mut expanded: Vec<(usize, Finding)> = Vec::new();
    for finding in std::mem::take(&mut report.findings) {
        let Some(oid) = finding.blob.clone() else {
            expanded.push((usize::MAX, finding));
            continue;
        };
        if !cache.contains_key(&oid) {
            let intro = git::introducing_commits(repo, &oid)?;
            cache.insert(oid.clone(), intro);
        }
        let intro = cache.get(&oid).map(Vec::as_slice).unwrap_or_default();
        if intro.is_empty() {
            // Only reachable through a merge's own resolution: the path is known, the
            // commit is not.
            expanded.push((usize::MAX, finding));
            continue;
        }
        for i in intro {
            let mut f = finding.clone();
            f.place = Place::Commit {
                commit: Some(i.commit.clone()),
                path: i.path.clone(),
            };
            expanded.push((order.get(&i.commit).copied().unwrap_or(usize::MAX), f));
        }
    }
    // Oldest first, then one finding per (key, path): the first commit that added it.
    expanded.sort_by(|(ta, a), (tb, b)| {
        (ta, a.place.commit(), a.line, a.column).cmp(&(tb, b.place.commit(), b.line, b.column))
    });
    let mut first: HashMap<(KeyHash, String), usize> = HashMap::new();
    let mut findings: Vec<Finding> = Vec::new();
    for (_, f) in expanded {
        let k = (f.hash, f.place.path());
        match first.get(&k) {
            Some(&at) => {
                let later = f.place.commit().map(str::to_owned);
                let kept = &mut findings[at];
                if let Some(c) = later
                    && kept.place.commit() != Some(c.as_str())
                    && !kept.later_commits.contains(&c)
                {
                    kept.later_commits.push(c);
                }
            }
            None => {
                first.insert(k, findings.len());
                findings.push(f);
            }
        }
    }
    report.findings = findings;
    report.sort();
    Ok(report)
}

/// Scans the staged version of every file added or changed in the index.
///
/// # Errors
/// `git` missing or failing (not a repository...).
pub fn scan_staged(repo: &Path, opts: &Options) -> Result<Report, String> {
    let blobs = git::staged_blobs(repo)?;
    let mut report = scan_blobs(repo, &blobs, opts, |path| Place::Staged(path.to_owned()))?;
    report.sort();
    Ok(report)
}

fn scan_blobs(
    repo: &Path,
    blobs: &[git::Blob],
    opts: &Options,
    place: impl Fn(&str) -> Place,
) -> Result<Report, String> {
    let mut report = Report::default();
    let mut local = Vec::new();
    git::read_blobs(repo, blobs, |blob, content| {
        if is_binary(content) {
            report.binary += 1;
            return;
        }
        report.files += 1;
        report.bytes += content.len() as u64;
        local.clear();
        scan_buffer(content, &place(&blob.path), opts, &mut local);
        for mut f in local.drain(..) {
            f.blob = Some(blob.oid.clone());
            report.findings.push(f);
        }
    })?;
    Ok(report)
}
