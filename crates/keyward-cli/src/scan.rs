//! The leak scanner: files (gitignore-aware, in parallel), git history and the index.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use keyward_core::{ApiKey, KeyHash, MAX_KEY_LEN};

use crate::finder::{LineCounter, VendorFilter, find_keys};
use crate::git;

/// Bytes looked at to tell a binary file (one holding NUL) from text, as git does. A
/// buffer that starts with a UTF-16 byte order mark is text whatever it holds: it is
/// decoded to UTF-8 and scanned (see [`utf16_bom`]).
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
    /// Bytes searched (UTF-16 text counts as its UTF-8 decoding).
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

/// Whether a buffer is binary: a NUL among its first [`BINARY_SNIFF_LEN`] bytes, unless
/// it starts with a UTF-16 byte order mark (UTF-16 text is full of NULs).
pub fn is_binary(buf: &[u8]) -> bool {
    utf16_bom(buf).is_none() && memchr::memchr(0, &buf[..buf.len().min(BINARY_SNIFF_LEN)]).is_some()
}

/// The byte order of UTF-16 text, from its byte order mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf16 {
    /// `FF FE`.
    Le,
    /// `FE FF`.
    Be,
}

impl Utf16 {
    fn unit(self, pair: [u8; 2]) -> u16 {
        match self {
            Utf16::Le => u16::from_le_bytes(pair),
            Utf16::Be => u16::from_be_bytes(pair),
        }
    }
}

/// The UTF-16 byte order `buf` announces with a byte order mark (`FF FE` little endian,
/// `FE FF` big endian), if it starts with one.
pub fn utf16_bom(buf: &[u8]) -> Option<Utf16> {
    match buf {
        [0xFF, 0xFE, ..] => Some(Utf16::Le),
        [0xFE, 0xFF, ..] => Some(Utf16::Be),
        _ => None,
    }
}

/// Appends the UTF-8 of the UTF-16 `units` to `out`; each unpaired surrogate becomes
/// U+FFFD, as [`String::from_utf16_lossy`] does.
fn push_utf16(units: impl IntoIterator<Item = u16>, out: &mut Vec<u8>) {
    let mut utf8 = [0u8; 4];
    for c in char::decode_utf16(units) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    }
}

/// Decodes a buffer that starts with a UTF-16 byte order mark to UTF-8, without the mark:
/// unpaired surrogates and an odd last byte become U+FFFD. `None` without a mark.
pub fn decode_utf16(buf: &[u8]) -> Option<Vec<u8>> {
    let order = utf16_bom(buf)?;
    let body = buf.get(2..).unwrap_or_default();
    // Exact for ASCII text; anything else grows the buffer as needed.
    let mut out = Vec::with_capacity(body.len() / 2);
    let pairs = body.chunks_exact(2);
    let odd = !pairs.remainder().is_empty();
    push_utf16(pairs.map(|p| order.unit([p[0], p[1]])), &mut out);
    if odd {
        push_utf16([0xFFFD], &mut out);
    }
    Some(out)
}

/// Reads UTF-16 (after its byte order mark) as UTF-8, in constant memory, so that large
/// UTF-16 files and streams go through the same windows as UTF-8 ones. Decodes as
/// [`decode_utf16`] does: a surrogate pair split across reads is joined.
struct Utf16Reader<R> {
    inner: R,
    order: Utf16,
    /// Raw bytes read and not decoded yet (an odd byte, or a high surrogate whose pair
    /// has not been read).
    raw: Vec<u8>,
    /// Decoded UTF-8 not handed out yet, from `done`.
    utf8: Vec<u8>,
    done: usize,
    eof: bool,
}

impl<R: std::io::Read> Utf16Reader<R> {
    /// Raw bytes read from `inner` at a time.
    const CHUNK: usize = 64 << 10;

    fn new(inner: R, order: Utf16) -> Self {
        Utf16Reader {
            inner,
            order,
            raw: Vec::new(),
            utf8: Vec::new(),
            done: 0,
            eof: false,
        }
    }

    /// Reads and decodes more; at end of input, flushes what is left as U+FFFD.
    fn fill(&mut self) -> std::io::Result<()> {
        self.utf8.clear();
        self.done = 0;
        let got = (&mut self.inner)
            .take(Self::CHUNK as u64)
            .read_to_end(&mut self.raw)?;
        if got == 0 {
            self.eof = true;
        }
        let even = self.raw.len() & !1;
        let mut units: Vec<u16> = self.raw[..even]
            .chunks_exact(2)
            .map(|p| self.order.unit([p[0], p[1]]))
            .collect();
        let mut keep_from = even;
        // A high surrogate last: its pair may be in the next read.
        if !self.eof && units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
            units.pop();
            keep_from -= 2;
        }
        push_utf16(units, &mut self.utf8);
        self.raw.drain(..keep_from);
        if self.eof && !self.raw.is_empty() {
            // An odd last byte (a lone high surrogate was decoded above).
            self.raw.clear();
            push_utf16([0xFFFD], &mut self.utf8);
        }
        Ok(())
    }
}

