//! `keyward hook install`: a git pre-commit hook that runs `keyward scan --staged`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Marks hooks this tool wrote.
pub const MARKER: &str = "# keyward pre-commit hook";

/// The hook script: the absolute path of this binary, or `keyward` on `PATH` if that
/// binary has moved since.
pub fn script(exe: Option<&Path>) -> String {
    let exe = exe.map_or_else(|| "keyward".to_owned(), |p| p.display().to_string());
    let quoted = format!("'{}'", exe.replace('\'', r"'\''"));
    format!(
        "#!/bin/sh\n{MARKER}: blocks commits that add keyward API keys.\n\
# Installed by `keyward hook install`. Bypass once (not advised): git commit --no-verify\n\
KEYWARD={quoted}\n\
[ -x \"$KEYWARD\" ] || KEYWARD=keyward\n\
exec \"$KEYWARD\" scan --staged\n"
    )
}

/// Installs the hook in the repository at `repo` and returns its path.
///
/// # Errors
/// Not a git repository, a hook already there without `force`, or I/O.
pub fn install(repo: &Path, force: bool) -> Result<PathBuf, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--path-format=absolute", "--git-path", "hooks"])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} is not in a git repository: {}",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let hooks = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    std::fs::create_dir_all(&hooks).map_err(|e| format!("{}: {e}", hooks.display()))?;
    let path = hooks.join("pre-commit");
    if path.exists() && !force {
        return Err(format!(
            "{} already exists; keyward hook install --force replaces it (or call `keyward scan --staged` from it yourself)",
            path.display()
        ));
    }
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok());
    std::fs::write(&path, script(exe.as_deref()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(path)
}
