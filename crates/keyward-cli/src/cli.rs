//! Command-line parsing and dispatch.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use keyward_api::{
    Bucket, CreateKey, CreditsSpec, LeakFeedback, LeakLabel, ReportedToken, Revocation,
    SecretString, SetCredits, UpdateKey,
};
use keyward_core::limits::{NamedLimit, Refill};
use serde_json::Value;

use crate::api::Client;
use crate::finder::VendorFilter;
use crate::keys::{self, Out};
use crate::scan::{self, Finding, Options, Report, ScannedReason, SkipReason};
use crate::{hook, init, output, usage};

/// Exit code: scan clean, or command succeeded.
pub const OK: u8 = 0;
/// Exit code: keys found (scan), or refused by the API (keys).
pub const FOUND_OR_REFUSED: u8 = 1;
/// Exit code: usage, configuration or local error.
pub const USAGE: u8 = 2;
/// Exit code: the Worker failed or could not be reached (keys).
pub const SERVER: u8 = 3;

/// keyward: manage API keys and find leaked ones.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Find keyward API keys in files, git history or staged changes.
    ///
    /// A match counts only if its checksum holds. Prints file, line, column and the key's
    /// hint, never the key. Exit 0 clean, 1 keys found, 2 error.
    Scan(ScanArgs),
    /// Write .dev.vars for local development with a fresh root key's hash; the root key
    /// is printed once, to stdout.
    Init(InitArgs),
    /// Git hooks.
    Hook {
        #[command(subcommand)]
        cmd: HookCmd,
    },
    /// Manage keys through the Worker's API (KEYWARD_URL, KEYWARD_TOKEN).
    ///
    /// KEYWARD_URL must be https://, or http:// to a loopback address (localhost,
    /// 127.x.y.z, [::1]): every request carries the token. Exit 0 ok, 1 refused by the API,
    /// 2 usage or configuration error, 3 server or network fault.
    Keys {
        #[command(subcommand)]
        cmd: Box<KeysCmd>,
        /// Print everything as JSON on stdout.
        #[arg(long, global = true)]
        json: bool,
    },
    /// A key's or an owner's uses per hour or day, by outcome (valid, or the code that
    /// refused them), through the Worker's API (KEYWARD_URL, KEYWARD_TOKEN with
    /// audit:read). Exit codes as for `keys`.
    Usage(UsageCli),
    /// The audit trail, through the Worker's API (KEYWARD_URL, KEYWARD_TOKEN with
    /// audit:read). Exit codes as for `keys`.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Stream events between two times to stdout as newline-delimited JSON, oldest first
    /// (at most 20,000 per call: continue from the last event's time).
    Export {
        /// `json`: keyward's events; `ocsf`: OCSF 1.3 events.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// From this time on: RFC 3339, or a duration before now (24h, 30d). Default: 24h.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Up to this time (not included): RFC 3339, or a duration before now. Default: now.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    Json,
    Ocsf,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["key", "owner"])))]
