//! The open-files limit: 10,000 subscriptions take a socket per connection in the
//! gateway and the load generator, and one per upstream connection of the polls in
//! the gateway and the demo.

use anyhow::{Context as _, bail};

/// Raises the soft open-files limit of this process (and so of the children it
/// starts afterwards) to at least `needed`, within the hard limit; says what it did.
pub fn raise_open_files(needed: u64) -> anyhow::Result<String> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let show = |limit: Option<u64>| limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    if current.is_none_or(|soft| soft >= needed) {
        return Ok(format!(
            "The open-files limit (`RLIMIT_NOFILE`) was {} (hard {}), enough for the about {needed} the scenario \
             needs: left as it was.",
            show(current),
            show(maximum)
        ));
    }
    if let Some(hard) = maximum.filter(|&hard| hard < needed) {
        bail!(
            "the scenario needs about {needed} open files and the hard limit is {hard}: raise it (`ulimit -Hn`, \
             as root) or lower BENCH_SUBS_CONNECTIONS / BENCH_SUBS_PER_CONNECTION"
        );
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(needed),
            maximum,
        },
    )
    .with_context(|| format!("raising the open-files limit to {needed}"))?;
    Ok(format!(
        "The benchmark raised its open-files limit (`RLIMIT_NOFILE`, soft) from {} to {needed} (hard {}) with \
         `setrlimit` before starting the demo and the gateway, which inherit it.",
        show(current),
        show(maximum)
    ))
}
