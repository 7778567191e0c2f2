//! Which files a file scan reads. The rules, for every path below a path the user named
//! (a named path itself is always read):
//!
//! 1. `.git` is never entered.
//! 2. A path a `.keywardignore` matches (gitignore syntax, in its directory or any above)
//!    is not read: the allowlist for test vectors and examples. `--no-ignore` keeps it.
//! 3. A path the ignore files match (`.ignore`, then `.gitignore` and
//!    `.git/info/exclude` up to the repository's top, then git's global excludes, each
//!    nearest first, as git and ripgrep read them; outside a repository too) is ignored:
//!    - a file git tracks (in the index) is read all the same: it is pushed;
//!    - a directory holding tracked files is entered for them (the rest inside is
//!      ignored, as git ignores it);
//!    - a file whose name marks a secret file ([`super::secret_files`]) is read;
//!    - anything else is skipped and listed in the report: an ignored directory is not
//!      entered (`node_modules`, `target`: where the time would go).
//! 4. Everything else is read. `--no-ignore` drops rule 3.
//!
//! Tracked files are listed with `git ls-files` for the repository holding each named
//! directory, and for each repository found below it (a directory with a `.git`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::{DirEntry, Match};

use super::secret_files::is_secret_file;
use super::{IgnoredScanned, ScannedReason, SkipReason, Skipped};
use crate::git;

/// Per-directory files of gitignore patterns for paths whose keys are not reported.
pub const IGNORE_FILE: &str = ".keywardignore";

/// One directory's ignore files, linked to its parent's.
#[derive(Debug)]
struct Layer {
    /// The directory, absolute.
    abs: PathBuf,
    parent: Option<Arc<Layer>>,
    /// `.keywardignore`.
    allow: Gitignore,
    /// `.ignore`.
    ignore: Gitignore,
    /// `.gitignore`.
    git: Gitignore,
    /// `.git/info/exclude`, at a repository's top.
    exclude: Gitignore,
    /// The directory holds `.git`: a repository's top.
    has_git: bool,
    /// The directory is ignored and entered only for the tracked files in it: everything
    /// in it is ignored too.
    ignored: bool,
}

impl Layer {
    fn chain(&self) -> impl Iterator<Item = &Layer> {
        std::iter::successors(Some(self), |l| l.parent.as_deref())
    }
}

/// Files git tracks, and the directories that hold them, absolute.
#[derive(Debug, Default)]
struct Tracked {
    files: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
    /// Repositories listed.
    listed: HashSet<PathBuf>,
}

/// What the walk skipped, and what it read although ignored.
#[derive(Debug, Default)]
pub struct WalkLog {
    /// Ignored files and directories not read.
    pub skipped: Vec<Skipped>,
    /// Ignored files read all the same.
    pub ignored_scanned: Vec<IgnoredScanned>,
}

/// The rules above, shared by the walk's threads.
#[derive(Debug)]
pub struct Rules {
    no_ignore: bool,
    global: Gitignore,
    /// Layers of walked directories, by their path as the walk names them.
    layers: Mutex<HashMap<PathBuf, Arc<Layer>>>,
    tracked: RwLock<Tracked>,
    log: Mutex<WalkLog>,
}

/// Patterns of one ignore file (none if it is missing or unreadable; a malformed line is
/// skipped, as git does).
fn patterns(dir: &Path, file: &Path) -> Gitignore {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Gitignore::empty();
    };
    let mut b = GitignoreBuilder::new(dir);
    for line in text.lines() {
        let _ = b.add_line(Some(file.to_path_buf()), line);
    }
    b.build().unwrap_or_else(|_| Gitignore::empty())
}

/// `.git/info/exclude` of the repository whose top is `dir` (`.git` a directory, or a
/// file naming the git directory, as in worktrees and submodules).
fn exclude_file(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    if dot_git.is_dir() {
        return Some(dot_git.join("info/exclude"));
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let git_dir = dir.join(text.strip_prefix("gitdir:")?.trim());
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(c) => git_dir.join(c.trim()),
        Err(_) => git_dir,
    };
    Some(common.join("info/exclude"))
}

fn first_match(m: Match<&ignore::gitignore::Glob>) -> Option<bool> {
    match m {
        Match::None => None,
        Match::Ignore(_) => Some(true),
        Match::Whitelist(_) => Some(false),
    }
}

impl Rules {
    /// Rules for a walk of `roots`, with the ignore files of every directory above each
    /// one; lists the tracked files of the repository holding each root directory.
    pub fn new(roots: &[PathBuf], no_ignore: bool) -> Self {
        let rules = Rules {
            no_ignore,
            global: if no_ignore {
                Gitignore::empty()
            } else {
                Gitignore::global().0
            },
            layers: Mutex::new(HashMap::new()),
            tracked: RwLock::new(Tracked::default()),
            log: Mutex::new(WalkLog::default()),
        };
        for root in roots {
            if !root.is_dir() {
                continue;
            }
            let Ok(abs) = root.canonicalize() else {
                continue;
            };
            let mut layer: Option<Arc<Layer>> = None;
            let mut ancestors: Vec<&Path> = abs.ancestors().collect();
            ancestors.reverse();
            for dir in ancestors {
                layer = Some(Arc::new(rules.layer(dir, layer, false)));
            }
            if !no_ignore {
                rules.list_tracked(&abs);
            }
            if let (Some(layer), Ok(mut map)) = (layer, rules.layers.lock()) {
                map.insert(root.clone(), layer);
            }
        }
        rules
    }

