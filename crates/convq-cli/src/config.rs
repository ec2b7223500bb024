//! `convq serve`'s settings beyond the command line, as container platforms expect them: every
//! flag also reads a `CONVQ_*` environment variable (clap's `env`), `PORT` sets the port, and
//! `--config FILE` reads the same names from a TOML file.
//!
//! Precedence: a flag, then its variable (then `PORT` for the address), then the file, then the
//! default. clap applies the first two; the file's values are appended to the command line for
//! the settings clap found neither for, and the command line is parsed again, so a value from
//! the file goes through the same parser and checks as the flag.

use std::ffi::OsString;

use clap::parser::ValueSource;

/// The environment variable of a flag: `--request-timeout` reads `CONVQ_REQUEST_TIMEOUT`.
pub(crate) fn env_name(long: &str) -> String {
    format!("CONVQ_{}", long.to_ascii_uppercase().replace('-', "_"))
}

/// Gives a `serve` flag its environment variable (applied to every argument of the command).
pub(crate) fn with_env(arg: clap::Arg) -> clap::Arg {
    let Some(name) = arg.get_long().map(env_name) else {
        return arg;
    };
    // A repeatable flag's variable holds a comma-separated list (CONVQ_CORS_ORIGIN=a,b).
    if matches!(arg.get_action(), clap::ArgAction::Append) && arg.get_value_delimiter().is_none() {
        arg.env(name).value_delimiter(',')
    } else {
        arg.env(name)
    }
}

/// The command line to parse again for `serve` (`args` plus the settings that come from `PORT`
/// or the `--config` file), or `None` when nothing comes from either.
///
/// # Errors
/// The config file cannot be read, is not TOML, names no flag of `serve`, or holds a value that
/// no flag takes (a table); `PORT` is not a port number.
pub(crate) fn serve_args(
    command: &clap::Command,
    matches: &clap::ArgMatches,
    args: &[OsString],
) -> Result<Option<Vec<OsString>>, String> {
    let given = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let mut extra: Vec<OsString> = Vec::new();
    // Cloud Run, Heroku, App Service and others say which port to listen on in PORT, and
    // expect every interface: the platform's proxy is the only way in.
    let port_sets_addr = !given("addr") && std::env::var_os("PORT").is_some_and(|p| !p.is_empty());
    if port_sets_addr {
        let port = std::env::var("PORT").unwrap_or_default();
        let port: u16 = port
            .trim()
            .parse()
            .map_err(|_| format!("PORT={port:?} is not a port number (0 to 65535)"))?;
        extra.push(format!("--addr=0.0.0.0:{port}").into());
    }
    if let Some(path) = matches.get_one::<std::path::PathBuf>("config") {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read the config file {}: {error}", path.display()))?;
        let table: toml::Table = toml::from_str(&text).map_err(|error| {
            format!(
                "the config file {} is not valid TOML: {error}",
                path.display()
            )
        })?;
        for (key, value) in &table {
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_long() == Some(key.as_str()) && key != "config")
                .ok_or_else(|| unknown_key(command, path, key))?;
            let id = arg.get_id().as_str();
            if given(id) || (id == "addr" && port_sets_addr) {
                continue;
            }
            let flag = format!("--{key}");
            let values = match value {
                toml::Value::Array(items) => items.iter().collect(),
                single => vec![single],
            };
            for value in values {
                let text = match value {
                    toml::Value::String(text) => text.clone(),
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::Float(x) => x.to_string(),
                    toml::Value::Boolean(on) if arg.get_action().takes_values() => on.to_string(),
                    // A switch (`allow-anonymous = true`): present or not.
                    toml::Value::Boolean(true) => {
                        extra.push(flag.clone().into());
                        continue;
                    }
                    toml::Value::Boolean(false) => continue,
                    other => {
                        return Err(format!(
                            "{key} in the config file {} is a {}; give a string, number or \
                             boolean as for --{key}",
                            path.display(),
                            other.type_str()
                        ));
                    }
                };
                extra.push(format!("{flag}={text}").into());
            }
        }
    }
    if extra.is_empty() {
        return Ok(None);
    }
    // `serve` takes no positional argument, so the appended flags are read as its own.
    Ok(Some(args.iter().cloned().chain(extra).collect()))
}

fn unknown_key(command: &clap::Command, path: &std::path::Path, key: &str) -> String {
    let names = command
        .get_arguments()
        .filter_map(clap::Arg::get_long)
        .filter(|long| *long != "config");
    let closest = names
        .map(|name| (strsim::jaro_winkler(key, name), name))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let hint = closest.map_or_else(String::new, |(_, name)| format!(" (did you mean {name}?)"));
    format!(
        "{key} in the config file {} is not a setting of convq serve{hint}; the settings are the \
         flags' names without -- (convq serve --help)",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_names() {
        assert_eq!(super::env_name("addr"), "CONVQ_ADDR");
        assert_eq!(
            super::env_name("dataverse-max-page-bytes"),
            "CONVQ_DATAVERSE_MAX_PAGE_BYTES"
        );
    }
}
