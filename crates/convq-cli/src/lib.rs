//! The errors the `convq` command line reports before any input runs, with their stable codes.
//! The command line itself is the `convq` binary (`src/main.rs`); these types live in a library
//! so that `cargo xtask docs` can list their codes in `docs/reference/errors.md`.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why `--options` cannot be used (`query`, `get`, `serve`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// Not valid options JSON, or options that cannot compile (a bad base URL).
    #[error("--options is not valid: {0}")]
    Invalid(String),
    /// The `--options` file cannot be read.
    #[error("cannot read the --options file {}: {error}", path.display())]
    File {
        /// The file as given.
        path: PathBuf,
        /// Why it cannot be read (in the message, not a `source`: the message is printed alone).
        error: std::io::Error,
    },
}

convq_core::error_codes! {
    /// The codes of [`OptionsError`], with what each means; `docs/reference/errors.md` lists
    /// them under "Starting convq".
    pub static OPTIONS_ERROR_CODES: [(&'static str, &'static str)] for OptionsError {
        Self::Invalid(_) => ("invalid_options", "`--options` is not valid options JSON, or its base URL is not usable."),
        Self::File { .. } => ("options_file_unreadable", "The `--options` file cannot be read; the message names it."),
    }
}

/// Why `convq serve` cannot start with its flags (an unusable `--data` or Dataverse setting
/// reports the backend's own code; failing to listen, [`convq_http::ServeError`]'s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A held credential or a data file on a non-loopback address with no caller checks.
    #[error(
        "refusing to serve {what} on {addr}, which other machines can reach, to anyone who \
         connects: add --api-keys FILE or --entra-tenant TENANT-ID --entra-audience AUDIENCE \
         --entra-roles ROLE (or --allow-anonymous to serve it openly on purpose)"
    )]
    Unprotected {
        /// The listen address.
        addr: SocketAddr,
        /// What would be exposed.
        what: &'static str,
    },
    /// `--api-keys` or `--entra-*` cannot be used.
    #[error(transparent)]
    Access(#[from] convq_http::AccessError),
    /// `--cors-origin` is not a header value.
    #[error("--cors-origin {0:?} is not a valid origin")]
    CorsOrigin(String),
    /// `--options` cannot be used.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// `--stream-delta` with `--auth passthrough`.
    #[error(
        "--stream-delta needs the service's own identity: a change-tracking feed is the whole \
         table, which callers' own tokens cannot share; drop --stream-delta or --auth passthrough"
    )]
    DeltaPassthrough,
}

convq_core::error_codes! {
    /// The codes of [`StartError`] that are its own (bad `--options` report
    /// [`OPTIONS_ERROR_CODES`]), with what each means; `docs/reference/errors.md` lists them.
    pub static START_ERROR_CODES: [(&'static str, &'static str)] for StartError {
        Self::Unprotected { .. } => ("unprotected_service", "A held credential or a `--data` file on a non-loopback address without `--api-keys` or `--entra-*` (add one, or `--allow-anonymous`)."),
        Self::Access(_) => ("invalid_access_settings", "`--api-keys` or `--entra-*` cannot be used (an unreadable key file or a bad line, Entra settings that cannot work); the message says which."),
        Self::CorsOrigin(_) => ("invalid_cors_origin", "A `--cors-origin` is not an `http(s)://host` origin."),
        Self::DeltaPassthrough => ("stream_delta_passthrough", "`--stream-delta` with `--auth passthrough`: delta mode needs the service's own identity."),
    }
    else Self::Options(error) => error.code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_start_error_code_is_listed() {
        let errors = [
            StartError::Unprotected {
                addr: SocketAddr::from(([0, 0, 0, 0], 1)),
                what: "x",
            },
            StartError::Access(convq_http::AccessError::Entra(String::new())),
            StartError::CorsOrigin(String::new()),
            StartError::DeltaPassthrough,
        ];
        let codes: Vec<&str> = errors.iter().map(StartError::code).collect();
        let listed: Vec<&str> = START_ERROR_CODES.iter().map(|(code, _)| *code).collect();
        assert_eq!(codes, listed);
        let options = [
            OptionsError::Invalid(String::new()),
            OptionsError::File {
                path: PathBuf::new(),
                error: std::io::Error::other("x"),
            },
        ];
        let codes: Vec<&str> = options
            .into_iter()
            .map(|error| StartError::from(error).code())
            .collect();
        let listed: Vec<&str> = OPTIONS_ERROR_CODES.iter().map(|(code, _)| *code).collect();
        assert_eq!(codes, listed);
    }
}
