//! Fair shares: each live session's use of the workers, measured as it
//! runs, against what it may use; and the steps that hold a session that
//! keeps taking more (skip its pictures, ask its sender to slow down, shed
//! it).
//!
//! Admission judges a session once, at the cost its pipeline had then. A
//! publisher can change what it sends afterwards: valid 4096x2304 pictures,
//! every one an IDR, cost about 70 ms each, and keyframes are never skipped
//! as late. Two such sessions on a 2-worker node held both workers and the
//! healthy calls beside them lost pictures. So the runtime keeps measuring:
//! the time each picture held its worker, summed over a window, against
//! the session's share. Worker time rather than CPU time: the worker is
//! what the other sessions wait for, and on a loaded node a dear picture
//! holds it for longer than its CPU time (judging by CPU time alone was
//! tried: on the loaded test node, senders of dear pictures then held both
//! workers for a second and more). What a session wants is the pictures
//! that arrived for it, at its time per picture run: run, late, skipped or
//! still waiting, each picture its sender sent counts once. Arrivals count
//! at the session's frame rate, not all at once: pictures held back by
//! network jitter and delivered together (a burst), or a stream handed
//! over whole, are the same demand spread over the time they stand for, so
//! a healthy call's burst is not judged a trend. Only what goes on arriving
//! faster than that rate for longer than [`BURST_SPAN`] counts at once. The
//! policy here is pure (time is passed in), so it is tested without sleeps;
//! the session and admission code feed it.

use std::time::{Duration, Instant};

/// How the live runtime holds each session to its share of the workers
/// ([`super::LiveConfig::fair_share`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FairShare {
    /// The window over which a session's use is measured (1 s: long
    /// enough that one dear keyframe does not count as a trend, short
    /// enough that a hostile sender holds the workers for one window).
    /// A session's first window is a quarter of it, with its first
    /// picture (a fresh decoder's first IDR, several times a steady one)
    /// left out; and a window ends early once the session has spent more
    /// than its share of the whole window: a hostile sender is judged
    /// after a few of its pictures, not a second of them.
    pub window: Duration,
    /// A session's share is at least what admission admitted it at (its
    /// pipeline's cost then times its frame rate) times this (2: a scene
    /// change or a keyframe burst of a healthy call stays within it), as
    /// far as room that no session was admitted at holds the margin.
    /// Besides, every session may use the workers' max-min fair level
    /// (what the others leave; never less than `workers / sessions`).
    pub margin: f64,
    /// Windows a session may go on exceeding its share after it was
    /// throttled (its pictures skipped, its sender asked to slow down)
    /// before it is shed (3: with a 1 s window, a sender has about three
    /// seconds to react to the request).
    pub shed_after: u32,
}

impl Default for FairShare {
    fn default() -> Self {
        FairShare {
            window: Duration::from_secs(1),
            margin: 2.0,
            shed_after: 3,
        }
    }
}

impl FairShare {
    /// The share of a session admitted at `admitted` busy workers, where
    /// the workers' fair level is `level` ([`fair_level`]) and admission
    /// left `unclaimed` busy workers within its load limit that no
    /// session was admitted at: the larger of the level and what it was
    /// admitted at, plus the margin over that as far as the unclaimed room
    /// holds it. Sessions opened past admission claim more than the
    /// workers, and then none has a margin: four all-IDR 4096x2304
    /// publishers admitted at a healthy 1080p call's 0.92 of a worker
    /// each could otherwise each use 1.84 before they were over, and were
    /// never held.
    pub(crate) fn share(&self, level: f64, admitted: f64, unclaimed: f64) -> f64 {
        let margin = (admitted * (self.margin - 1.0)).min(unclaimed).max(0.0);
        level.max(admitted + margin)
    }
}