struct UsageCli {
    /// Only this key's uses (key_...).
    #[arg(long, value_name = "ID")]
    key: Option<String>,
    /// Only this owner's uses.
    #[arg(long, value_name = "OWNER")]
    owner: Option<String>,
    /// From this time on: RFC 3339, or a duration before now (24h, 30d). Default: 7 days.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Bucket width.
    #[arg(long, value_enum, default_value_t = BucketArg::Hour)]
    bucket: BucketArg,
    /// Print the API's answer as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BucketArg {
    Hour,
    Day,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// Files or directories to scan (default: the current directory; `-` reads stdin).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Only keys of this vendor prefix (repeatable; default: any vendor).
    #[arg(long, value_name = "VENDOR")]
    vendor: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Scan every blob of every commit of the repository (default: the current one).
    #[arg(
        long,
        value_name = "REPO",
        num_args = 0..=1,
        default_missing_value = ".",
        conflicts_with_all = ["paths", "staged"]
    )]
    git: Option<PathBuf>,
    /// Scan what is staged for the next commit (the pre-commit hook runs this).
    #[arg(long, conflicts_with = "paths")]
    staged: bool,
    /// Also scan what .gitignore, .ignore and git's excludes skip (ignored directories
    /// included). Without it, ignored files are scanned anyway when git tracks them or
    /// their name marks a secret file (.env, .dev.vars, *.pem...); .keywardignore
    /// always applies.
    #[arg(long)]
    no_ignore: bool,
    /// Report found keys to the Worker (POST /v1/leaks), which revokes them as leaked.
    /// Needs KEYWARD_URL (https://, or http:// to a loopback address: the raw keys are
    /// sent) and KEYWARD_TOKEN (a key with keys:write).
    #[arg(long)]
    revoke: bool,
    /// Threads for scanning files (default: one per core).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 0)]
    threads: usize,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Replace an existing .dev.vars (its root key stops working).
    #[arg(long)]
    force: bool,
    /// The deployment's vendor prefix.
    #[arg(long, default_value = "sk")]
    vendor: String,
    /// Where to write .dev.vars (and read .dev.vars.example from).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum HookCmd {
    /// Install a pre-commit hook that runs `keyward scan --staged` and blocks the commit
    /// when it finds a key.
    Install {
        /// Replace an existing pre-commit hook.
        #[arg(long)]
        force: bool,
        /// The repository (default: the current one).
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Create a key; the key alone goes to stdout, once.
    Create {
        /// A name for people.
        #[arg(long)]
        name: String,
        /// Who the key belongs to (default: the token's own owner; required with the
        /// root key).
        #[arg(long)]
        owner: Option<String>,
        /// A scope to grant, e.g. scans:read (repeatable, or comma-separated).
        #[arg(
            long = "scope",
            value_name = "SCOPE",
            required_unless_present = "roles",
            value_delimiter = ','
        )]
        scopes: Vec<String>,
        /// A role of the deployment (KEYWARD_ROLES) whose scopes the key gets too
        /// (repeatable, or comma-separated).
        #[arg(long = "role", value_name = "NAME", value_delimiter = ',')]
        roles: Vec<String>,
        /// An allowed client network, a CIDR block or a bare address (repeatable, or
        /// comma-separated; at most 100): uses from elsewhere are refused.
        #[arg(long = "allow-ip", value_name = "CIDR", value_delimiter = ',')]
        allow_ips: Vec<String>,
        /// The key works from this time on (RFC 3339, e.g. 2026-07-01T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        not_before: Option<String>,
        /// The environment the key works in (live, test, ...; default: the token's own;
        /// required with the root key).
        #[arg(long)]
        env: Option<String>,
        /// Lifetime: seconds, or 15m, 24h, 30d, 2w.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        /// Metadata, a JSON object.
        #[arg(long, value_name = "JSON")]
        metadata: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Usage credits to start with: each use spends its cost, none left is 429.
        #[arg(long, value_name = "N")]
        credits: Option<u64>,
        /// Set the credits to AMOUNT at each UTC day or month boundary (AMOUNT/day,
        /// AMOUNT/month).
        #[arg(long, value_name = "REFILL", requires = "credits")]
        refill: Option<Refill>,
        /// Raise a credits_low alert (once per refill period) below this balance.
        #[arg(long, value_name = "N", requires = "credits")]
        credits_alert_below: Option<u64>,
    },
    /// Replace a key's own rate limits (no --rate-limit: remove them).
    Limits {
        /// The key id (key_...).
        id: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Change a key's allowed networks, start or expiry (PATCH). A `keys:write` token may
    /// only narrow a key; widening (more networks, any address, an earlier or no start, a
    /// later or no expiry) takes the root key or an `admin` key.
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true)
        .args(["allow_ips", "any_ip", "not_before", "no_not_before", "expires_at", "never_expires"])))]
    Restrict {
        /// The key id (key_...).
        id: String,
        /// The allowed client networks, replacing the key's (repeatable, or comma-separated;
        /// at most 100): a CIDR block or a bare address.
        #[arg(
            long = "allow-ip",
            value_name = "CIDR",
            value_delimiter = ',',
            conflicts_with = "any_ip"
        )]
        allow_ips: Vec<String>,
        /// Allow any client address (removes the key's networks).
        #[arg(long)]
        any_ip: bool,
        /// The key works from this time on (RFC 3339).
        #[arg(long, value_name = "TIME", conflicts_with = "no_not_before")]
        not_before: Option<String>,
        /// Remove the key's start.
        #[arg(long)]
        no_not_before: bool,
        /// The key stops working at this time (RFC 3339).
        #[arg(long, value_name = "TIME", conflicts_with = "never_expires")]
        expires_at: Option<String>,
        /// The key never expires (within the deployment's lifetime policy).
        #[arg(long)]
        never_expires: bool,
    },
    /// Set or add to a key's usage credits.
    Credits {
        /// The key id (key_...).
        id: String,
        /// Set the balance to N.
        #[arg(
            long,
            value_name = "N",
            conflicts_with = "add",
            required_unless_present = "add"
        )]
        set: Option<u64>,
        /// Add N to the balance.
        #[arg(long, value_name = "N")]
        add: Option<u64>,
        /// Set the balance to AMOUNT at each UTC day or month boundary (AMOUNT/day,
        /// AMOUNT/month).
        #[arg(long, value_name = "REFILL")]
        refill: Option<Refill>,
        /// Raise a credits_low alert (once per refill period) below this balance.
        #[arg(long, value_name = "N")]
        alert_below: Option<u64>,
    },
    /// Show an owner's shared rate limits, or replace them (--rate-limit, or --none).
    OwnerLimits {
        /// The owner.
        owner: String,
        #[command(flatten)]
        limits: LimitArgs,
        /// Remove the owner's limits.
        #[arg(long, conflicts_with = "rate_limits")]
        none: bool,
    },
    /// List keys (one page; --all follows the cursor).
    List {
        /// Only this owner's keys.
        #[arg(long)]
        owner: Option<String>,
        /// Only keys of this environment.
        #[arg(long)]
        env: Option<String>,
        /// Page size.
        #[arg(long)]
        limit: Option<u32>,
        /// Start from this cursor (from a previous page).
        #[arg(long)]
        cursor: Option<String>,
        /// Fetch every page.
        #[arg(long)]
        all: bool,
    },
    /// Show one key's record.
    Show {
        /// The key id (key_...).
        id: String,
    },
    /// Revoke a key at once.
    Revoke {
        /// The key id (key_...).
        id: String,
        /// Why (stored with the revocation).
        #[arg(long, default_value = "revoked with keyward-cli")]
        reason: String,
    },
    /// Adopt keys stored before the ledger (records without a chain), every page, with
    /// the root key: until then KV alone makes them no key. Idempotent; prints the ids
    /// adopted.
    Migrate,
    /// Replace a key with a new one; the old one works for a grace period. The new key
    /// alone goes to stdout, once.
    Rotate {
        /// The key id (key_...).
        id: String,
        /// How long the old key keeps working: seconds, or 15m, 24h, 7d.
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        grace: String,
    },
}