impl<R: std::io::Read> std::io::Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.done == self.utf8.len() {
            if self.eof || buf.is_empty() {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = buf.len().min(self.utf8.len() - self.done);
        buf[..n].copy_from_slice(&self.utf8[self.done..self.done + n]);
        self.done += n;
        Ok(n)
    }
}

/// Searches one buffer, appending findings for `place`.
pub fn scan_buffer(buf: &[u8], place: &Place, opts: &Options, out: &mut Vec<Finding>) {
    scan_window(buf, buf.len(), (1, 0), place, opts, out);
}

/// Searches one whole file or blob: UTF-16 text (with a byte order mark) decoded to UTF-8
/// first, binaries skipped. Returns the bytes searched, `None` for a binary.
fn scan_whole(buf: &[u8], place: &Place, opts: &Options, out: &mut Vec<Finding>) -> Option<u64> {
    if let Some(text) = decode_utf16(buf) {
        scan_buffer(&text, place, opts, out);
        return Some(text.len() as u64);
    }
    if is_binary(buf) {
        return None;
    }
    scan_buffer(buf, place, opts, out);
    Some(buf.len() as u64)
}

/// Files larger than this are read in windows of this size instead of whole.
pub const WINDOW: usize = 16 << 20;
/// Bytes carried from one window to the next, so that a key across the seam is whole in
/// the next window.
const CARRY: usize = MAX_KEY_LEN - 1;