/// The max-min fair level of `capacity` busy workers among sessions that
/// want `demands` (each in busy workers; `f64::INFINITY` for one whose
/// demand is not to count): every session may use up to the level, and
/// what the sessions wanting less than it leave goes to those wanting
/// more. It is never below the equal part `capacity / sessions`, and with
/// room for every demand it is `capacity` (no session is held).
///
/// An equal part alone held a healthy call beside hostile publishers whose
/// pictures the pipeline refuses at once: they cost next to nothing, yet
/// each took a part, and the healthy call, needing 0.79 of a worker, was
/// judged over its share of 2/3 and then 2/5 and shed.
pub(crate) fn fair_level(capacity: f64, demands: &mut [f64]) -> f64 {
    if demands.is_empty() {
        return capacity;
    }
    demands.sort_by(f64::total_cmp);
    let mut left = capacity;
    for (index, &demand) in demands.iter().enumerate() {
        let part = left / (demands.len() - index) as f64;
        if demand > part {
            return part;
        }
        left -= demand.max(0.0);
    }
    capacity
}

/// How far past its share a session within it must go to be throttled.
const OVER_BY: f64 = 1.25;

/// A session's first window is this part of [`FairShare::window`].
const FIRST_WINDOW_PART: u32 = 4;

/// Arrivals beyond a session's frame rate are carried into later windows
/// (counted at that rate) up to this much of its pictures; past it they
/// count at once. A jitter buffer releases what it held for a few hundred
/// milliseconds at once; a sender that keeps sending faster than its rate
/// fills this within a second and is counted in full from then on.
pub(crate) const BURST_SPAN: Duration = Duration::from_secs(1);

/// What a window's end changed for a session.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    /// It wanted more than its share (by a quarter): from now on its
    /// pictures run only within its share, the rest are skipped; its
    /// sender should slow down.
    Throttled {
        /// Busy workers it would have used over the window (1.0 = one
        /// worker): the pictures that arrived for it (at its frame rate,
        /// see [`BURST_SPAN`]) at the average time of those run.
        used: f64,
        /// Its share, in the same unit.
        share: f64,
    },
    /// Throttled, it still had more pictures than its share lets run.
    StillOver {
        /// Busy workers it would have used over the window, as in
        /// [`Step::Throttled`].
        used: f64,
        /// Its share.
        share: f64,
        /// Pictures skipped in the window.
        skipped: u64,
    },
    /// Throttled, it had no picture skipped for a whole window: back to
    /// normal.
    Recovered,
    /// It exceeded its share for [`FairShare::shed_after`] windows after
    /// it was throttled: end it.
    Shed {
        /// Busy workers it would have used over the last window, as in
        /// [`Step::StillOver`].
        used: f64,
        /// Its share.
        share: f64,
        /// How long it has been over its share.
        over_for: Duration,
    },
}

/// Where a session stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    /// Within its share: nothing is held back.
    Within,
    /// Over its share: its pictures run only within it.
    Throttled,
}

/// One session's use of the workers and its standing.
#[derive(Debug)]
pub(crate) struct ShareMeter {
    state: State,
    window_start: Instant,
    /// A window has ended (the first one is shorter).
    judged: bool,
    /// The first picture was seen (and left out of the measure).
    warm: bool,
    /// Worker time of the pictures run in this window.
    held: Duration,
    /// Pictures run in this window.
    ran: u64,
    /// Pictures skipped in this window.
    skipped: u64,
    /// Pictures dropped as late in this window.
    late: u64,
    /// Its frame rate: arrivals count at this pace (see [`BURST_SPAN`]).
    fps: f64,
    /// Pictures that arrived in this window, not counted yet.
    arrived: u64,
    /// Pictures that arrived faster than its frame rate, counted in later
    /// windows at that rate (at most [`BURST_SPAN`] of them).
    carried: f64,
    /// Windows that ended with pictures skipped or late while throttled,
    /// since the session was last clearly within its share: a sender that
    /// backs off for a window and comes back is not let off.
    strikes: u32,
    /// Windows in a row within its share; [`FairShare::shed_after`] of
    /// them clear the strikes.
    clean: u32,
    /// When the strikes began.
    over_since: Option<Instant>,
    /// Worker seconds per picture run, from the last window that ran any:
    /// what a picture skipped or late would have cost.
    per_picture: f64,
    /// What it wanted over the last window judged, in busy workers
    /// (`None` before its first judgement): its demand in the fair level.
    wanted: Option<f64>,
    /// While throttled: worker seconds the session may still spend. It
    /// grows at the share's rate and each picture run takes its time from it;
    /// a picture whose turn comes while it is not positive is skipped.
    budget: f64,
    budget_at: Instant,
}