#[derive(Debug, Args)]
struct LimitArgs {
    /// A rate limit, [NAME=]LIMIT/PERIOD: at most LIMIT uses in any rolling PERIOD (1s
    /// to 1d), e.g. 100/1m or burst=10/1s (repeatable; every limit applies).
    #[arg(long = "rate-limit", value_name = "LIMIT")]
    rate_limits: Vec<NamedLimit>,
}

/// Parses the arguments, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Scan(args) => run_scan(args),
        Cmd::Init(args) => run_init(&args),
        Cmd::Hook {
            cmd: HookCmd::Install { force, repo },
        } => match hook::install(&repo, force) {
            Ok(path) => {
                eprintln!(
                    "installed {}: commits that add a keyward key are blocked",
                    path.display()
                );
                OK
            }
            Err(e) => fail(&e),
        },
        Cmd::Keys { cmd, json } => run_keys(*cmd, Out { json }),
        Cmd::Usage(args) => run_usage(args),
        Cmd::Audit {
            cmd:
                AuditCmd::Export {
                    format,
                    since,
                    until,
                },
        } => run_export(format, since.as_deref(), until.as_deref()),
    };
    ExitCode::from(code)
}

fn fail(msg: &str) -> u8 {
    eprintln!("keyward: error: {msg}");
    USAGE
}

