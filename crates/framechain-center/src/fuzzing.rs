//! Entry points for the fuzz targets (`fuzz/`): the centre's own checks of
//! what pods send, without Redis or PostgreSQL. Not a stable API.

use framechain_events::chain::link_hash;

use crate::ingest::entry::{self, MAX_BODY_BYTES, StreamEntry};

/// Runs the ingest's check of one stream entry, as the consumer does for
/// every entry it reads, and holds what it made to the promises of
/// `audit_events` and `audit_rejects`: a row is an event whose body is
/// within the bound, whose id is the body's and whose hash links `prev`
/// and the body; a reject has a reason of one printable line and an entry
/// text without NUL, both within their bounds. Returns whether the entry
/// became a row; panics on a broken promise.
pub fn ingest_entry(entry: &StreamEntry) -> bool {
    match entry::check(entry) {
        Ok(row) => {
            assert!(row.body.len() <= MAX_BODY_BYTES);
            assert_eq!(link_hash(&row.prev_hash, &row.body), row.hash);
            let event = framechain_events::Event::parse(&row.body).expect("a row's body parses");
            assert_eq!(event.id, row.id);
            assert_eq!(event.what.name(), row.kind);
            for name in [Some(&row.pod), row.room.as_ref(), row.participant.as_ref()]
                .into_iter()
                .flatten()
            {
                assert!(name.len() <= 1024 && !name.contains('\0'), "{name:?}");
            }
            assert!(u64::try_from(row.seq).is_ok());
            true
        }
        Err(reject) => {
            for (text, bound) in [(&reject.reason, 300), (&reject.stream_id, 64)] {
                assert!(
                    !text.chars().any(char::is_control),
                    "not one printable line: {text:?}"
                );
                // The cut adds a marker of how much was left out.
                assert!(text.chars().count() <= bound + 32, "{text:?}");
            }
            assert!(!reject.reason.is_empty());
            assert!(!reject.entry.contains('\0'));
            assert!(reject.entry.chars().count() <= 4096 + 32);
            false
        }
    }
}