/// Searches `buf` for keys that start before `limit`. `origin` is the line and the
/// number of characters already on that line at `buf[0]`.
fn scan_window(
    buf: &[u8],
    limit: usize,
    origin: (usize, usize),
    place: &Place,
    opts: &Options,
    out: &mut Vec<Finding>,
) {
    let mut lines = LineCounter::new(buf);
    find_keys(buf, &opts.vendors, |f| {
        if f.offset >= limit {
            return;
        }
        if allowed_inline(buf, f.offset) {
            return;
        }
        let (line, column) = lines.locate(f.offset);
        let (line, column) = if line == 1 {
            (origin.0, column + origin.1)
        } else {
            (line + origin.0 - 1, column)
        };
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

/// Marks a line whose keys are not reported (e.g. a published test vector).
pub const ALLOW_MARKER: &[u8] = b"keyward:allow";
/// Per-directory files of gitignore patterns for paths whose keys are not reported.
pub const IGNORE_FILE: &str = ".keywardignore";

/// Whether the line holding `offset` carries [`ALLOW_MARKER`].
fn allowed_inline(buf: &[u8], offset: usize) -> bool {
    let start = memchr::memrchr(b'\n', &buf[..offset]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &buf[offset..]).map_or(buf.len(), |i| offset + i);
    memchr::memmem::find(&buf[start..end], ALLOW_MARKER).is_some()
}

/// Where `origin` moves to after `consumed`: lines passed, and characters on the last one.
fn advance(origin: (usize, usize), consumed: &[u8]) -> (usize, usize) {
    let chars = |b: &[u8]| b.iter().filter(|&&c| (c & 0xC0) != 0x80).count();
    let newlines = memchr::memchr_iter(b'\n', consumed).count();
    match memchr::memrchr(b'\n', consumed) {
        Some(last) => (origin.0 + newlines, chars(&consumed[last + 1..])),
        None => (origin.0, origin.1 + chars(consumed)),
    }
}

/// Scans a stream in windows of [`WINDOW`] bytes, in constant memory. Returns the bytes
/// searched, or `None` if the stream is binary (a NUL in its first 8000 bytes). A stream
/// that starts with a UTF-16 byte order mark is decoded to UTF-8 as it is read, also in
/// constant memory, so UTF-16 files of any size are scanned whole (no size cap).
///
/// # Errors
/// Reading fails.
pub fn scan_stream(
    reader: impl std::io::Read,
    place: &Place,
    opts: &Options,
    out: &mut Vec<Finding>,
) -> std::io::Result<Option<u64>> {
    scan_stream_in(reader, WINDOW, place, opts, out)
}

/// [`scan_stream`] with windows of `window` bytes.
fn scan_stream_in(
    mut reader: impl std::io::Read,
    window: usize,
    place: &Place,
    opts: &Options,
    out: &mut Vec<Finding>,
) -> std::io::Result<Option<u64>> {
    let mut head = Vec::with_capacity(BINARY_SNIFF_LEN);
    (&mut reader)
        .take(BINARY_SNIFF_LEN as u64)
        .read_to_end(&mut head)?;
    if let Some(order) = utf16_bom(&head) {
        head.drain(..2);
        let text = Utf16Reader::new(std::io::Cursor::new(head).chain(reader), order);
        return scan_windows(text, window, place, opts, out).map(Some);
    }
    if is_binary(&head) {
        return Ok(None);
    }
    scan_windows(
        std::io::Cursor::new(head).chain(reader),
        window,
        place,
        opts,
        out,
    )
    .map(Some)
}

/// Scans text (already sniffed) in windows of `window` bytes; returns the bytes read.
fn scan_windows(
    mut reader: impl std::io::Read,
    window: usize,
    place: &Place,
    opts: &Options,
    out: &mut Vec<Finding>,
) -> std::io::Result<u64> {
    let mut buf: Vec<u8> = Vec::with_capacity(window + CARRY);
    let mut origin = (1, 0);
    let mut total = 0u64;
    loop {
        let got = (&mut reader).take(window as u64).read_to_end(&mut buf)?;
        total += got as u64;
        let eof = got < window;
        if eof {
            scan_window(&buf, buf.len(), origin, place, opts, out);
            return Ok(total);
        }
        let limit = buf.len().saturating_sub(CARRY);
        scan_window(&buf, limit, origin, place, opts, out);
        origin = advance(origin, &buf[..limit]);
        buf.drain(..limit);
    }
}

/// Scans files and directories, recursively, honouring `.gitignore`, skipping binaries
/// (a NUL in the first 8000 bytes) but decoding UTF-16 text (a byte order mark first).
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
        .add_custom_ignore_filename(IGNORE_FILE)
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
            let place = Place::File(clean(entry.path()));
            local.clear();
            match scan_file(entry.path(), &place, opts, &mut buf, &mut local) {
                Err(e) => {
                    push(errors, format!("{}: {e}", entry.path().display()));
                    return ignore::WalkState::Continue;
                }
                Ok(None) => {
                    binary.fetch_add(1, Ordering::Relaxed);
                    return ignore::WalkState::Continue;
                }
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
    let mut report = Report::default();
    let place = Place::File(PathBuf::from("-"));
    match scan_stream(std::io::stdin().lock(), &place, opts, &mut report.findings) {
        Ok(Some(n)) => {
            report.files = 1;
            report.bytes = n;
        }
        Ok(None) => report.binary = 1,
        Err(e) => return Err(format!("stdin: {e}")),
    }
    Ok(report)
}

/// One file: read whole into `buf` (reused), or in windows when it is large. UTF-16
/// (with a byte order mark) is decoded: whole, or as it is read in windows.
fn scan_file(
    path: &Path,
    place: &Place,
    opts: &Options,
    buf: &mut Vec<u8>,
    out: &mut Vec<Finding>,
) -> std::io::Result<Option<u64>> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata().map_or(0, |m| m.len());
    // Sniff first: a binary file is skipped without reading the rest of it.
    buf.clear();
    (&mut file).take(BINARY_SNIFF_LEN as u64).read_to_end(buf)?;
    if is_binary(buf) {
        return Ok(None);
    }
    if size > WINDOW as u64 {
        let head = std::io::Cursor::new(std::mem::take(buf));
        let scanned = scan_stream(head.chain(file), place, opts, out);
        return scanned;
    }
    file.read_to_end(buf)?;
    Ok(scan_whole(buf, place, opts, out))
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
        // Sniffed as files are: UTF-16 decoded, binaries skipped.
        let scanned = if size > WINDOW as u64 {
            scan_stream(reader, &place, opts, &mut local)?
        } else {
            content.clear();
            reader.read_to_end(&mut content)?;
            scan_whole(&content, &place, opts, &mut local)
        };
        let Some(n) = scanned else {
            report.binary += 1;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn summary(v: &[Finding]) -> Vec<(usize, usize, KeyHash)> {
        v.iter().map(|f| (f.line, f.column, f.hash)).collect()
    }

    fn utf16(text: &[u16], order: Utf16) -> Vec<u8> {
        let mut out = match order {
            Utf16::Le => vec![0xFF, 0xFE],
            Utf16::Be => vec![0xFE, 0xFF],
        };
        for u in text {
            out.extend_from_slice(&match order {
                Utf16::Le => u.to_le_bytes(),
                Utf16::Be => u.to_be_bytes(),
            });
        }
        out
    }

    /// Hands out at most `n` bytes per read, to split pairs and surrogates anywhere.
    struct Trickle<'a>(&'a [u8], usize);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn utf16_is_decoded_like_from_utf16_lossy() {
        let mut units: Vec<u16> = "a\né 😀 ☃\r\n".encode_utf16().collect();
        // Unpaired surrogates: a low one alone, a high one before a letter, a high one last.
        units.extend([0xDC00, 0x41, 0xD83D, 0x42, 0xD83D]);
        let expected = String::from_utf16_lossy(&units).into_bytes();
        for order in [Utf16::Le, Utf16::Be] {
            let bytes = utf16(&units, order);
            assert_eq!(utf16_bom(&bytes), Some(order));
            assert!(!is_binary(&bytes));
            assert_eq!(decode_utf16(&bytes).unwrap(), expected);
            // An odd last byte is one more U+FFFD.
            let mut odd = bytes.clone();
            odd.push(0x41);
            let mut with_odd = expected.clone();
            with_odd.extend_from_slice("\u{FFFD}".as_bytes());
            assert_eq!(decode_utf16(&odd).unwrap(), with_odd);
            // Read in pieces of any size, the stream decodes the same.
            for n in [1, 2, 3, 5, 8, 64] {
                for input in [&bytes, &odd] {
                    let mut streamed = Vec::new();
                    Utf16Reader::new(Trickle(&input[2..], n), order)
                        .read_to_end(&mut streamed)
                        .unwrap();
                    assert_eq!(Some(streamed), decode_utf16(input), "{order:?} by {n}");
                }
            }
        }
        assert_eq!(utf16_bom(b"\xEF\xBB\xBFtext"), None);
        assert_eq!(decode_utf16(b"plain"), None);
        assert_eq!(decode_utf16(&[0xFF, 0xFE]).unwrap(), b"");
        assert!(is_binary(b"MZ\0\0\xFF\xFE"));
    }

    #[test]
    fn utf16_streams_find_what_the_decoded_text_holds() {
        let mut text = String::new();
        for i in 0..25 {
            let k = ApiKey::generate("sk", if i % 2 == 0 { "live" } else { "test" }).unwrap();
            text.push_str(&"😀é x".repeat(i * 5 % 17));
            text.push_str(k.key.expose_secret());
            text.push_str(if i % 3 == 0 { "\r\n" } else { " \u{2603} " });
        }
        let opts = Options::default();
        let place = Place::File(PathBuf::from("t"));
        let mut whole = Vec::new();
        scan_buffer(text.as_bytes(), &place, &opts, &mut whole);
        assert_eq!(whole.len(), 25);
        let units: Vec<u16> = text.encode_utf16().collect();
        for order in [Utf16::Le, Utf16::Be] {
            let bytes = utf16(&units, order);
            let mut found = Vec::new();
            assert_eq!(
                scan_whole(&bytes, &place, &opts, &mut found),
                Some(text.len() as u64)
            );
            assert_eq!(summary(&found), summary(&whole), "{order:?} whole");
            for window in [7, 100, 333, 4096] {
                let mut windowed = Vec::new();
                let n = scan_stream_in(Trickle(&bytes, 1000), window, &place, &opts, &mut windowed)
                    .unwrap();
                assert_eq!(n, Some(text.len() as u64));
                assert_eq!(
                    summary(&windowed),
                    summary(&whole),
                    "{order:?} window {window}"
                );
            }
        }
        // Without a byte order mark, a NUL still marks a binary, whole or streamed.
        let mut binary = b"\x7fELF\0".to_vec();
        binary.extend_from_slice(text.as_bytes());
        assert_eq!(scan_whole(&binary, &place, &opts, &mut Vec::new()), None);
        let streamed = scan_stream_in(&binary[..], 100, &place, &opts, &mut Vec::new());
        assert_eq!(streamed.unwrap(), None);
    }

    #[test]
    fn windows_find_what_a_whole_read_finds() {
        let mut text = String::new();
        for i in 0..40 {
            let k = ApiKey::generate(if i % 3 == 0 { "acme" } else { "sk" }, "live").unwrap();
            text.push_str(&"é_x ".repeat(i * 7 % 23));
            text.push_str(k.key.expose_secret());
            text.push_str(if i % 2 == 0 { "\n" } else { " \u{2603} " });
        }
        let opts = Options::default();
        let place = Place::File(PathBuf::from("t"));
        let mut whole = Vec::new();
        scan_buffer(text.as_bytes(), &place, &opts, &mut whole);
        assert_eq!(whole.len(), 40);
        for window in [1, 7, 50, 83, 100, 333, 4096] {
            let mut windowed = Vec::new();
            let n = scan_windows(text.as_bytes(), window, &place, &opts, &mut windowed).unwrap();
            assert_eq!(n, text.len() as u64);
            assert_eq!(summary(&windowed), summary(&whole), "window {window}");
        }
    }
}