impl ShareMeter {
    /// The meter of a session sending `fps` pictures a second.
    pub(crate) fn new(now: Instant, fps: f64) -> ShareMeter {
        ShareMeter {
            state: State::Within,
            window_start: now,
            judged: false,
            warm: false,
            held: Duration::ZERO,
            ran: 0,
            skipped: 0,
            late: 0,
            fps: if fps.is_finite() && fps > 0.0 {
                fps
            } else {
                30.0
            },
            arrived: 0,
            carried: 0.0,
            strikes: 0,
            clean: 0,
            over_since: None,
            per_picture: 0.0,
            wanted: None,
            budget: 0.0,
            budget_at: now,
        }
    }

    /// Busy workers it wanted over the last window judged (`None`
    /// before its first judgement): what it asks of the workers, whatever
    /// it got, for the fair level ([`fair_level`]).
    pub(crate) fn wanted(&self) -> Option<f64> {
        self.wanted
    }

    /// Whether the session is throttled (its pictures run only within
    /// its share).
    pub(crate) fn throttled(&self) -> bool {
        self.state == State::Throttled
    }

    /// Whether the session may run a picture at `now`; false means skip
    /// it (and count it, with [`ShareMeter::skipped`]). A session within
    /// its share always may.
    pub(crate) fn may_run(&mut self, now: Instant, share: f64, policy: &FairShare) -> bool {
        if !self.throttled() {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.budget_at).as_secs_f64();
        self.budget_at = now;
        // Unused budget is kept for a quarter window at most: a session
        // that waited must not then take a whole window's worth at once.
        let cap = share * policy.window.as_secs_f64() / 4.0;
        self.budget = (self.budget + share * elapsed).min(cap);
        self.budget > 0.0
    }

    /// A picture ran until `now`, costing `cpu` of CPU time and holding
    /// its worker for `held`. The session is judged, and once throttled
    /// spends its budget, in worker time (the larger of the two): that is
    /// what the others wait for.
    pub(crate) fn ran(
        &mut self,
        now: Instant,
        cpu: Duration,
        held: Duration,
        share: f64,
        policy: &FairShare,
    ) -> Option<Step> {
        if self.throttled() {
            self.budget -= held.max(cpu).as_secs_f64();
        }
        if !std::mem::replace(&mut self.warm, true) {
            // A fresh instance's first picture is its dearest: not a
            // trend. The first window starts after it.
            self.window_start = now;
            return None;
        }
        self.held += held.max(cpu);
        self.ran += 1;
        self.roll(now, share, policy)
    }

    /// A picture was skipped at `now` because the session was over its
    /// share.
    pub(crate) fn skipped(&mut self, now: Instant, share: f64, policy: &FairShare) -> Option<Step> {
        self.skipped += 1;
        self.roll(now, share, policy)
    }

    /// `count` pictures arrived for the session. They are what it wants,
    /// whatever becomes of them: a sender of dear pictures shows what it
    /// asks for by what it sends, before its pictures are late, while its
    /// first pictures hold the workers.
    pub(crate) fn arrived(&mut self, count: u64) {
        self.arrived = self.arrived.saturating_add(count);
    }

    /// `count` pictures were dropped as late at `now`. They were counted
    /// as they arrived; late, while throttled, they are strikes like
    /// skipped ones: a throttled session, waiting behind the others, shows
    /// what its share cannot carry by pictures that went late before their
    /// turn came rather than being skipped at it.
    pub(crate) fn late(
        &mut self,
        now: Instant,
        count: u64,
        share: f64,
        policy: &FairShare,
    ) -> Option<Step> {
        self.late += count;
        self.roll(now, share, policy)
    }

