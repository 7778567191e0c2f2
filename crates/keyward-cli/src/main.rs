//! The `keyward` binary.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    keyward_cli::cli::main()
}
