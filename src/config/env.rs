//! Configuration from `GATEWAY_*` environment variables, tolerant of variables that
//! share the prefix but are not meant for the gateway.
//!
//! Kubernetes gives every pod variables for each Service of its namespace: for a
//! Service named `gateway`, `GATEWAY_PORT`, `GATEWAY_SERVICE_HOST`,
//! `GATEWAY_PORT_4000_TCP_ADDR`, ... They name no configuration key. A variable
//! *names a key* when its name after the prefix, `__` separating the levels
//! (`GATEWAY_AUTH__JWT_SECRET` is `auth.jwt_secret`), is a field that the
//! configuration has; the others are set aside and reported by name only (their values
//! may be secrets). A bad value for a key that exists stays an error, and so does an
//! unknown key in a TOML file: this module only reads the environment.
//!
//! It builds the provider from a given list of variables, so tests never touch the
//! process environment.

use figment::{
    Error, Figment, Metadata, Profile, Provider,
    providers::Serialized,
    value::{Dict, Map, Value},
};
use serde::{Serialize, de::DeserializeOwned};

/// The separator of levels in a variable's name.
const SEPARATOR: &str = "__";

/// `GATEWAY_*` variables that name configuration keys: a figment provider.
#[derive(Debug, Clone, Default)]
pub(super) struct EnvVars {
    prefix: String,
    vars: Vec<Var>,
}

/// One variable: its name, the key path it names, its value as figment parses it.
#[derive(Debug, Clone)]
struct Var {
    name: String,
    path: Vec<String>,
    value: String,
}

impl EnvVars {
    /// Splits `vars` into those with `prefix` that name a key of `T` (a provider)
    /// and the names of those with `prefix` that do not, sorted. Variables without
    /// the prefix are left out.
    pub(super) fn split<T>(prefix: &str, vars: impl IntoIterator<Item = (String, String)>) -> (EnvVars, Vec<String>)
    where
        T: Default + Serialize + DeserializeOwned,
    {
        let mut known = EnvVars {
            prefix: prefix.to_owned(),
            vars: Vec::new(),
        };
        let mut ignored = Vec::new();
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(prefix) else {
                continue;
            };
            let path: Vec<String> = rest
                .trim()
                .split(SEPARATOR)
                .map(|s| s.trim().to_ascii_lowercase())
                .collect();
            let var = Var { name, path, value };
            if var.path.iter().any(String::is_empty) || !names_a_key::<T>(prefix, &var) {
                ignored.push(var.name);
            } else {
                known.vars.push(var);
            }
        }
        ignored.sort();
        ignored.dedup();
        (known, ignored)
    }
}

/// Whether `var` names a field of `T`: reading the defaults with `var` on top fails
/// with "unknown field" only when the unknown field lies on the variable's own path
/// (an unknown field inside its value, as in `GATEWAY_UPSTREAMS__RETRY={x=1}`, is a
/// bad value for a key that exists).
fn names_a_key<T>(prefix: &str, var: &Var) -> bool
where
    T: Default + Serialize + DeserializeOwned,
{
    let one = EnvVars {
        prefix: prefix.to_owned(),
        vars: vec![var.clone()],
    };
    match super::extract::<T>(&Figment::from(Serialized::defaults(T::default())).merge(one)) {
        Ok(_) => true,
        Err(error) => !error.unknown_field_within(&var.path),
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        let prefix = self.prefix.clone();
        Metadata::named(format!("`{prefix}` environment variable(s)")).interpolater(
            move |_: &Profile, keys: &[&str]| {
                let keys: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
                format!("{prefix}{}", keys.join(SEPARATOR))
            },
        )
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut dict = Dict::new();
        for var in &self.vars {
            let value: Value = match var.value.parse() {
                Ok(value) => value,
                Err(never) => match never {},
            };
            insert(&mut dict, &var.path, value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Puts `value` at `path` in `dict`, creating the dictionaries on the way (a later
/// variable wins over an earlier one for the same key).
fn insert(dict: &mut Dict, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut dict = dict;
    for key in parents {
        let entry = dict.entry(key.clone()).or_insert_with(|| Value::from(Dict::new()));
        if !matches!(entry, Value::Dict(..)) {
            *entry = Value::from(Dict::new());
        }
        match entry {
            Value::Dict(_, inner) => dict = inner,
            _ => return,
        }
    }
    dict.insert(last.clone(), value);
}