    /// Ends the window if it is over, judging it.
    fn roll(&mut self, now: Instant, share: f64, policy: &FairShare) -> Option<Step> {
        let elapsed = now.saturating_duration_since(self.window_start);
        let window = if self.judged {
            policy.window
        } else {
            policy.window / FIRST_WINDOW_PART
        };
        // Spent more than its share of a whole window already: whatever
        // the rest of the window brings, it is over.
        let spent_window = self.state == State::Within
            && self.held.as_secs_f64() > share * policy.window.as_secs_f64() * OVER_BY;
        if (elapsed < window && !spent_window) || elapsed.is_zero() {
            return None;
        }
        self.judged = true;
        let seconds = elapsed.as_secs_f64();
        let skipped = std::mem::take(&mut self.skipped) + std::mem::take(&mut self.late);
        let ran = std::mem::take(&mut self.ran);
        // What the pictures that arrived would cost, at the average of
        // those run: what the sender asks for, not what it got (with every
        // worker busy, sessions get about equal parts whatever they send).
        // Not what it ran: a session working off a burst runs more in one
        // window than it is sent in one, and that is no more demand.
        if ran > 0 {
            self.per_picture = self.held.as_secs_f64() / ran as f64;
        }
        let wanted = self.per_picture * self.paced_arrivals(seconds) / seconds;
        self.wanted = Some(wanted);
        self.held = Duration::ZERO;
        self.window_start = now;
        let shed_after = policy.shed_after.max(1);
        match self.state {
            // Past the share by a quarter: sessions of equal cost on busy
            // workers each get about the equal part, give or take a
            // picture in a window; that is not a session taking more.
            State::Within if wanted > share * OVER_BY => {
                self.state = State::Throttled;
                self.clean = 0;
                self.over_since.get_or_insert(now);
                // It starts with nothing in hand: it has just spent more.
                self.budget = 0.0;
                self.budget_at = now;
                Some(Step::Throttled {
                    used: wanted,
                    share,
                })
            }
            State::Within => {
                self.clean += 1;
                if self.clean >= shed_after {
                    self.strikes = 0;
                    self.over_since = None;
                }
                None
            }
            // A strike only while it wants more than its share: pictures
            // lost while it fits (others were shed and its share grew,
            // or the node is short of CPU) are not its doing. And a
            // strike whenever it still clearly wants more (by the quarter
            // that throttled it), lost pictures or not: where every
            // session is served at the fair level, the workers give a
            // throttled session about its share anyway, its budget never
            // runs out, and what it cannot carry shows only as late drops
            // once its queue overflows, a second or more later.
            State::Throttled if wanted > share * OVER_BY || (skipped > 0 && wanted > share) => {
                self.strikes += 1;
                if self.strikes >= shed_after {
                    let since = self.over_since.unwrap_or(now);
                    return Some(Step::Shed {
                        used: wanted,
                        share,
                        over_for: now.saturating_duration_since(since) + policy.window,
                    });
                }
                Some(Step::StillOver {
                    used: wanted,
                    share,
                    skipped,
                })
            }
            // Nothing lost, and clearly within its share (the sender
            // slowed down): back to normal.
            State::Throttled if ran > 0 && wanted * OVER_BY <= share => {
                self.state = State::Within;
                Some(Step::Recovered)
            }
            State::Throttled => None,
        }
    }

