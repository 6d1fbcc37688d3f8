//! Time stamps, keyframe flags and drop accounting per access unit.
//!
//! OpenH264 hands every picture back with the token it was given with the
//! picture's first slice; we use the access-unit id as that token, so the
//! decoder's reordering carries each picture's own record to the output.
//!
//! Time stamps: an access unit takes the pts of the packet it started in
//! when that packet carried one (>= 0) and no earlier access unit took it.
//! Pictures without one are numbered on from the previous output picture,
//! one frame duration apart, so a stream without time stamps comes out as
//! 0, d, 2d, ... in display order.
//!
//! Accounting: every access unit with slice data either comes out as a
//! picture or is reported dropped, with the most telling problem the decoder
//! reported for it; a picture still missing when `window` newer access units
//! have started (far beyond any reorder depth) is given up on.

use std::collections::BTreeMap;

/// What an output picture gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub pts: i64,
    pub duration: i64,
    pub keyframe: bool,
}

/// An access unit that produced no picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    /// Its pts, or -1 when its packet had none.
    pub pts: i64,
    pub reason: String,
}

#[derive(Debug, Default)]
struct Record {
    pts: Option<i64>,
    keyframe: bool,
    vcl: bool,
    problem: Option<&'static str>,
}

pub struct Timeline {
    records: BTreeMap<u64, Record>,
    duration: i64,
    window: u64,
    last_pts: Option<i64>,
    /// The last packet whose pts an access unit took.
    last_packet_used: Option<u64>,
}

impl Timeline {
    pub fn new(duration: i64, window: u64) -> Self {
        Self {
            records: BTreeMap::new(),
            duration,
            window,
            last_pts: None,
            last_packet_used: None,
        }
    }

    /// A new access unit `au` starts in `packet`, whose pts is `pts`.
    /// Returns the access units given up on.
    pub fn begin(&mut self, au: u64, packet: u64, pts: i64) -> Vec<Lost> {
        let fresh = pts >= 0 && self.last_packet_used != Some(packet);
        if fresh {
            self.last_packet_used = Some(packet);
        }
        self.records.insert(
            au,
            Record {
                pts: fresh.then_some(pts),
                ..Record::default()
            },
        );
        let cutoff = au.saturating_sub(self.window);
        let old: Vec<u64> = self.records.range(..cutoff).map(|(id, _)| *id).collect();
        old.into_iter()
            .filter_map(|id| self.give_up(id, "no picture decoded"))
            .collect()
    }

    /// The access unit carries slice data (of an IDR picture: `idr`).
    pub fn note_slice(&mut self, au: u64, idr: bool) {
        if let Some(r) = self.records.get_mut(&au) {
            r.vcl = true;
            r.keyframe |= idr;
        }
    }

    /// The decoder reported a problem while decoding the access unit. The
    /// first one is kept: later ones are usually its consequences.
    pub fn note_problem(&mut self, au: u64, problem: &'static str) {
        if let Some(r) = self.records.get_mut(&au) {
            r.problem.get_or_insert(problem);
        }
    }

    /// The access unit will not be decoded (its slices were refused): it
    /// is lost now, with `reason`, if it was still waiting.
    pub fn refuse(&mut self, au: u64, reason: &str) -> Option<Lost> {
        let r = self.records.remove(&au)?;
        Some(Lost {
            pts: r.pts.unwrap_or(-1),
            reason: reason.to_owned(),
        })
    }

    /// A picture came out with `token`: its timing.
    pub fn picture(&mut self, token: u64) -> Timing {
        let record = self.records.remove(&token);
        let keyframe = record.as_ref().is_some_and(|r| r.keyframe);
        let pts = match record.and_then(|r| r.pts) {
            Some(pts) => pts,
            None => self.last_pts.map_or(0, |p| p + self.duration),
        };
        self.last_pts = Some(pts);
        Timing {
            pts,
            duration: self.duration,
            keyframe,
        }
    }

    /// End of stream: every access unit still waiting is lost.
    pub fn finish(&mut self) -> Vec<Lost> {
        let ids: Vec<u64> = self.records.keys().copied().collect();
        let lost = ids
            .into_iter()
            .filter_map(|id| self.give_up(id, "no picture decoded"))
            .collect();
        self.last_packet_used = None;
        lost
    }

    fn give_up(&mut self, id: u64, default_reason: &str) -> Option<Lost> {
        let r = self.records.remove(&id)?;
        // Units with no slices (parameter sets alone) never make a picture.
        r.vcl.then(|| Lost {
            pts: r.pts.unwrap_or(-1),
            reason: r.problem.unwrap_or(default_reason).to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pts_from_packets_follow_their_pictures_through_reordering() {
        let mut t = Timeline::new(3000, 32);
        for (au, pts) in [(1, 0), (2, 9000), (3, 3000), (4, 6000)] {
            assert!(t.begin(au, au, pts).is_empty());
            t.note_slice(au, au == 1);
        }
        // Display order I B B P: 1, 3, 4, 2.
        let out: Vec<Timing> = [1, 3, 4, 2].iter().map(|tok| t.picture(*tok)).collect();
        assert_eq!(
            out.iter().map(|t| t.pts).collect::<Vec<_>>(),
            vec![0, 3000, 6000, 9000]
        );
        assert!(out[0].keyframe && !out[1].keyframe);
        assert!(t.finish().is_empty());
    }

    #[test]
    fn pictures_without_pts_are_numbered_in_display_order() {
        let mut t = Timeline::new(3000, 32);
        for au in 1..=4 {
            t.begin(au, au, -1);
            t.note_slice(au, false);
        }
        let pts: Vec<i64> = [1, 3, 4, 2].iter().map(|tok| t.picture(*tok).pts).collect();
        assert_eq!(pts, vec![0, 3000, 6000, 9000]);
    }

    #[test]
    fn a_packet_pts_goes_to_the_first_au_starting_in_it_only() {
        let mut t = Timeline::new(3000, 32);
        t.begin(1, 0, 1000);
        t.begin(2, 0, 1000); // same packet: no pts of its own
        t.note_slice(1, true);
        t.note_slice(2, false);
        assert_eq!(t.picture(1).pts, 1000);
        assert_eq!(t.picture(2).pts, 4000);
    }

    #[test]
    fn missing_pictures_are_reported_with_the_decoder_problem() {
        let mut t = Timeline::new(3000, 2);
        t.begin(1, 0, 0);
        t.note_slice(1, true);
        t.begin(2, 1, 3000);
        t.note_slice(2, false);
        t.note_problem(2, "missing reference");
        t.note_problem(2, "corrupt slice");
        assert_eq!(t.picture(1).pts, 0);
        t.begin(3, 2, 6000); // parameter sets only: never reported
        assert!(t.begin(4, 3, 9000).is_empty());
        // AU 2 falls out of the window of 2 when AU 5 starts.
        assert_eq!(
            t.begin(5, 4, 12000),
            vec![Lost {
                pts: 3000,
                reason: "missing reference".into()
            }]
        );
        t.note_slice(5, false);
        assert_eq!(
            t.finish(),
            vec![Lost {
                pts: 12000,
                reason: "no picture decoded".into()
            }]
        );
    }

    #[test]
    fn unknown_tokens_still_get_a_time() {
        let mut t = Timeline::new(3000, 8);
        assert_eq!(
            t.picture(77),
            Timing {
                pts: 0,
                duration: 3000,
                keyframe: false
            }
        );
        assert_eq!(t.picture(78).pts, 3000);
    }
}
