//! What the runtime carries, measured, and whether one more session fits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::share::{FairShare, ShareMeter, Step, fair_level};
use crate::error::Busy;

/// Weight of a new sample in a cost average: about the last 30 pictures
/// (one second at 30 fps) count, so a scene change shows within a second.
const COST_SMOOTHING: f64 = 1.0 / 30.0;

/// Open sessions and the measured cost of their pipelines.
pub(crate) struct Admission {
    workers: usize,
    max_sessions: usize,
    max_load: f64,
    /// How sessions are held to their share as they run; `None`: not.
    fair_share: Option<FairShare>,
    loads: Mutex<Loads>,
}

#[derive(Default)]
struct Loads {
    next_key: u64,
    sessions: HashMap<u64, SessionLoad>,
    /// CPU seconds per picture, by pipeline id, learnt from every session
    /// of the pipeline and kept after they close.
    pipeline_cost: HashMap<u64, f64>,
    /// Busy workers the open sessions were admitted at, together.
    admitted: f64,
    /// Each session's fair level ([`Loads::fair_level`]) as last
    /// computed; emptied once a session opened, closed or had a window
    /// judged since.
    levels: HashMap<u64, f64>,
}

struct SessionLoad {
    pipeline: u64,
    fps: f64,
    /// Pictures measured so far; the first [`WARM_UP_PICTURES`] are not
    /// counted in the cost (a fresh instance's first IDR picture costs
    /// several times a steady one).
    pictures: u64,
    /// Busy workers it was admitted at: its pipeline's cost then times
    /// its rate (0 when the pipeline was not measured yet). Its share is
    /// judged against this, not the pipeline's cost now, which the session
    /// itself may have raised.
    admitted: f64,
    /// Its use of the workers as it runs, against its share.
    meter: ShareMeter,
    /// Workers its chain may be split across (1: it runs on one at a time;
    /// see [`Admission::may_split`]).
    lanes: usize,
    /// Its own CPU seconds per picture past the warm-up, smoothed as the
    /// pipeline's are (`None`: not measured yet). Its load counts at this,
    /// not at its pipeline's cost, and it teaches the pipeline's cost only
    /// while it is within [`FairShare::margin`] of it.
    cost: Option<f64>,
}

impl SessionLoad {
    /// Busy workers it is expected to take: its own cost (else its
    /// pipeline's) times its rate; while throttled, at most what it was
    /// admitted at with the margin: it runs past that only when no session
    /// within its share waits, so it does not take room from them.
    fn load(&self, pipeline_cost: Option<f64>, fair_share: Option<&FairShare>) -> f64 {
        let load = self.cost.or(pipeline_cost).unwrap_or(0.0) * self.fps;
        match fair_share {
            Some(policy) if self.meter.throttled() => load.min(self.admitted * policy.margin),
            _ => load,
        }
    }
}

/// A session's first pictures, left out of its pipeline's cost.
const WARM_UP_PICTURES: u64 = 5;

impl Admission {
    pub(crate) fn new(
        workers: usize,
        max_sessions: usize,
        max_load: f64,
        fair_share: Option<FairShare>,
    ) -> Admission {
        Admission {
            workers,
            max_sessions,
            max_load: max_load.clamp(0.05, 1.0),
            fair_share,
            loads: Mutex::default(),
        }
    }

    /// Admits a session of pipeline `pipeline` at `fps` pictures a second,
    /// or says why not. Returns the session's key for later reports.
    ///
    /// A pipeline not measured yet is judged by the dearest pipeline
    /// measured so far; with none measured, it is admitted while the load
    /// is under the limit, and its pictures give its cost.
    pub(crate) fn admit(&self, pipeline: u64, fps: f64) -> Result<u64, Busy> {
        self.admit_with(pipeline, fps, true)
    }

