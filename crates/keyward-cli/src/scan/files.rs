//! File scans: the named files and directories, walked in parallel by the rules of
//! [`super::walk`], and standard input.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::content::{WINDOW, scan_stream, scan_whole};
use super::encoding::{SNIFF_LEN, Sniffed, sniff};
use super::walk::Rules;
use super::{Finding, Options, Place, Report, SkipReason, Skipped};

/// Scans files and directories, recursively, in parallel: which files are read is
/// [`super::walk`]'s rules; binaries are skipped, UTF-16 and UTF-32 decoded (see
/// [`super::encoding`]).
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
    let rules = Arc::new(Rules::new(paths, opts.no_ignore));
    let admit = Arc::clone(&rules);
    builder
        .standard_filters(false) // the ignore files are read by `Rules`
        .threads(threads)
        .filter_entry(move |e| admit.admit(e));

    let findings = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    let binaries = Mutex::new(Vec::new());
    let files = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    builder.build_parallel().run(|| {
        let mut buf = Vec::new();
        let mut local = Vec::new();
        let (findings, errors, binaries) = (&findings, &errors, &binaries);
        let (files, bytes) = (&files, &bytes);
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
            let place = Place::File(clean(entry.path()));
            local.clear();
            match scan_file(entry.path(), &place, opts, &mut buf, &mut local) {
                Err(e) => push(errors, format!("{}: {e}", entry.path().display())),
                Ok(None) => push(binaries, place.path()),
                Ok(Some(n)) => {
                    files.fetch_add(1, Ordering::Relaxed);
                    bytes.fetch_add(n, Ordering::Relaxed);
                }
            }
            if !local.is_empty()
                && let Ok(mut all) = findings.lock()
            {
                all.append(&mut local);
            }
            ignore::WalkState::Continue
        })
    });
    let log = rules.take_log();
    let mut report = Report {
        findings: findings.into_inner().unwrap_or_default(),
        files: files.into_inner(),
        bytes: bytes.into_inner(),
        skipped: log.skipped,
        ignored_scanned: log.ignored_scanned,
        errors: errors.into_inner().unwrap_or_default(),
    };
    for path in binaries.into_inner().unwrap_or_default() {
        report.skipped.push(Skipped {
            path,
            reason: SkipReason::Binary,
        });
    }
    report.sort();
    Ok(report)
}

/// Scans standard input (`keyward scan -`), reported as the file `-`.
///
/// # Errors
/// Reading stdin fails.
pub fn scan_stdin(opts: &Options) -> Result<Report, String> {
    let mut report = Report::default();
    let place = Place::File(PathBuf::from("-"));
    match scan_stream(std::io::stdin().lock(), &place, opts, &mut report.findings) {
        Ok(Some(n)) => {
            report.files = 1;
            report.bytes = n;
        }
        Ok(None) => report.skipped.push(Skipped {
            path: "-".to_owned(),
            reason: SkipReason::Binary,
        }),
        Err(e) => return Err(format!("stdin: {e}")),
    }
    Ok(report)
}

/// One file: sniffed first (a binary is not read further), then read whole into `buf`
/// (reused), or in windows when it is large.
fn scan_file(
    path: &Path,
    place: &Place,
    opts: &Options,
    buf: &mut Vec<u8>,
    out: &mut Vec<Finding>,
) -> std::io::Result<Option<u64>> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata().map_or(0, |m| m.len());
    buf.clear();
    (&mut file).take(SNIFF_LEN as u64).read_to_end(buf)?;
    if sniff(buf) == Sniffed::Binary {
        return Ok(None);
    }
    if size > WINDOW as u64 {
        let head = std::io::Cursor::new(std::mem::take(buf));
        return scan_stream(head.chain(file), place, opts, out);
    }
    file.read_to_end(buf)?;
    Ok(scan_whole(buf, place, opts, out))
}

fn push(to: &Mutex<Vec<String>>, item: String) {
    if let Ok(mut v) = to.lock() {
        v.push(item);
    }
}

/// `./a/b` → `a/b`: paths as the user would type them.
fn clean(p: &Path) -> PathBuf {
    p.strip_prefix(".")
        .map_or_else(|_| p.to_path_buf(), Path::to_path_buf)
}