fn run_init(args: &InitArgs) -> u8 {
    if !keyward_core::is_valid_prefix(&args.vendor) {
        return fail("--vendor must be [a-z][a-z0-9]{0,15}");
    }
    match init::init(&args.dir, &args.vendor, args.force) {
        Ok(key) => {
            crate::out(&format!("{}\n", key.expose_secret()));
            eprintln!(
                "wrote {} with {}={} (its SHA-256).\n\
                 The root key above holds admin and is shown this once: keep it in a secret \
                 manager. Use it as KEYWARD_TOKEN for `keyward keys`.",
                args.dir.join(init::DEV_VARS).display(),
                init::ROOT_HASH_VAR,
                key.hash().to_hex(),
            );
            OK
        }
        Err(init::InitError(e)) => fail(&e),
    }
}

fn run_keys(cmd: KeysCmd, out: Out) -> u8 {
    let client = match Client::from_env() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let result = match cmd {
        KeysCmd::Create {
            name,
            owner,
            scopes,
            roles,
            allow_ips,
            not_before,
            env,
            expires_in,
            metadata,
            limits,
            credits,
            refill,
            credits_alert_below,
        } => {
            let allowed_ips = match keyward_core::Networks::parse(&allow_ips) {
                Ok(n) => Some(n).filter(keyward_core::Networks::is_restricted),
                Err(e) => return fail(&format!("--allow-ip: {e}")),
            };
            let not_before = match not_before
                .map(|t| keyward_core::time::parse_rfc3339(&t))
                .transpose()
            {
                Ok(t) => t,
                Err(e) => return fail(&format!("--not-before: {e}")),
            };
            let expires_in = match expires_in.map(|d| keys::parse_duration(&d)).transpose() {
                Ok(s) => s.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                Err(e) => return fail(&format!("--expires-in: {e}")),
            };
            let metadata = match metadata.map(|m| serde_json::from_str::<Value>(&m)) {
                None => None,
                Some(Ok(Value::Object(m))) => Some(m),
                Some(_) => {
                    return fail("--metadata must be a JSON object, e.g. '{\"team\":\"a\"}'");
                }
            };
            let body = CreateKey {
                name,
                owner,
                scopes,
                env,
                expires_in,
                metadata,
                rate_limit: None,
                rate_limits: Some(limits.rate_limits).filter(|l| !l.is_empty()),
                credits: credits.map(|remaining| CreditsSpec {
                    remaining,
                    refill,
                    alert_below: credits_alert_below,
                }),
                allowed_ips,
                not_before,
                roles: Some(roles).filter(|r| !r.is_empty()),
            };
            keys::create(&client, &body, out)
        }
        KeysCmd::Limits { id, limits } => keys::set_limits(&client, &id, limits.rate_limits, out),
        KeysCmd::Restrict {
            id,
            allow_ips,
            any_ip,
            not_before,
            no_not_before,
            expires_at,
            never_expires,
        } => {
            let allowed_ips = if any_ip {
                Some(keyward_core::Networks::default())
            } else if allow_ips.is_empty() {
                None
            } else {
                match keyward_core::Networks::parse(&allow_ips) {
                    Ok(n) => Some(n),
                    Err(e) => return fail(&format!("--allow-ip: {e}")),
                }
            };
            let not_before = match time_change(not_before, no_not_before) {
                Ok(t) => t,
                Err(e) => return fail(&format!("--not-before: {e}")),
            };
            let expires_at = match time_change(expires_at, never_expires) {
                Ok(t) => t,
                Err(e) => return fail(&format!("--expires-at: {e}")),
            };
            let body = UpdateKey {
                allowed_ips,
                not_before,
                expires_at,
                ..UpdateKey::default()
            };
            keys::update(&client, &id, &body, out)
        }
        KeysCmd::Credits {
            id,
            set,
            add,
            refill,
            alert_below,
        } => {
            let body = SetCredits {
                set,
                add,
                refill,
                alert_below,
            };
            keys::set_credits(&client, &id, &body, out)
        }
        KeysCmd::OwnerLimits {
            owner,
            limits,
            none,
        } => {
            let replace = (none || !limits.rate_limits.is_empty()).then_some(limits.rate_limits);
            keys::owner_limits(&client, &owner, replace, out)
        }
        KeysCmd::List {
            owner,
            env,
            limit,
            cursor,
            all,
        } => keys::list(
            &client,
            owner.as_deref(),
            env.as_deref(),
            limit,
            cursor.as_deref(),
            all,
            out,
        ),
        KeysCmd::Show { id } => keys::show(&client, &id, out),
        KeysCmd::Migrate => keys::migrate(&client, out),
        KeysCmd::Revoke { id, reason } => keys::revoke(&client, &id, &reason, out),
        KeysCmd::Rotate { id, grace } => match keys::parse_duration(&grace) {
            Ok(s) => keys::rotate(&client, &id, s, out),
            Err(e) => return fail(&format!("--grace: {e}")),
        },
    };
    match result {
        Ok(()) => OK,
        Err(e) => {
            eprintln!("keyward: error: {e}");
            e.exit_code()
        }
    }
}