    /// [`Admission::admit`] without the load check (the session cap still
    /// holds): for measurements and operators who know the load better.
    pub(crate) fn admit_past_load(&self, pipeline: u64, fps: f64) -> Result<u64, Busy> {
        self.admit_with(pipeline, fps, false)
    }

    fn admit_with(&self, pipeline: u64, fps: f64, check_load: bool) -> Result<u64, Busy> {
        let mut loads = self.lock();
        let open = loads.sessions.len();
        if open >= self.max_sessions {
            return Err(Busy::Sessions {
                open,
                max: self.max_sessions,
            });
        }
        let limit = self.max_load * self.workers as f64;
        // A pipeline not measured yet is judged by the dearest one known
        // (with none known, nothing to go on: admitted while there is room).
        let cost = loads
            .pipeline_cost
            .get(&pipeline)
            .copied()
            .or_else(|| loads.pipeline_cost.values().copied().reduce(f64::max));
        let load = loads.load(self.fair_share.as_ref());
        let needed = cost.unwrap_or(0.0) * fps;
        if check_load && (load + needed > limit || (cost.is_none() && load >= limit)) {
            return Err(Busy::Load {
                load,
                needed,
                limit,
                workers: self.workers,
            });
        }
        loads.next_key += 1;
        loads.levels.clear();
        loads.admitted += needed;
        let key = loads.next_key;
        loads.sessions.insert(
            key,
            SessionLoad {
                pipeline,
                fps,
                pictures: 0,
                admitted: needed,
                meter: ShareMeter::new(Instant::now(), fps),
                lanes: 1,
                cost: None,
            },
        );
        Ok(key)
    }

    /// Session `key` now runs the pipeline with fingerprint `pipeline`
    /// (a stage was swapped): its cost is learnt under that key from now
    /// on, after a new warm-up (a fresh instance's first pictures cost
    /// more). Until the new pipeline is measured, it counts at the old
    /// one's cost, so the session's load does not vanish from admission.
    pub(crate) fn repipeline(&self, key: u64, pipeline: u64) {
        let mut loads = self.lock();
        let Some(session) = loads.sessions.get_mut(&key) else {
            return;
        };
        let old = std::mem::replace(&mut session.pipeline, pipeline);
        session.pictures = 0;
        // Its load counts at the old pipeline's cost until the new one is
        // measured.
        session.cost = None;
        if let Some(cost) = loads.pipeline_cost.get(&old).copied() {
            loads.pipeline_cost.entry(pipeline).or_insert(cost);
        }
    }

    /// Session `key`'s chain may be split across `lanes` workers
    /// ([`super::LiveConfig::pipeline_above`]). Its share then counts the
    /// workers it may use: besides its part, whatever room the other
    /// sessions leave within the load limit, up to `lanes` workers. A
    /// session dearer than one worker on a node with room is what
    /// splitting is for, not a session taking more than its share; one
    /// that would take the others' room is still over it.
    pub(crate) fn may_split(&self, key: u64, lanes: usize) {
        if let Some(session) = self.lock().sessions.get_mut(&key) {
            session.lanes = lanes.max(1);
        }
    }

    /// Whether session `key` may run a picture at `now`: false when it is
    /// throttled and has spent its share (the picture is to be skipped
    /// and reported with [`Admission::skipped`]).
    pub(crate) fn may_run(&self, key: u64, now: Instant) -> bool {
        let Some(policy) = &self.fair_share else {
            return true;
        };
        let mut loads = self.lock();
        let Some(share) = self.share(policy, &mut loads, key) else {
            return true;
        };
        let Some(session) = loads.sessions.get_mut(&key) else {
            return true;
        };
        session.meter.may_run(now, share, policy)
    }

