//! Git scans: every blob in history (`--git`) and the index (`--staged`).

use std::collections::HashMap;
use std::path::Path;

use keyward_core::KeyHash;

use super::content::{WINDOW, scan_stream, scan_whole};
use super::walk::IGNORE_FILE;
use super::{Finding, Options, Place, Report, SkipReason, Skipped};
use crate::git;

/// Scans every blob of every commit reachable from any ref of the repository at `repo`,
/// including files deleted since.
///
/// Each finding names the oldest commit that added a version of the file holding the key
/// (and its line and column there); later commits that added other versions of the same
/// file still holding the same key are listed in [`Finding::later_commits`].
///
/// # Errors
/// `git` missing or failing, `repo` not a repository.
pub fn scan_history(repo: &Path, opts: &Options) -> Result<Report, String> {
    git::require_repository(repo)?;
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
/// `git` missing or failing, `repo` not in a repository.
pub fn scan_staged(repo: &Path, opts: &Options) -> Result<Report, String> {
    git::require_repository(repo)?;
    let blobs = git::staged_blobs(repo)?;
    let mut report = scan_blobs(repo, &blobs, opts, |path| Place::Staged(path.to_owned()))?;
    report.sort();
    Ok(report)
}

/// The repository's top-level `.keywardignore` (from the working tree), applied to the
/// paths of blobs in history and in the index.
fn repo_ignore(repo: &Path) -> ignore::gitignore::Gitignore {
    let Some(top) = git::toplevel(repo) else {
        return ignore::gitignore::Gitignore::empty();
    };
    let mut b = ignore::gitignore::GitignoreBuilder::new(&top);
    // A missing file is no error; a malformed line is skipped, as git does.
    let _ = b.add(top.join(IGNORE_FILE));
    b.build()
        .unwrap_or_else(|_| ignore::gitignore::Gitignore::empty())
}

fn scan_blobs(
    repo: &Path,
    blobs: &[git::Blob],
    opts: &Options,
    place: impl Fn(&str) -> Place,
) -> Result<Report, String> {
    let mut report = Report::default();
    let mut local = Vec::new();
    let ignore = repo_ignore(repo);
    let kept: Vec<git::Blob> = blobs
        .iter()
        .filter(|b| {
            !ignore
                .matched_path_or_any_parents(b.path.trim_start_matches('/'), false)
                .is_ignore()
        })
        .cloned()
        .collect();
    let mut content = Vec::new();
    git::read_blobs(repo, &kept, |blob, size, reader| {
        let place = place(&blob.path);
        local.clear();
        // Sniffed and decoded as files are.
        let scanned = if size > WINDOW as u64 {
            scan_stream(reader, &place, opts, &mut local)?
        } else {
            content.clear();
            reader.read_to_end(&mut content)?;
            scan_whole(&content, &place, opts, &mut local)
        };
        let Some(n) = scanned else {
            report.skipped.push(Skipped {
                path: blob.path.clone(),
                reason: SkipReason::Binary,
            });
            return Ok(());
        };
        report.files += 1;
        report.bytes += n;
        for mut f in local.drain(..) {
            f.blob = Some(blob.oid.clone());
            report.findings.push(f);
        }
        Ok(())
    })?;
    Ok(report)
}
