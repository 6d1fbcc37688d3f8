//! Streams added and removed while calls run (`core/streams.rs`).

use super::*;
use crate::call::core::NotAdmitted;

fn finishes(world: &World) -> usize {
    world
        .actions
        .iter()
        .filter(|(_, session, action)| {
            *session == SESSION && matches!(action, SessionAction::Finish)
        })
        .count()
}

#[test]
fn removing_a_stream_ends_its_publisher_and_viewers_at_once() {
    let mut world = World::new(true);
    world.join(Role::Publish);
    let viewer = world.join(Role::View);
    world.connect();
    world.session_output(true, 0);
    world.advance(Duration::from_millis(50));
    assert_eq!(world.clients[viewer].received.len(), 1);
    assert_eq!(world.core.stream_calls(STREAM), 2);

    world.core.handle_input(
        world.now,
        Input::RemoveStream {
            name: STREAM.to_owned(),
            reason: "room deleted",
        },
    );
    world.pump();
    assert_eq!(world.core.calls(), 0, "publisher and viewer ended at once");
    assert_eq!(finishes(&world), 1, "the session is told to finish");
    let text = world.metrics.encode();
    assert!(
        text.contains("framechain_sessions_ended_total{reason=\"room deleted\"} 2"),
        "{text}"
    );
    assert_eq!(world.metric("viewers"), Some(0.0));
    // Nobody may join while it is gone.
    assert_eq!(
        world.core.admit(STREAM, Role::View, None),
        Err(NotAdmitted::UnknownStream)
    );
    assert!(world.core.room_streams("room").is_empty());

    // The flushing session's end still reaches the driver, and the
    // stream is gone for good.
    world.core.handle_input(
        world.now,
        Input::Live {
            session: SESSION,
            event: LiveEvent::Ended(Box::default()),
        },
    );
    world.pump();
    assert!(
        world
            .other
            .iter()
            .any(|output| matches!(output, Output::SessionEnded(SESSION)))
    );
    assert!(!world.core.has_stream(STREAM));

    // Added again (the room came back): it takes calls again.
    world
        .core
        .handle_input(world.now, Input::AddStream(STREAM.to_owned()));
    assert!(world.core.admit(STREAM, Role::Publish, None).is_ok());
}

#[test]
fn a_rooms_streams_are_its_participants_only() {
    let mut world = World::new(true);
    for name in ["visit1/p-1", "visit1/d-1", "visit10/p-2", "visit1/p-1"] {
        world
            .core
            .handle_input(world.now, Input::AddStream(name.to_owned()));
    }
    let mut streams = world.core.room_streams("visit1");
    streams.sort();
    assert_eq!(streams, ["visit1/d-1", "visit1/p-1"]);
    world.core.handle_input(
        world.now,
        Input::RemoveStream {
            name: "visit1/d-1".to_owned(),
            reason: "room deleted",
        },
    );
    assert_eq!(world.core.room_streams("visit1"), ["visit1/p-1"]);
    assert!(world.core.admit("visit10/p-2", Role::Publish, None).is_ok());
    // Removing an unknown stream is nothing.
    world.core.handle_input(
        world.now,
        Input::RemoveStream {
            name: "nope/x".to_owned(),
            reason: "room deleted",
        },
    );
    assert_eq!(world.core.calls(), 0);
}