/// A PATCH time field: a new time, `null` (`clear`), or unchanged.
#[allow(clippy::option_option)]
fn time_change(
    time: Option<String>,
    clear: bool,
) -> Result<Option<Option<keyward_core::chrono::DateTime<keyward_core::chrono::Utc>>>, String> {
    if clear {
        return Ok(Some(None));
    }
    time.map(|t| {
        keyward_core::time::parse_rfc3339(&t)
            .map(Some)
            .map_err(|e| e.to_string())
    })
    .transpose()
}

fn run_export(format: ExportFormat, since: Option<&str>, until: Option<&str>) -> u8 {
    let client = match Client::from_env() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let now = usage::now();
    let mut query = vec![format!(
        "format={}",
        match format {
            ExportFormat::Json => "json",
            ExportFormat::Ocsf => "ocsf",
        }
    )];
    for (name, value) in [("since", since), ("until", until)] {
        if let Some(v) = value {
            match usage::since(v, now) {
                Ok(t) => query.push(format!("{name}={}", keyward_core::text::percent_encode(&t))),
                Err(e) => return fail(&e.replace("--since", &format!("--{name}"))),
            }
        }
    }
    let path = format!("/v1/audit/export?{}", query.join("&"));
    match client.stream_to(&path, &mut std::io::stdout().lock()) {
        Ok(_) => OK,
        Err(e) => {
            eprintln!("keyward: error: {e}");
            e.exit_code()
        }
    }
}

fn run_usage(args: UsageCli) -> u8 {
    let client = match Client::from_env() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let query = usage::query(
        &usage::UsageArgs {
            key: args.key,
            owner: args.owner,
            since: args.since,
            bucket: Some(match args.bucket {
                BucketArg::Hour => Bucket::Hour,
                BucketArg::Day => Bucket::Day,
            }),
        },
        usage::now(),
    );
    let query = match query {
        Ok(q) => q,
        Err(e) => return fail(&e),
    };
    match usage::usage(&client, &query, Out { json: args.json }) {
        Ok(()) => OK,
        Err(e) => {
            eprintln!("keyward: error: {e}");
            e.exit_code()
        }
    }
}

