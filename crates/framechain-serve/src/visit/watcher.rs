//! The rooms' clock: every [`CHECK_INTERVAL`] the rooms file is read again
//! if it changed, the key file and the policy are looked at (at most once
//! a second each) and reloaded if they changed, and rooms whose window has
//! closed have their calls ended; on SIGHUP the keys, the policy and the rooms file are read again
//! at once. A file that is not usable keeps what was in force. The rounds
//! and the rooms file's stamp are identity's reload loop, the centre's too
//! (`framechain_identity::{Rounds, WatchedFile}`).

use std::sync::Arc;
use std::time::Duration;

use framechain_identity::Rounds;
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
    let mut rounds = Rounds::new(CHECK_INTERVAL);
    while let Some(round) = rounds.next(&mut shutdown).await {
        let force = round.forced();
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
