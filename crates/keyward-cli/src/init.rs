//! `keyward init`: `.dev.vars` for local development, with a fresh root key's hash.

use std::io::Write as _;
use std::path::Path;

use keyward_core::ApiKey;

/// The file `wrangler dev` reads local secrets from.
pub const DEV_VARS: &str = ".dev.vars";
/// The template, when the project has one.
pub const DEV_VARS_EXAMPLE: &str = ".dev.vars.example";
/// The variable holding the root key's hash.
pub const ROOT_HASH_VAR: &str = "KEYWARD_ROOT_KEY_HASH";
/// The variable holding the secret the gateway signs its word to the origin with.
pub const ORIGIN_SECRET_VAR: &str = "ORIGIN_SECRET";
/// The root key's environment.
pub const ROOT_ENV: &str = "root";

/// Used when there is no `.dev.vars.example`.
const DEFAULT_TEMPLATE: &str = "\
# Local secrets for `wrangler dev`, written by `keyward init`. Never commit this file.
# The root key (printed once by `keyward init`) holds admin; only its hash is here.
KEYWARD_ROOT_KEY_HASH=
# Signs what the gateway tells the origin (filled with a fresh secret by `keyward init`).
ORIGIN_SECRET=
# Optional: an endpoint that receives every alert, signed by Standard Webhooks with the
# secret (`whsec_` and the base64 of 32 random bytes; both are needed).
# ALERT_WEBHOOK_URL=http://127.0.0.1:9000/alerts
# ALERT_WEBHOOK_SECRET=whsec_...
# Webhook endpoints may be http:// to loopback addresses (local development only).
KEYWARD_WEBHOOK_ALLOW_LOOPBACK_HTTP=true
";

/// What went wrong, with the exit code it maps to (always 2: usage or local error).
#[derive(Debug)]
pub struct InitError(pub String);

/// The template with `KEYWARD_ROOT_KEY_HASH` set (the line replaced, or appended).
pub fn render(template: &str, hash_hex: &str) -> String {
    let mut out = String::with_capacity(template.len() + 80);
    let mut done = false;
    for line in template.lines() {
        let is_var = line
            .trim_start()
            .strip_prefix(ROOT_HASH_VAR)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if is_var && !done {
            out.push_str(&format!("{ROOT_HASH_VAR}={hash_hex}\n"));
            done = true;
        } else if !is_var {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !done {
        out.push_str(&format!("{ROOT_HASH_VAR}={hash_hex}\n"));
    }
    out
}

/// `template` with an empty `name=` line given `value` (a line already holding a value,
/// or none at all, is left as it is).
pub fn fill_empty(template: &str, name: &str, value: &str) -> String {
    let mut out = String::with_capacity(template.len() + value.len());
    for line in template.lines() {
        if line.trim() == format!("{name}=") {
            out.push_str(&format!("{name}={value}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Writes `dir/.dev.vars` and returns the root key (the caller prints it once).
///
/// The file is written whole or not at all: a new file readable by its owner only
/// (0600), synced, then renamed over the old one, so a replaced file never keeps the old
/// one's permissions. A `.dev.vars` that is a symbolic link is refused, never followed.
///
/// # Errors
/// The file exists and `force` is not set, it is a symbolic link, the vendor is invalid,
/// or I/O fails.
pub fn init(dir: &Path, vendor: &str, force: bool) -> Result<ApiKey, InitError> {
    let target = dir.join(DEV_VARS);
    match std::fs::symlink_metadata(&target) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(InitError(format!(
                "{} is a symbolic link; keyward init never writes through one (remove it first)",
                target.display()
            )));
        }
        Ok(m) if !m.is_file() => {
            return Err(InitError(format!(
                "{} exists and is not a regular file",
                target.display()
            )));
        }
        Ok(_) if !force => {
            return Err(InitError(format!(
                "{} already exists; keyward init --force replaces it (and the root key it was made for stops working)",
                target.display()
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(InitError(format!("{}: {e}", target.display()))),
    }
    let template = match std::fs::read_to_string(dir.join(DEV_VARS_EXAMPLE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DEFAULT_TEMPLATE.to_owned(),
        Err(e) => {
            return Err(InitError(format!(
                "{}: {e}",
                dir.join(DEV_VARS_EXAMPLE).display()
            )));
        }
    };
    let new = ApiKey::generate(vendor, ROOT_ENV)
        .map_err(|e| InitError(format!("cannot make a root key: {e}")))?;
    let mut secret = [0u8; 32];
    fill_random(&mut secret).map_err(|e| InitError(format!("cannot make a secret: {e}")))?;
    let secret_hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let content = fill_empty(
        &render(&template, &new.hash.to_hex()),
        ORIGIN_SECRET_VAR,
        &secret_hex,
    );
    write_atomically(dir, &target, content.as_bytes(), force)
        .map_err(|e| InitError(format!("{}: {e}", target.display())))?;
    Ok(new.key)
}

/// Writes `bytes` to a new owner-only file beside `target`, then renames it over
/// `target` (`replace`) or links it there only if nothing is there yet.
fn write_atomically(dir: &Path, target: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let mut suffix = [0u8; 8];
    fill_random(&mut suffix)?;
    let tmp = dir.join(format!(
        ".dev.vars.{}.tmp",
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let written = write_then_place(&tmp, target, bytes, replace);
    let _ = std::fs::remove_file(&tmp);
    written
}

fn write_then_place(tmp: &Path, target: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    if replace {
        std::fs::rename(tmp, target)
    } else {
        // `hard_link` fails if `target` appeared meanwhile: never overwritten unasked.
        std::fs::hard_link(tmp, target)
    }
}

fn fill_random(buf: &mut [u8]) -> std::io::Result<()> {
    use keyward_core::RandomSource as _;
    keyward_core::OsRandom
        .fill(buf)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_replaces_or_appends() {
        let h = "ab".repeat(32);
        assert_eq!(
            render("# c\nKEYWARD_ROOT_KEY_HASH=\nX=1\n", &h),
            format!("# c\nKEYWARD_ROOT_KEY_HASH={h}\nX=1\n")
        );
        assert_eq!(
            render("X=1", &h),
            format!("X=1\nKEYWARD_ROOT_KEY_HASH={h}\n")
        );
        // A commented mention is not the variable.
        assert_eq!(
            render("# KEYWARD_ROOT_KEY_HASH=old\n", &h),
            format!("# KEYWARD_ROOT_KEY_HASH=old\nKEYWARD_ROOT_KEY_HASH={h}\n")
        );
    }
}