fn run_scan(args: ScanArgs) -> u8 {
    for v in &args.vendor {
        if !keyward_core::is_valid_prefix(v) {
            return fail(&format!("--vendor '{v}' is not [a-z][a-z0-9]{{0,15}}"));
        }
    }
    let format = if args.json { Format::Json } else { args.format };
    // --revoke needs the Worker: check its configuration before scanning anything.
    let client = if args.revoke {
        match Client::from_env() {
            Ok(c) => Some(c),
            Err(e) => return fail(&format!("--revoke: {e}")),
        }
    } else {
        None
    };
    let opts = Options {
        vendors: if args.vendor.is_empty() {
            VendorFilter::any()
        } else {
            VendorFilter::only(args.vendor.clone())
        },
        keep_keys: args.revoke,
        no_ignore: args.no_ignore,
        threads: args.threads,
    };
    let started = std::time::Instant::now();
    let result = if let Some(repo) = &args.git {
        scan::scan_history(repo, &opts)
    } else if args.staged {
        scan::scan_staged(std::path::Path::new("."), &opts)
    } else if args.paths.len() == 1 && args.paths[0].as_os_str() == "-" {
        scan::scan_stdin(&opts)
    } else if args.paths.is_empty() {
        scan::scan_paths(&[PathBuf::from(".")], &opts)
    } else {
        scan::scan_paths(&args.paths, &opts)
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    for e in &report.errors {
        eprintln!("keyward: warning: {e}");
    }

    let mut revoke_failed = false;
    let leak_report = match (&client, report.findings.is_empty()) {
        (Some(client), false) => match report_leaks(client, &report) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("keyward: error: --revoke: {e}");
                revoke_failed = true;
                None
            }
        },
        _ => None,
    };

    match format {
        Format::Text => crate::out(&output::text(&report)),
        Format::Json => crate::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&output::json(&report, leak_report.as_ref()))
                .unwrap_or_default()
        )),
        Format::Sarif => {
            let repo = match (&args.git, args.staged) {
                (Some(repo), _) => Some(crate::git::provenance(repo)),
                (None, true) => Some(crate::git::provenance(std::path::Path::new("."))),
                (None, false) => None,
            };
            crate::out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&output::sarif(&report, repo.as_ref()))
                    .unwrap_or_default()
            ));
        }
    }
    summary(
        &report,
        args.staged,
        started.elapsed(),
        leak_report.as_ref(),
    );
    skip_summary(&report);

    if revoke_failed {
        USAGE
    } else if !report.findings.is_empty() {
        FOUND_OR_REFUSED
    } else if !report.errors.is_empty() {
        USAGE
    } else {
        OK
    }
}

