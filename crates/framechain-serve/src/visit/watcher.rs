//! The rooms' clock: every [`CHECK_INTERVAL`] the rooms file is read again
//! if it changed, the key file and the policy are looked at (at most once
//! a second each) and reloaded if they changed, and rooms whose window has
//! closed have their calls ended; on SIGHUP the keys, the policy and the rooms file are read again
//! at once. A file that is not usable keeps what was in force.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::registry::EndCalls;
use super::{Visits, now_unix};
use crate::call::driver::Command;

/// How often the rooms file and the windows are looked at.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Runs until `shutdown` turns true.
pub(crate) async fn run(
    visits: Arc<Visits>,
    commands: mpsc::Sender<Command>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let force = tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => false,
            Some(()) = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        let reload = {
            let visits = visits.clone();
            // Reading the file builds pipelines: not on the network threads.
            tokio::task::spawn_blocking(move || {
                if force {
                    log::info!("SIGHUP: reading the keys, the policy and the rooms file again");
                    let _ = visits.verifier.reload();
                    let _ = visits.policy.reload();
                } else {
                    // A changed file is reloaded (and its reload recorded)
                    // now, not at the next request.
                    visits.verifier.refresh();
                    visits.policy.refresh();
                }
                visits.reload_rooms_file(force).unwrap_or_default()
            })
            .await
            .unwrap_or_default()
        };
        let closed = visits.registry.close_windows(now_unix());
        for end in reload.into_iter().chain(closed) {
            if !send(&commands, end).await {
                return;
            }
        }
    }
}

async fn send(commands: &mpsc::Sender<Command>, end: EndCalls) -> bool {
    log::info!("room {}: ending calls: {}", end.room, end.reason);
    commands
        .send(Command::EndRoom {
            room: end.room,
            participants: end.participants,
            reason: end.reason,
        })
        .await
        .is_ok()
}
