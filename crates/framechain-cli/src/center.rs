//! `framechain center`: the options are the centre crate's
//! (`framechain_center::CenterArgs`); this runs it until SIGINT or SIGTERM.

/// Runs the centre with `args`.
pub fn run(args: &framechain_center::CenterArgs) -> Result<(), String> {
    framechain_center::run(args.settings()).map_err(|error| error.to_string())
}