    /// Reads the ignore files of `dir` (absolute).
    fn layer(&self, dir: &Path, parent: Option<Arc<Layer>>, ignored: bool) -> Layer {
        let has_git = std::fs::symlink_metadata(dir.join(".git")).is_ok();
        let read = |name: &str| {
            if self.no_ignore {
                Gitignore::empty()
            } else {
                patterns(dir, &dir.join(name))
            }
        };
        Layer {
            abs: dir.to_path_buf(),
            parent,
            allow: patterns(dir, &dir.join(IGNORE_FILE)),
            ignore: read(".ignore"),
            git: read(".gitignore"),
            exclude: match exclude_file(dir).filter(|_| has_git && !self.no_ignore) {
                Some(f) => patterns(dir, &f),
                None => Gitignore::empty(),
            },
            has_git,
            ignored,
        }
    }

    /// Adds the files git tracks below `dir` (absolute) to the tracked set.
    fn list_tracked(&self, dir: &Path) {
        if let Ok(t) = self.tracked.read()
            && t.listed.contains(dir)
        {
            return;
        }
        // Not a repository (or no git): nothing is tracked.
        let files = git::tracked_files(dir).unwrap_or_default();
        let Ok(mut t) = self.tracked.write() else {
            return;
        };
        t.listed.insert(dir.to_path_buf());
        for rel in files {
            let file = dir.join(rel);
            for a in file.ancestors().skip(1) {
                if a == dir || !a.starts_with(dir) || !t.dirs.insert(a.to_path_buf()) {
                    break;
                }
            }
            t.files.insert(file);
        }
    }

    /// The layer of a walked directory (`dir` as the walk names it), read on first use.
    fn walked_layer(&self, dir: &Path) -> Option<Arc<Layer>> {
        if let Some(l) = self.layers.lock().ok()?.get(dir) {
            return Some(Arc::clone(l));
        }
        // Its parent's layer exists: the directory itself was admitted with it.
        let parent = self.walked_layer(dir.parent()?)?;
        let abs = parent.abs.join(dir.file_name()?);
        let ignored = !self.no_ignore && self.is_ignored(&parent, &abs, true);
        let layer = Arc::new(self.layer(&abs, Some(parent), ignored));
        if layer.has_git && !self.no_ignore {
            self.list_tracked(&abs);
        }
        let mut map = self.layers.lock().ok()?;
        Some(Arc::clone(map.entry(dir.to_path_buf()).or_insert(layer)))
    }

    /// Whether a `.keywardignore` skips `abs`.
    fn allowlisted(layer: &Layer, abs: &Path, is_dir: bool) -> bool {
        layer
            .chain()
            .find_map(|l| first_match(l.allow.matched(abs, is_dir)))
            .unwrap_or(false)
    }

    /// Whether the ignore files match `abs`, in a directory of `layer`.
    fn is_ignored(&self, layer: &Layer, abs: &Path, is_dir: bool) -> bool {
        if layer.ignored {
            return true;
        }
        let (mut by_ignore, mut by_git, mut by_exclude) = (None, None, None);
        let mut saw_git = false;
        for l in layer.chain() {
            by_ignore = by_ignore.or_else(|| first_match(l.ignore.matched(abs, is_dir)));
            if !saw_git {
                by_git = by_git.or_else(|| first_match(l.git.matched(abs, is_dir)));
                by_exclude = by_exclude.or_else(|| first_match(l.exclude.matched(abs, is_dir)));
            }
            saw_git |= l.has_git;
        }
        by_ignore
            .or(by_git)
            .or(by_exclude)
            .or_else(|| first_match(self.global.matched(abs, is_dir)))
            .unwrap_or(false)
    }

    /// Whether the walk reads (a file) or enters (a directory) `entry`; logs what is
    /// skipped as ignored and what is read although ignored.
    pub fn admit(&self, entry: &DirEntry) -> bool {
        if entry.depth() == 0 {
            return true;
        }
        let name = entry.file_name();
        if name == ".git" {
            return false;
        }
        let Some(layer) = entry.path().parent().and_then(|p| self.walked_layer(p)) else {
            return true;
        };
        let abs = layer.abs.join(name);
        let kind = entry.file_type();
        let is_dir = kind.is_some_and(|t| t.is_dir());
        if Self::allowlisted(&layer, &abs, is_dir) {
            return false;
        }
        if self.no_ignore || !self.is_ignored(&layer, &abs, is_dir) {
            return true;
        }
        let tracked = self
            .tracked
            .read()
            .is_ok_and(|t| t.files.contains(&abs) || t.dirs.contains(&abs));
        let path = super::display_path(entry.path());
        let Ok(mut log) = self.log.lock() else {
            return tracked;
        };
        if is_dir {
            if !tracked {
                log.skipped.push(Skipped {
                    path,
                    reason: SkipReason::IgnoredDirectory,
                });
            }
            return tracked;
        }
        let reason = if tracked {
            ScannedReason::Tracked
        } else if name.to_str().is_some_and(is_secret_file) {
            ScannedReason::SecretFile
        } else {
            if kind.is_some_and(|t| t.is_file()) {
                log.skipped.push(Skipped {
                    path,
                    reason: SkipReason::Ignored,
                });
            }
            return false;
        };
        log.ignored_scanned.push(IgnoredScanned { path, reason });
        true
    }

    /// What was logged.
    pub fn take_log(&self) -> WalkLog {
        self.log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}