    /// The pictures that count in a window of `seconds`: those that
    /// arrived in it and those carried from before, at most its frame rate
    /// over the window; what is left is carried, up to [`BURST_SPAN`] of
    /// pictures, and what is past that counts now.
    fn paced_arrivals(&mut self, seconds: f64) -> f64 {
        let arrived = std::mem::take(&mut self.arrived) as f64 + self.carried;
        let at_pace = arrived.min(self.fps * seconds);
        let left = arrived - at_pace;
        self.carried = left.min(self.fps * BURST_SPAN.as_secs_f64());
        at_pace + (left - self.carried)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feeds one picture every `every` costing `cost` from `*now` for
    /// `count` pictures; returns the steps and how many were skipped.
    fn feed(
        meter: &mut ShareMeter,
        now: &mut Instant,
        count: u32,
        every: Duration,
        cost: Duration,
        share: f64,
        policy: &FairShare,
    ) -> (Vec<Step>, u32) {
        let mut steps = Vec::new();
        let mut skipped = 0;
        for _ in 0..count {
            *now += every;
            meter.arrived(1);
            let step = if meter.may_run(*now, share, policy) {
                meter.ran(*now, cost, cost, share, policy)
            } else {
                skipped += 1;
                meter.skipped(*now, share, policy)
            };
            steps.extend(step);
        }
        (steps, skipped)
    }

    #[test]
    fn the_share_is_the_fair_level_or_the_admitted_cost_with_a_margin() {
        let policy = FairShare::default();
        assert_eq!(policy.share(0.5, 0.1, 1.0), 0.5);
        assert_eq!(policy.share(0.5, 0.4, 1.0), 0.8);
        // The margin only from room nobody was admitted at.
        assert!((policy.share(0.5, 0.4, 0.1) - 0.5).abs() < 1e-9);
        assert_eq!(policy.share(0.2, 0.4, -3.0), 0.4);
    }

    #[test]
    fn the_fair_level_gives_what_light_sessions_leave_to_the_others() {
        // Four sessions that all want more than an equal part: the equal
        // part.
        assert_eq!(fair_level(2.0, &mut [1.0, 3.0, 2.0, 0.9]), 0.5);
        // A healthy call (0.79) beside four senders the pipeline refuses
        // at once (0.02 each): it may use what they leave.
        let level = fair_level(2.0, &mut [0.02, 0.79, 0.02, 0.02, 0.02]);
        assert!(level >= 0.79 * 1.25, "{level}");
        // Two light sessions, a healthy one and two hostile ones: what the
        // three first leave is split between the two others.
        let level = fair_level(2.0, &mut [0.1, 0.1, 0.5, 2.0, 2.0]);
        assert!((level - 1.3 / 2.0).abs() < 1e-9, "{level}");
        // A session's own demand left out (unbounded): the level it may
        // use beside the others.
        assert_eq!(fair_level(2.0, &mut [0.3, f64::INFINITY, 0.2]), 1.5);
        // Room for everyone: nobody is held.
        assert_eq!(fair_level(2.0, &mut [0.3, 0.4, 0.5]), 2.0);
        assert_eq!(fair_level(2.0, &mut []), 2.0);
        // Never below the equal part.
        for demands in [[5.0, 0.0, 1.0], [0.7, 0.7, 0.7], [0.0, 0.0, 9.0]] {
            assert!(fair_level(2.0, &mut demands.clone()) >= 2.0 / 3.0);
        }
    }

    #[test]
    fn a_session_within_its_share_is_never_touched() {
        let policy = FairShare::default();
        let mut now = Instant::now();
        let mut meter = ShareMeter::new(now, 30.0);
        // 30 pictures a second at 15 ms: 0.45 of a worker, share 0.5;
        // one dear keyframe a second (60 ms) included.
        for _ in 0..10 {
            let (steps, skipped) = feed(&mut meter, &mut now, 1, 33 * MS, 60 * MS, 0.5, &policy);
            assert_eq!((steps, skipped), (vec![], 0));
            let (steps, skipped) = feed(&mut meter, &mut now, 29, 33 * MS, 13 * MS, 0.5, &policy);
            assert_eq!((steps, skipped), (vec![], 0));
        }
        assert!(!meter.throttled());
    }

    #[test]
    fn a_session_over_its_share_is_throttled_then_shed() {
        let policy = FairShare::default();
        let mut now = Instant::now();
        let mut meter = ShareMeter::new(now, 30.0);
        // All-keyframe maximal pictures: 70 ms each, 30 a second, share
        // 0.67 (2 workers, 3 sessions). A session runs on one worker at
        // most, so it gets through about 14 a second when not held.
        let share = 2.0 / 3.0;
        // Judged a quarter window after its first picture (left out).
        let (steps, skipped) = feed(&mut meter, &mut now, 5, 70 * MS, 70 * MS, share, &policy);
        assert_eq!(
            skipped, 0,
            "nothing is held back before the first judgement"
        );
        assert!(
            matches!(steps.as_slice(), [Step::Throttled { used, .. }] if *used > 0.9),
            "{steps:?}"
        );
        assert!(meter.throttled());
        // Throttled: it runs about share / cost pictures a second (9.5),
        // the rest are skipped.
        let (steps, skipped) = feed(&mut meter, &mut now, 31, 33 * MS, 70 * MS, share, &policy);
        assert!((19..=23).contains(&skipped), "{skipped} skipped");
        assert!(
            matches!(steps.as_slice(), [Step::StillOver { used, skipped, .. }] if *used > 1.5 && *skipped > 0),
            "{steps:?}"
        );
        let (steps, _) = feed(&mut meter, &mut now, 31, 33 * MS, 70 * MS, share, &policy);
        assert!(matches!(steps.as_slice(), [Step::StillOver { .. }]));
        let (steps, _) = feed(&mut meter, &mut now, 31, 33 * MS, 70 * MS, share, &policy);
        assert!(
            matches!(steps.as_slice(), [Step::Shed { over_for, .. }] if *over_for >= 3 * policy.window),
            "{steps:?}"
        );
    }

    #[test]
    fn a_throttled_session_that_slows_down_recovers() {
        let policy = FairShare::default();
        let mut now = Instant::now();
        let mut meter = ShareMeter::new(now, 30.0);
        let (steps, _) = feed(&mut meter, &mut now, 9, 33 * MS, 30 * MS, 0.5, &policy);
        assert!(
            matches!(steps.as_slice(), [Step::Throttled { .. }]),
            "{steps:?}"
        );
        // Asked to slow down, it sends 10 a second at 30 ms: 0.3 of a
        // worker, within its share: nothing is skipped and a window later
        // it is back to normal.
        let (steps, skipped) = feed(&mut meter, &mut now, 10, 100 * MS, 30 * MS, 0.5, &policy);
        assert_eq!(skipped, 0);
        assert_eq!(steps, vec![Step::Recovered]);
        assert!(!meter.throttled());
        // And it is judged afresh: within its share, nothing happens.
        let (steps, skipped) = feed(&mut meter, &mut now, 30, 100 * MS, 30 * MS, 0.5, &policy);
        assert_eq!((steps, skipped), (vec![], 0));
    }

    #[test]
    fn sessions_on_busy_workers_that_get_their_equal_part_are_not_over() {
        let policy = FairShare::default();
        let mut now = Instant::now();
        let mut meter = ShareMeter::new(now, 30.0);
        // 20 sessions on 2 workers, each always with a picture waiting:
        // about 20 pictures of 5 ms a second each, one window with two
        // more than its part.
        for pictures in [20, 22, 20, 19] {
            let every = Duration::from_millis(1000 / pictures) + MS;
            let (steps, skipped) = feed(
                &mut meter,
                &mut now,
                pictures as u32,
                every,
                5 * MS,
                0.1,
                &policy,
            );
            assert_eq!((steps, skipped), (vec![], 0));
        }
        // Pictures that went late count in what it wants: 40 arrived, 2
        // ran, 38 went late.
        let mut steps = Vec::new();
        meter.arrived(40);
        now += 200 * MS;
        steps.extend(meter.ran(now, 5 * MS, 5 * MS, 0.1, &policy));
        steps.extend(meter.late(now, 38, 0.1, &policy));
        now += 1000 * MS;
        steps.extend(meter.ran(now, 5 * MS, 5 * MS, 0.1, &policy));
        assert!(
            matches!(steps.as_slice(), [Step::Throttled { used, .. }] if *used > 0.1 * 1.25),
            "{steps:?}"
        );
    }

    #[test]
    fn late_pictures_of_a_throttled_session_count_as_over_its_share() {
        let policy = FairShare::default();
        let mut now = Instant::now();
        let mut meter = ShareMeter::new(now, 30.0);
        let (steps, _) = feed(&mut meter, &mut now, 31, 33 * MS, 45 * MS, 0.4, &policy);
        assert!(matches!(steps.as_slice(), [Step::Throttled { .. }]));
        // Throttled, it gets a turn only every 150 ms (it waits behind the
        // others), when its budget has grown back: nothing is skipped at
        // its turns, but the pictures between them went late.
        let mut steps = Vec::new();
        for _ in 0..3 {
            for _ in 0..7 {
                now += 150 * MS;
                meter.arrived(4);
                assert!(meter.may_run(now, 0.4, &policy));
                steps.extend(meter.ran(now, 45 * MS, 45 * MS, 0.4, &policy));
                steps.extend(meter.late(now, 3, 0.4, &policy));
            }
        }
        assert!(
            matches!(
                steps.as_slice(),
                [
                    Step::StillOver { .. },
                    Step::StillOver { .. },
                    Step::Shed { .. }
                ]
            ),
            "{steps:?}"
        );
    }

    #[test]
    fn a_session_the_workers_serve_at_its_share_is_shed_while_it_wants_far_more() {
        let policy = FairShare::default();
        let mut now = Instant::now();
        let mut meter = ShareMeter::new(now, 30.0);
        // Four such senders on two workers: each gets a turn every 90 ms
        // for its 45 ms picture, half a worker, its fair level, while 30
        // pictures a second arrive (1.35 workers wanted). Its budget
        // never runs out and nothing is late within these windows: its
        // queue only grows. It is shed all the same.
        let mut steps = Vec::new();
        for _ in 0..60 {
            now += 90 * MS;
            meter.arrived(3);
            assert!(meter.may_run(now, 0.5, &policy), "the budget binds");
            steps.extend(meter.ran(now, 45 * MS, 45 * MS, 0.5, &policy));
        }
        assert!(
            matches!(
                steps.as_slice(),
                [
                    Step::Throttled { .. },
                    Step::StillOver { skipped: 0, .. },
                    Step::StillOver { skipped: 0, .. },
                    Step::Shed { .. },
                    ..
                ]
            ),
            "{steps:?}"
        );
    }

    #[test]
    fn a_throttled_session_runs_within_its_share() {
        let policy = FairShare::default();
        let mut now = Instant::now();
        let mut meter = ShareMeter::new(now, 30.0);
        let share = 0.4;
        feed(&mut meter, &mut now, 31, 33 * MS, 45 * MS, share, &policy);
        assert!(meter.throttled());
        // Over 3 windows (before it is shed), what it ran stays within
        // its share: 0.4 s of worker time a second, give or take.
        let mut cpu = Duration::ZERO;
        for _ in 0..89 {
            now += 33 * MS;
            meter.arrived(1);
            if meter.may_run(now, share, &policy) {
                cpu += 45 * MS;
                meter.ran(now, 45 * MS, 45 * MS, share, &policy);
            } else {
                meter.skipped(now, share, &policy);
            }
        }
        let used = cpu.as_secs_f64() / (89.0 * 0.033);
        assert!(used <= share + 0.05, "{used}");
        assert!(used >= share - 0.1, "{used}");
    }

    /// Runs `count` pictures held back and delivered at once at `*now`,
    /// back to back at `cost` each; returns the steps.
    fn burst(
        meter: &mut ShareMeter,
        now: &mut Instant,
        count: u32,
        cost: Duration,
        share: f64,
        policy: &FairShare,
    ) -> Vec<Step> {
        meter.arrived(u64::from(count));
        let mut steps = Vec::new();
        for _ in 0..count {
            *now += cost;
            assert!(meter.may_run(*now, share, policy));
            steps.extend(meter.ran(*now, cost, cost, share, policy));
        }
        steps
    }

    #[test]
    fn a_healthy_session_that_receives_bursts_is_not_over_its_share() {
        let policy = FairShare::default();
        let mut now = Instant::now();
        let mut meter = ShareMeter::new(now, 30.0);
        // 15 ms pictures at 30 fps: 0.45 of a worker, share 0.5 (4
        // sessions on 2 workers). Every second, 300 to 500 ms of its
        // pictures are held back by the network and delivered at once,
        // and it runs them back to back, a worker's whole time for up to
        // 225 ms.
        let share = 0.5;
        let mut steps = Vec::new();
        for held_back in [9u32, 15, 12, 15, 9, 15, 12, 15] {
            let (paced, _) = feed(
                &mut meter,
                &mut now,
                30 - held_back,
                33 * MS,
                15 * MS,
                share,
                &policy,
            );
            steps.extend(paced);
            now += 18 * MS * held_back;
            steps.extend(burst(
                &mut meter,
                &mut now,
                held_back,
                15 * MS,
                share,
                &policy,
            ));
        }
        assert_eq!(steps, vec![], "a burst is no trend");
        assert!(!meter.throttled());
    }

    #[test]
    fn a_sender_that_keeps_sending_faster_than_its_rate_counts_in_full() {
        let policy = FairShare::default();
        let mut now = Instant::now();
        // Admitted at 30 fps, it sends 90 pictures a second of 10 ms: 0.9
        // of a worker against a share of 0.5. What is past its rate is
        // carried for a second's worth of pictures, then counts at once.
        let mut meter = ShareMeter::new(now, 30.0);
        let (steps, _) = feed(&mut meter, &mut now, 180, 11 * MS, 10 * MS, 0.5, &policy);
        assert!(
            matches!(steps.first(), Some(Step::Throttled { used, .. }) if *used > 0.6),
            "{steps:?}"
        );
    }
}
