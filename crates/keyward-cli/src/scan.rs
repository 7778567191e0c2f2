//! The leak scanner: files (walked in parallel, see [`walk`] for which), git history and
//! the index. Each file, blob or stream is sniffed and decoded ([`encoding`]), then
//! searched whole or in windows ([`content`]).

pub mod content;
pub mod encoding;
mod files;
mod history;
pub mod secret_files;
pub mod walk;

use std::path::{Path, PathBuf};

use keyward_core::{ApiKey, KeyHash};

use crate::finder::VendorFilter;

pub use content::{ALLOW_MARKER, WINDOW, scan_buffer, scan_stream};
pub use files::{scan_paths, scan_stdin};
pub use history::{scan_history, scan_staged};
pub use walk::IGNORE_FILE;

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
            Place::File(p) => display_path(p),
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

/// A path as the user would type it: no leading `./`, `/` separators.
pub fn display_path(p: &Path) -> String {
    p.strip_prefix(".")
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// One key found: where, and what is safe to show. The key itself is kept only when it is
/// to be reported to the Worker (`--revoke`), and is wiped on drop.
#[derive(Debug, Clone)]
pub struct Finding {
    /// File, commit and path, or staged path.
    pub place: Place,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters (of the decoded text, without a byte order mark).
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
    /// Vendors to report (empty: any).
    pub vendors: VendorFilter,
    /// Keep the raw keys in findings (for `--revoke`).
    pub keep_keys: bool,
    /// Scan what the ignore files exclude too (`.keywardignore` still applies).
    pub no_ignore: bool,
    /// Worker threads for file scans (0: one per core).
    pub threads: usize,
}

/// Why a file, blob or directory was not scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SkipReason {
    /// Not text (see [`encoding`]).
    Binary,
    /// A file the ignore files exclude, neither tracked by git nor a secret file.
    Ignored,
    /// A directory the ignore files exclude, holding no tracked file: not entered.
    IgnoredDirectory,
}

impl SkipReason {
    /// The reason's name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Binary => "binary",
            SkipReason::Ignored => "ignored",
            SkipReason::IgnoredDirectory => "ignored_directory",
        }
    }
}

/// A file, blob or directory not scanned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    /// Its path, as in findings.
    pub path: String,
    /// Why.
    pub reason: SkipReason,
}

/// Why a file the ignore files exclude was scanned all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScannedReason {
    /// Git tracks it: it is pushed.
    Tracked,
    /// Its name marks a secret file ([`secret_files`]).
    SecretFile,
}

impl ScannedReason {
    /// The reason's name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ScannedReason::Tracked => "tracked",
            ScannedReason::SecretFile => "secret_file",
        }
    }
}

/// An ignored file scanned all the same.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IgnoredScanned {
    /// Its path, as in findings.
    pub path: String,
    /// Why it was scanned.
    pub reason: ScannedReason,
}

/// The result of a scan.
#[derive(Debug, Default)]
pub struct Report {
    /// Keys found, sorted by place, line and column.
    pub findings: Vec<Finding>,
    /// Files or blobs searched.
    pub files: u64,
    /// Bytes searched (UTF-16 and UTF-32 text count as their UTF-8 decoding).
    pub bytes: u64,
    /// What was not scanned, and why, sorted by path.
    pub skipped: Vec<Skipped>,
    /// Files the ignore files exclude that were scanned all the same, sorted by path.
    pub ignored_scanned: Vec<IgnoredScanned>,
    /// Problems that did not stop the scan (unreadable files...).
    pub errors: Vec<String>,
}

impl Report {
    /// How many paths were skipped for `reason`.
    pub fn skipped(&self, reason: SkipReason) -> usize {
        self.skipped.iter().filter(|s| s.reason == reason).count()
    }

    fn sort(&mut self) {
        self.findings
            .sort_by(|a, b| (&a.place, a.line, a.column).cmp(&(&b.place, b.line, b.column)));
        self.skipped.sort();
        self.ignored_scanned.sort();
    }
}
