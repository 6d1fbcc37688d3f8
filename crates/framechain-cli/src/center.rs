//! `framechain center`: the options are the centre crate's
//! (`framechain_center::CenterArgs`); this runs it until SIGINT or SIGTERM.

/// Runs the centre with `args`, or with `--migrate-only` applies the
/// schema's migrations and exits.
pub fn run(args: &framechain_center::CenterArgs) -> Result<(), String> {
    if args.migrate_only {
        let applied =
            framechain_center::migrate_only(&args.postgres).map_err(|error| error.to_string())?;
        println!("migrations applied: {applied}; the schema is current");
        return Ok(());
    }
    framechain_center::run(args.settings()).map_err(|error| error.to_string())
}