    /// Session `key`'s share of the workers now: the larger of the
    /// workers' max-min fair level among what the sessions want
    /// ([`fair_level`]) and what it was admitted at with the margin
    /// ([`FairShare::share`]); for a session that may be split, at least
    /// the room the others leave ([`Admission::may_split`]). Never more
    /// than the workers it may run on (its lanes): a session whole on one
    /// worker that wants more than a worker can never keep up, and, with
    /// the others wanting little, the fair level alone would let two such
    /// sessions hold both workers of a node, every picture of the others
    /// waiting behind theirs.
    fn share(&self, policy: &FairShare, loads: &mut Loads, key: u64) -> Option<f64> {
        let level = loads.fair_level(key, self.workers as f64);
        let session = loads.sessions.get(&key)?;
        let lanes = session.lanes.max(1) as f64;
        let unclaimed = self.max_load * self.workers as f64 - loads.admitted;
        let share = policy.share(level, session.admitted, unclaimed);
        if session.lanes <= 1 {
            return Some(share.min(lanes));
        }
        let room = self.max_load * self.workers as f64 - loads.load_beside(key, Some(policy));
        Some(share.max(room).min(lanes))
    }

    /// Session `key` skipped a picture at `now` because it was over its
    /// share; what the window's end (if this was it) changed.
    pub(crate) fn skipped(&self, key: u64, now: Instant) -> Option<Step> {
        let policy = self.fair_share.as_ref()?;
        let mut loads = self.lock();
        let share = self.share(policy, &mut loads, key)?;
        loads.judge(key, |meter| meter.skipped(now, share, policy))
    }

    /// `count` pictures arrived for session `key` (see
    /// [`ShareMeter::arrived`]).
    pub(crate) fn arrived(&self, key: u64, count: u64) {
        if self.fair_share.is_some()
            && count > 0
            && let Some(session) = self.lock().sessions.get_mut(&key)
        {
            session.meter.arrived(count);
        }
    }

    /// Session `key` dropped `count` pictures as late; what the window's
    /// end (if this was it) changed (see [`ShareMeter::late`]).
    pub(crate) fn late(&self, key: u64, count: u64, now: Instant) -> Option<Step> {
        let policy = self.fair_share.as_ref()?;
        let mut loads = self.lock();
        let share = self.share(policy, &mut loads, key)?;
        loads.judge(key, |meter| meter.late(now, count, share, policy))
    }

    /// Reports one picture of session `key`: the CPU time it took (its
    /// cost) and how long it held the worker (its use of its share),
    /// ending at `now`; returns what the window's end (if
    /// this was it) changed for the session's standing against its share.
    pub(crate) fn measured(
        &self,
        key: u64,
        cpu: Duration,
        held: Duration,
        now: Instant,
    ) -> Option<Step> {
        let mut loads = self.lock();
        let share = match &self.fair_share {
            Some(policy) => self.share(policy, &mut loads, key),
            None => None,
        };
        let step = match (&self.fair_share, share) {
            (Some(policy), Some(share)) => {
                loads.judge(key, |meter| meter.ran(now, cpu, held, share, policy))
            }
            _ => None,
        };
        let session = loads.sessions.get_mut(&key)?;
        session.pictures += 1;
        if session.pictures <= WARM_UP_PICTURES {
            return step;
        }
        let sample = cpu.as_secs_f64();
        let own = match session.cost {
            Some(cost) => cost + (sample - cost) * COST_SMOOTHING,
            None => sample,
        };
        session.cost = Some(own);
        let (pipeline, throttled) = (session.pipeline, session.meter.throttled());
        // What new sessions of the pipeline are admitted at is learnt from
        // its sessions in good standing only: not one over its share, nor
        // one whose own cost is past the margin over the pipeline's (a
        // publisher of maximal pictures into a cheap pipeline, before its
        // first judgement). One hostile sender would otherwise make the
        // node refuse the healthy calls of its pipeline as busy.
        let learnt = loads.pipeline_cost.get(&pipeline).copied();
        let outlier = match (&self.fair_share, learnt) {
            (Some(policy), Some(learnt)) => own > learnt * policy.margin,
            _ => false,
        };
        if throttled || outlier {
            return step;
        }
        loads
            .pipeline_cost
            .entry(pipeline)
            .and_modify(|cost| *cost += (sample - *cost) * COST_SMOOTHING)
            .or_insert(sample);
        step
    }

