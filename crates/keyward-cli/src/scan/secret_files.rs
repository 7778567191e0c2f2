//! Names that mark a file as one holding secrets. Such files are scanned even when an
//! ignore file (`.gitignore`, `.ignore`, `.git/info/exclude`, the global excludes) matches
//! them: they are where keys live, and they travel into deploy folders, images and
//! tarballs that no ignore file governs. A `.keywardignore` still skips them.

/// The names, as documented in the README ("What is scanned"): `*` stands for any
/// characters (none included), matched against the file's name only.
pub const SECRET_FILE_NAMES: &[&str] = &[
    // dotenv files: .env, .env.local, .env.production, .env.example, prod.env
    ".env",
    ".env.*",
    "*.env",
    // direnv
    ".envrc",
    // Cloudflare wrangler's local secrets, and per environment (.dev.vars.staging)
    ".dev.vars",
    ".dev.vars.*",
    // private keys and certificates
    "*.pem",
    "*.key",
    // registry and login credentials
    ".npmrc",
    ".pypirc",
    ".netrc",
    // secrets and credentials files: secrets.yaml, app.secrets.json, credentials.json
    "secrets.*",
    "*.secrets.*",
    ".secrets",
    "credentials",
    "credentials.*",
    // Terraform variables, Azure Functions' local settings
    "*.tfvars",
    "*.tfvars.json",
    "local.settings.json",
];

/// Whether `name` matches one of [`SECRET_FILE_NAMES`].
pub fn is_secret_file(name: &str) -> bool {
    SECRET_FILE_NAMES.iter().any(|p| matches(p, name))
}

/// `pattern`, where each `*` is any characters, against all of `name`.
fn matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let mut middle: Vec<&str> = parts.collect();
    let Some(last) = middle.pop() else {
        // No `*`: the whole name.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_file_names() {
        for name in [
            ".env",
            ".env.local",
            ".env.production",
            ".env.example",
            "prod.env",
            ".envrc",
            ".dev.vars",
            ".dev.vars.staging",
            "server.pem",
            "tls.key",
            ".npmrc",
            ".pypirc",
            ".netrc",
            "secrets.yaml",
            "app.secrets.json",
            ".secrets",
            "credentials",
            "credentials.json",
            "prod.tfvars",
            "prod.tfvars.json",
            "local.settings.json",
        ] {
            assert!(is_secret_file(name), "{name}");
        }
        for name in [
            "env",
            ".environment",
            "environment.ts",
            "dev.vars.md",
            "pem",
            "keys.rs",
            "secret.rs",
            "README.md",
            "settings.json",
            ".gitignore",
        ] {
            assert!(!is_secret_file(name), "{name}");
        }
    }
}