fn summary(
    report: &Report,
    staged: bool,
    took: std::time::Duration,
    leaks: Option<&Vec<LeakFeedback>>,
) {
    let n = report.findings.len();
    let what = if report.files == 1 { "file" } else { "files" };
    let mib = report.bytes as f64 / (1024.0 * 1024.0);
    if n == 0 {
        eprintln!(
            "keyward: no keys found ({} {what}, {mib:.1} MiB, {:.2} s)",
            report.files,
            took.as_secs_f64()
        );
        return;
    }
    eprintln!(
        "keyward: {n} key{} found ({} {what}, {mib:.1} MiB, {:.2} s)",
        if n == 1 { "" } else { "s" },
        report.files,
        took.as_secs_f64()
    );
    if let Some(items) = leaks {
        for item in items {
            let hint = report
                .findings
                .iter()
                .find(|f| f.hash.to_hex() == item.token_hash)
                .map_or("?", |f| f.hint.as_str());
            let label = match (item.label, item.revocation) {
                (_, Some(Revocation::Queued)) => {
                    "queued for revocation as leaked, within seconds (true_positive)"
                }
                (_, Some(Revocation::AlreadyRevoked)) => "already revoked (true_positive)",
                (_, Some(Revocation::ReplaceRootKey)) => {
                    "the ROOT key: replace it now with keyward init --force (true_positive)"
                }
                (_, Some(Revocation::NotPermitted)) => {
                    "another owner's or environment's key: not revoked by this token (true_positive)"
                }
                (LeakLabel::TruePositive, _) => "revoked as leaked (true_positive)",
                (LeakLabel::FalsePositive, _) => {
                    "not a key of this Worker, nothing revoked (false_positive)"
                }
            };
            eprintln!("keyward: {hint}…: {label}");
        }
    } else if staged {
        eprintln!(
            "keyward: commit blocked. Remove the key from the staged files, revoke it \
             (keyward keys revoke <id>) and commit again."
        );
    } else {
        eprintln!(
            "keyward: revoke them (keyward scan --revoke, or keyward keys revoke <id>) and \
             move keys to a secret manager."
        );
    }
}

/// `n` and the noun, singular or plural.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What was not scanned, and ignored files scanned all the same: one line each, if any.
fn skip_summary(report: &Report) {
    let binary = report.skipped(SkipReason::Binary);
    let files = report.skipped(SkipReason::Ignored);
    let dirs = report.skipped(SkipReason::IgnoredDirectory);
    let mut parts = Vec::new();
    if binary > 0 {
        parts.push(count(binary, "binary", "binaries"));
    }
    if files > 0 {
        parts.push(count(files, "ignored file", "ignored files"));
    }
    if dirs > 0 {
        parts.push(count(dirs, "ignored directory", "ignored directories"));
    }
    if !parts.is_empty() {
        let hint = if files + dirs > 0 {
            " (--no-ignore scans ignored ones; --json lists every path)"
        } else {
            " (--json lists them)"
        };
        eprintln!("keyward: skipped {}{hint}", parts.join(", "));
    }
    let tracked = report
        .ignored_scanned
        .iter()
        .filter(|s| s.reason == ScannedReason::Tracked)
        .count();
    let secret = report.ignored_scanned.len() - tracked;
    if tracked + secret > 0 {
        let mut why = Vec::new();
        if tracked > 0 {
            why.push(format!("{tracked} tracked by git"));
        }
        if secret > 0 {
            why.push(format!("{secret} named as secret files"));
        }
        eprintln!(
            "keyward: scanned {} all the same: {}",
            count(tracked + secret, "ignored file", "ignored files"),
            why.join(", ")
        );
    }
}

/// Sends each distinct key found to `POST /v1/leaks`; the Worker revokes it as leaked.
fn report_leaks(
    client: &Client,
    report: &Report,
) -> Result<Vec<LeakFeedback>, crate::api::ApiError> {
    let mut seen = HashSet::new();
    let distinct: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.key.is_some() && seen.insert(f.hash))
        .collect();
    let mut answers = Vec::new();
    // The Worker takes at most 1000 tokens (and 1 MiB) per report.
    for chunk in distinct.chunks(LEAK_BATCH) {
        // Each token is a SecretString: wiped when the body is dropped.
        let body: Vec<ReportedToken> = chunk
            .iter()
            .filter_map(|f| {
                let key = f.key.as_ref()?;
                Some(ReportedToken {
                    token: SecretString::new(key.expose_secret()),
                    token_type: "keyward_api_key".to_owned(),
                    url: Some(f.url()),
                    source: Some("keyward-cli".to_owned()),
                })
            })
            .collect();
        let feedback: Vec<LeakFeedback> = client.post("/v1/leaks", &body)?;
        answers.extend(feedback);
    }
    Ok(answers)
}

/// Keys per `POST /v1/leaks` request.
const LEAK_BATCH: usize = 500;