    /// The workers' time (1.0 = one worker busy all the time) left within
    /// the load limit beside every session but `key`: what `key` may use
    /// once its chain is split across workers. A session split where the
    /// others leave no room would only take their workers.
    pub(crate) fn room_beside(&self, key: u64) -> f64 {
        let loads = self.lock();
        self.max_load * self.workers as f64 - loads.load_beside(key, self.fair_share.as_ref())
    }

    /// The session is gone.
    pub(crate) fn close(&self, key: u64) {
        let mut loads = self.lock();
        if let Some(session) = loads.sessions.remove(&key) {
            loads.admitted = (loads.admitted - session.admitted).max(0.0);
        }
        loads.levels.clear();
    }

    /// Open sessions, and the load they put on the workers (1.0 = one
    /// worker busy all the time).
    pub(crate) fn report(&self) -> (usize, f64) {
        let loads = self.lock();
        (loads.sessions.len(), loads.load(self.fair_share.as_ref()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loads> {
        self.loads
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Loads {
    /// Expected busy workers: each session's own cost (else its
    /// pipeline's) times its rate ([`SessionLoad::load`]).
    fn load(&self, fair_share: Option<&FairShare>) -> f64 {
        self.sessions
            .values()
            .map(|session| {
                let cost = self.pipeline_cost.get(&session.pipeline).copied();
                session.load(cost, fair_share)
            })
            .sum()
    }

    /// Session `key`'s max-min fair level of `capacity` ([`fair_level`]):
    /// what it may use, whatever it wants itself, beside what the others
    /// want. Each other session wants what its last judged window asked
    /// of the workers, or before its first judgement what it is expected
    /// to take ([`SessionLoad::load`]). Its own demand is left out (taken
    /// as unbounded): a session wanting less than this level is within
    /// the level its own demand would give, and one wanting more is held
    /// to it, so a sender that raises its demand is judged against the
    /// same level before and after. Kept until a session opens or closes
    /// or a window of one is judged.
    fn fair_level(&mut self, key: u64, capacity: f64) -> f64 {
        if let Some(level) = self.levels.get(&key) {
            return *level;
        }
        let mut demands: Vec<f64> = self
            .sessions
            .iter()
            .map(|(other, session)| {
                if *other == key {
                    return f64::INFINITY;
                }
                session.meter.wanted().unwrap_or_else(|| {
                    let cost = self.pipeline_cost.get(&session.pipeline).copied();
                    session.load(cost, None)
                })
            })
            .collect();
        let level = fair_level(capacity, &mut demands);
        self.levels.insert(key, level);
        level
    }

    /// Runs `judge` on session `key`'s meter; a window it judged changes
    /// what the session wants, and so the fair level.
    fn judge(
        &mut self,
        key: u64,
        judge: impl FnOnce(&mut ShareMeter) -> Option<Step>,
    ) -> Option<Step> {
        let meter = &mut self.sessions.get_mut(&key)?.meter;
        let wanted = meter.wanted();
        let step = judge(meter);
        if meter.wanted() != wanted {
            self.levels.clear();
        }
        step
    }

    /// [`Loads::load`] of every session but `key`.
    fn load_beside(&self, key: u64, fair_share: Option<&FairShare>) -> f64 {
        self.sessions
            .iter()
            .filter(|(other, _)| **other != key)
            .map(|(_, session)| {
                let cost = self.pipeline_cost.get(&session.pipeline).copied();
                session.load(cost, fair_share)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_measured_load() {
        let admission = Admission::new(2, 100, 0.9, None);
        // Unmeasured: admitted.
        let first = admission.admit(7, 30.0).unwrap();
        admission.admit(7, 30.0).unwrap();
        // The warm-up pictures do not count.
        for _ in 0..WARM_UP_PICTURES {
            admission.measured(
                first,
                Duration::from_millis(500),
                Duration::from_millis(500),
                Instant::now(),
            );
        }
        assert_eq!(admission.report().1, 0.0);
        // 10 ms a picture at 30 fps: 0.3 of a worker each; 1.8 allows 6.
        admission.measured(
            first,
            Duration::from_millis(10),
            Duration::from_millis(10),
            Instant::now(),
        );
        for _ in 0..4 {
            admission.admit(7, 30.0).unwrap();
        }
        let refused = admission.admit(7, 30.0).unwrap_err();
        assert!(refused.to_string().starts_with("busy: "), "{refused}");
        // Closing one makes room again.
        admission.close(first);
        admission.admit(7, 30.0).unwrap();
        assert_eq!(admission.report().0, 6);
        // Another, unmeasured pipeline is judged by the dearest known.
        assert!(matches!(admission.admit(8, 30.0), Err(Busy::Load { .. })));
    }

    #[test]
    fn only_the_session_over_its_share_is_throttled_and_it_teaches_no_cost() {
        let policy = FairShare::default();
        let admission = Admission::new(2, 100, 0.95, Some(policy.clone()));
        let healthy = admission.admit(1, 30.0).unwrap();
        let hostile = [
            admission.admit(1, 30.0).unwrap(),
            admission.admit(1, 30.0).unwrap(),
        ];
        let ms = Duration::from_millis;
        let start = Instant::now();
        let mut steps = Vec::new();
        // 1.1 s: the healthy session runs 10 ms pictures at 30 fps (0.3 of
        // a worker); the two others hold a worker each all the time with
        // 70 ms pictures.
        for tick in 1..=33u32 {
            let now = start + ms(33) * tick;
            for key in [healthy, hostile[0], hostile[1]] {
                admission.arrived(key, 1);
            }
            assert!(admission.may_run(healthy, now));
            assert_eq!(admission.measured(healthy, ms(10), ms(10), now), None);
            if tick % 2 == 0 {
                // Judged a quarter window after their first picture and
                // throttled: from then on some of their turns are skipped.
                for key in hostile {
                    if admission.may_run(key, now) {
                        steps.extend(admission.measured(key, ms(66), ms(66), now));
                    } else {
                        steps.extend(admission.skipped(key, now));
                    }
                }
            }
        }
        assert_eq!(steps.len(), 2, "{steps:?}");
        // Their share: the fair level beside the healthy call's 0.3 and
        // the other's demand, at most the one worker each runs on. The
        // first judged sees the other one still expected at the
        // pipeline's 0.3 (its own cost not measured yet), a level of 1.4,
        // and may use its one worker; the second sees the first's 1.98,
        // and the two split what the healthy call leaves.
        let shares: Vec<f64> = steps
            .iter()
            .map(|step| match step {
                Step::Throttled { used, share } if *used > 0.9 => *share,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(
            (shares[0] - 1.0).abs() < 1e-9 && (shares[1] - 1.7 / 2.0).abs() < 1e-9,
            "{steps:?}"
        );
        // Once throttled, their pictures no longer teach the pipeline's
        // cost, and their budget is spent by one picture; the healthy
        // session's is untouched.
        let cost = admission.lock().pipeline_cost.get(&1).copied().unwrap();
        let now = start + ms(1100);
        for key in hostile {
            admission.measured(key, ms(70), ms(70), now);
            assert!(!admission.may_run(key, now + ms(1)), "spent");
        }
        assert_eq!(admission.lock().pipeline_cost.get(&1).copied(), Some(cost));
        assert!(admission.may_run(healthy, now + ms(1)));
    }

    #[test]
    fn a_call_beside_senders_whose_pictures_cost_nothing_may_use_what_they_leave() {
        // The defect the hostile-publishers measurement found: four
        // senders of pictures the pipeline refuses at once (half a
        // millisecond each) beside a healthy call that holds its worker
        // 26 ms a picture (0.79 of a worker at 30 fps) on a loaded node.
        // An equal part (2 workers / 5 sessions) held the healthy call to
        // 0.4 and shed it.
        let admission = Admission::new(2, 100, 0.95, Some(FairShare::default()));
        let ms = Duration::from_millis;
        let start = Instant::now();
        let healthy = admission.admit(1, 30.0).unwrap();
        let senders: Vec<u64> = (0..4).map(|_| admission.admit(1, 30.0).unwrap()).collect();
        let mut steps = Vec::new();
        for tick in 1..=90u32 {
            let now = start + ms(33) * tick;
            for key in std::iter::once(healthy).chain(senders.iter().copied()) {
                admission.arrived(key, 1);
            }
            for &key in &senders {
                assert!(admission.may_run(key, now));
                steps.extend(admission.measured(key, ms(0), Duration::from_micros(500), now));
            }
            assert!(admission.may_run(healthy, now), "the healthy call is held");
            steps.extend(admission.measured(healthy, ms(20), ms(26), now));
        }
        assert_eq!(steps, vec![], "nobody is over its share");
    }

    #[test]
    fn sessions_opened_past_admission_get_no_margin_over_what_they_were_admitted_at() {
        // The hostile-publishers measurement: the node learnt a healthy
        // 1080p call's cost (30.6 ms, 0.92 of a worker at 30 fps), then a
        // healthy call and four publishers of all-IDR 4096x2304 pictures
        // (70 ms each, 2.1 workers wanted) in the same pipeline were
        // opened past admission, each chain one that may be split across
        // both workers. With the margin (2x what they were admitted at)
        // the publishers could each use 1.84 workers and were never held.
        let admission = Admission::new(2, 100, 0.95, Some(FairShare::default()));
        let ms = Duration::from_millis;
        let start = Instant::now();
        let teacher = admission.admit(1, 30.0).unwrap();
        for tick in 1..=40u64 {
            admission.measured(
                teacher,
                Duration::from_micros(30_600),
                ms(30),
                start + ms(tick),
            );
        }
        admission.close(teacher);
        let healthy = admission.admit(1, 30.0).unwrap();
        let publishers: Vec<u64> = (0..4)
            .map(|_| admission.admit_past_load(1, 30.0).unwrap())
            .collect();
        // Their chains may be split across both workers (pipelining).
        for &key in publishers.iter().chain([&healthy]) {
            admission.may_split(key, 2);
        }
        let mut steps = Vec::new();
        for tick in 1..=45u32 {
            let now = start + ms(100) + ms(33) * tick;
            admission.arrived(healthy, 1);
            steps.extend(
                admission
                    .measured(healthy, ms(26), ms(26), now)
                    .map(|step| (healthy, step)),
            );
            for &key in &publishers {
                admission.arrived(key, 1);
                if admission.may_run(key, now) {
                    steps.extend(
                        admission
                            .measured(key, ms(70), ms(70), now)
                            .map(|step| (key, step)),
                    );
                } else {
                    steps.extend(admission.skipped(key, now).map(|step| (key, step)));
                }
            }
        }
        assert!(
            steps.iter().all(|(key, _)| *key != healthy),
            "the healthy call is touched: {steps:?}"
        );
        for key in publishers {
            assert!(
                steps
                    .iter()
                    .any(|(of, step)| *of == key && matches!(step, Step::Throttled { .. })),
                "publisher {key} is not held: {steps:?}"
            );
        }
    }

    #[test]
    fn a_hostile_session_does_not_raise_what_its_pipelines_calls_are_admitted_at() {
        let policy = FairShare::default();
        let admission = Admission::new(2, 100, 0.9, Some(policy));
        let ms = Duration::from_millis;
        let start = Instant::now();
        let healthy = admission.admit(1, 30.0).unwrap();
        let hostile = admission.admit(1, 30.0).unwrap();
        // The healthy call teaches 10 ms a picture (0.3 of a worker at
        // 30 fps); the hostile one, in the same pipeline, 100 ms pictures (3 workers wanted, past the 1.7 the healthy call leaves)
        // from its sixth on, before any window judged it.
        for tick in 1..=12u64 {
            admission.measured(healthy, ms(10), ms(10), start + ms(tick));
        }
        for tick in 1..=12u64 {
            admission.arrived(hostile, 1);
            assert_eq!(
                admission.measured(hostile, ms(100), ms(100), start + ms(20 + tick)),
                None,
                "not judged yet"
            );
        }
        let learnt = admission.lock().pipeline_cost.get(&1).copied().unwrap();
        assert!((learnt - 0.010).abs() < 1e-9, "{learnt}");
        // Its own load counts (3 workers: the node is busy while it
        // runs unjudged), so a new call waits...
        assert!(matches!(admission.admit(1, 30.0), Err(Busy::Load { .. })));
        // ...until its first judgement throttles it: it then counts at
        // what it was admitted at (the cost of its pipeline when it came,
        // unmeasured: nothing) and a new call of the pipeline is admitted
        // at the healthy 0.3 of a worker.
        admission.arrived(hostile, 1);
        let step = admission.measured(hostile, ms(100), ms(100), start + ms(300));
        assert!(matches!(step, Some(Step::Throttled { .. })), "{step:?}");
        let (_, load) = admission.report();
        assert!((load - 0.3).abs() < 1e-9, "{load}");
        let admitted = admission.admit(1, 30.0).unwrap();
        assert!(
            (admission.lock().sessions[&admitted].admitted - 0.3).abs() < 1e-9,
            "admitted at the healthy cost"
        );
    }

    #[test]
    fn the_room_beside_a_session_leaves_out_its_own_load() {
        let admission = Admission::new(2, 100, 0.9, None);
        let keys: Vec<u64> = (0..2).map(|_| admission.admit(7, 30.0).unwrap()).collect();
        for _ in 0..=WARM_UP_PICTURES {
            admission.measured(
                keys[0],
                Duration::from_millis(10),
                Duration::ZERO,
                Instant::now(),
            );
        }
        // Two sessions at 0.3 of a worker each, of 1.8 allowed.
        assert!((admission.room_beside(keys[0]) - 1.5).abs() < 1e-9);
        admission.close(keys[1]);
        assert!((admission.room_beside(keys[0]) - 1.8).abs() < 1e-9);
    }

    #[test]
    fn refuses_past_the_session_cap() {
        let admission = Admission::new(1, 1, 0.9, None);
        admission.admit(1, 30.0).unwrap();
        assert_eq!(
            admission.admit(2, 30.0),
            Err(Busy::Sessions { open: 1, max: 1 })
        );
    }

    #[test]
    fn a_swapped_session_keeps_its_load_under_the_new_key() {
        let admission = Admission::new(1, 100, 0.9, None);
        let key = admission.admit(7, 30.0).unwrap();
        for _ in 0..=WARM_UP_PICTURES {
            admission.measured(
                key,
                Duration::from_millis(10),
                Duration::from_millis(10),
                Instant::now(),
            );
        }
        let before = admission.report().1;
        assert!((before - 0.3).abs() < 1e-9, "{before}");
        admission.repipeline(key, 9);
        assert!((admission.report().1 - before).abs() < 1e-9);
        // The new pipeline's own pictures, past a new warm-up, set its cost.
        for _ in 0..WARM_UP_PICTURES {
            admission.measured(
                key,
                Duration::from_millis(900),
                Duration::from_millis(900),
                Instant::now(),
            );
        }
        assert!((admission.report().1 - before).abs() < 1e-9);
        admission.measured(
            key,
            Duration::from_millis(20),
            Duration::from_millis(20),
            Instant::now(),
        );
        assert!(admission.report().1 > before);
    }
}
